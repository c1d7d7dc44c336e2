//! Tolerant CSV/TSV reading shared by the table-based formats.
//!
//! Real catalogue files are messy: Kaggle's Myntra `styles.csv` has trailing empty
//! columns and unquoted commas inside product names; H&M's `articles.csv` has quoted
//! fields with commas and newlines. Rows are repaired where the intent is clear and
//! reported (never silently dropped) where it is not.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::entry::{Problem, ProblemKind};
use crate::error::CatalogError;

pub(crate) struct Table {
    pub path: PathBuf,
    pub header: Vec<String>,
    reader: csv::Reader<File>,
}

/// One data row, with exactly `header.len()` fields.
pub(crate) struct Row {
    /// 1-based line number where the record starts.
    pub line: u64,
    pub fields: Vec<String>,
}

impl Row {
    pub fn get(&self, column: usize) -> &str {
        self.fields[column].trim()
    }
}

impl Table {
    pub fn open(path: &Path, delimiter: u8) -> Result<Self, CatalogError> {
        let file = File::open(path).map_err(|e| CatalogError::io(path, e))?;
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .has_headers(true)
            .from_reader(file);
        let mut header: Vec<String> = reader
            .byte_headers()
            .map_err(|e| csv_error(path, e))?
            .iter()
            .map(|f| String::from_utf8_lossy(f).trim().to_string())
            .collect();
        if let Some(first) = header.first_mut() {
            // A BOM left by spreadsheet exports would otherwise become part of the first name.
            *first = first.trim_start_matches('\u{feff}').to_string();
        }
        while header.last().is_some_and(|h| h.is_empty()) {
            header.pop();
        }
        if header.is_empty() {
            return Err(CatalogError::BadFile {
                path: path.to_path_buf(),
                reason: "empty header line".into(),
            });
        }
        Ok(Table {
            path: path.to_path_buf(),
            header,
            reader,
        })
    }

    pub fn optional_column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h.eq_ignore_ascii_case(name))
    }

    pub fn column(&self, name: &str) -> Result<usize, CatalogError> {
        self.optional_column(name).ok_or_else(|| CatalogError::MissingColumn {
            path: self.path.clone(),
            column: name.to_string(),
            header: self.header.join(","),
        })
    }

    /// Call `f` on every data row, normalised to the header's width.
    ///
    /// A row with extra fields first loses trailing empty ones; if it is still too wide
    /// and `overflow_into` names a column, the surplus is joined back into that column
    /// with commas (an unquoted comma split it). Short rows are padded with empty values.
    pub fn for_each_row(
        mut self,
        overflow_into: Option<usize>,
        problems: &mut Vec<Problem>,
        mut f: impl FnMut(Row, &mut Vec<Problem>),
    ) -> Result<(), CatalogError> {
        let width = self.header.len();
        let file_name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut record = csv::ByteRecord::new();
        loop {
            let more = self
                .reader
                .read_byte_record(&mut record)
                .map_err(|e| csv_error(&self.path, e))?;
            if !more {
                break;
            }
            let line = record.position().map_or(0, |p| p.line());
            let mut fields: Vec<String> = record.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
            if fields.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            while fields.len() > width && fields.last().is_some_and(|f| f.trim().is_empty()) {
                fields.pop();
            }
            let location = format!("{file_name}:{line}");
            if fields.len() > width {
                let surplus = fields.len() - width;
                match overflow_into {
                    Some(c) if c < width => {
                        let merged = fields[c..=c + surplus].join(",");
                        fields.splice(c..=c + surplus, [merged]);
                        problems.push(Problem {
                            kind: ProblemKind::RepairedRow,
                            location,
                            detail: format!(
                                "{surplus} unquoted comma(s) in `{}`: fields joined back",
                                self.header[c]
                            ),
                        });
                    }
                    _ => {
                        problems.push(Problem {
                            kind: ProblemKind::MalformedRow,
                            location,
                            detail: format!("{} fields where the header has {width}; row skipped", fields.len()),
                        });
                        continue;
                    }
                }
            } else if fields.len() < width {
                problems.push(Problem {
                    kind: ProblemKind::RepairedRow,
                    location,
                    detail: format!(
                        "{} fields where the header has {width}; missing values left empty",
                        fields.len()
                    ),
                });
                fields.resize(width, String::new());
            }
            f(Row { line, fields }, problems);
        }
        Ok(())
    }
}

fn csv_error(path: &Path, source: csv::Error) -> CatalogError {
    CatalogError::Csv {
        path: path.to_path_buf(),
        source,
    }
}
