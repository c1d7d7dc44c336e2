//! A labelled list: a CSV or TSV with an image path column, an optional item id
//! column and a column of multi-valued labels (`red|long sleeve`, `red;v-neck`,
//! `red floral`), the way multi-label sets such as Fashion144k are usually shipped.
//!
//! Column names come from flags, from `lookbook-catalog.toml` in the catalogue root
//! (a `[labelled]` table), or are guessed from common names. Every other column is
//! kept as an attribute.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::csv_table::Table;
use crate::entry::CatalogFormat;
use crate::entry::{Catalog, Entry, Problem, ProblemKind, Split};
use crate::error::CatalogError;

pub const CONFIG_FILE: &str = "lookbook-catalog.toml";

const IMAGE_COLUMN_NAMES: &[&str] = &["image", "image_path", "image_name", "path", "file", "filename", "img"];
const ITEM_COLUMN_NAMES: &[&str] = &["item_id", "item", "product_id", "product_code", "id"];
const LABELS_COLUMN_NAMES: &[&str] = &["labels", "tags", "attributes", "label"];

/// How to read a labelled list; every field is optional and guessed when absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LabelledListConfig {
    /// The list, relative to the catalogue root.
    pub file: Option<PathBuf>,
    pub image_column: Option<String>,
    /// Without one, every image is its own item.
    pub item_column: Option<String>,
    pub labels_column: Option<String>,
    /// Field delimiter; `\t` for TSV. Default: from the extension and header.
    pub delimiter: Option<char>,
    /// Separator between labels in one field. Default: `|`, else `;`, else whitespace.
    pub label_separator: Option<String>,
    /// Folder the image paths are relative to, relative to the root. Default: the root.
    pub image_root: Option<PathBuf>,
}

#[derive(Deserialize)]
struct ConfigFile {
    labelled: LabelledListConfig,
}

impl LabelledListConfig {
    /// Fields set in `self` win over those in `base`.
    pub fn over(&self, base: &LabelledListConfig) -> LabelledListConfig {
        LabelledListConfig {
            file: self.file.clone().or_else(|| base.file.clone()),
            image_column: self.image_column.clone().or_else(|| base.image_column.clone()),
            item_column: self.item_column.clone().or_else(|| base.item_column.clone()),
            labels_column: self.labels_column.clone().or_else(|| base.labels_column.clone()),
            delimiter: self.delimiter.or(base.delimiter),
            label_separator: self.label_separator.clone().or_else(|| base.label_separator.clone()),
            image_root: self.image_root.clone().or_else(|| base.image_root.clone()),
        }
    }

    /// The `[labelled]` table of `lookbook-catalog.toml` in `root`, if there is one.
    pub fn from_root(root: &Path) -> Result<Option<LabelledListConfig>, CatalogError> {
        let path = root.join(CONFIG_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let text = fs::read_to_string(&path).map_err(|e| CatalogError::io(&path, e))?;
        let file: ConfigFile = toml::from_str(&text).map_err(|source| CatalogError::Config { path, source })?;
        Ok(Some(file.labelled))
    }
}

/// A root holding `lookbook-catalog.toml`, or a CSV/TSV with recognisable image and labels columns.
pub(crate) fn looks_like_labelled_list(root: &Path) -> Result<bool, CatalogError> {
    if root.join(CONFIG_FILE).is_file() {
        return Ok(true);
    }
    Ok(find_list(root, &LabelledListConfig::default()).is_some())
}

pub(crate) fn read(root: &Path, given: Option<&LabelledListConfig>) -> Result<Catalog, CatalogError> {
    let from_file = LabelledListConfig::from_root(root)?.unwrap_or_default();
    let config = given.map_or_else(|| from_file.clone(), |g| g.over(&from_file));
    let path = match &config.file {
        Some(f) => root.join(f),
        None => find_list(root, &config).ok_or_else(|| CatalogError::BadFile {
            path: root.to_path_buf(),
            reason: "no CSV/TSV with an image column and a labels column; name it in lookbook-catalog.toml \
                     ([labelled] file = ...) or with --list-file"
                .into(),
        })?,
    };
    let delimiter = config.delimiter.map_or_else(|| sniff_delimiter(&path), |d| d as u8);
    let table = Table::open(&path, delimiter)?;
    let image_col = pick_column(&table, config.image_column.as_deref(), IMAGE_COLUMN_NAMES, "image")?;
    let labels_col = pick_column(&table, config.labels_column.as_deref(), LABELS_COLUMN_NAMES, "labels")?;
    let item_col = match config.item_column.as_deref() {
        Some(name) => Some(table.column(name)?),
        None => ITEM_COLUMN_NAMES
            .iter()
            .find_map(|n| table.optional_column(n))
            .filter(|&c| c != image_col && c != labels_col),
    };
    let attribute_cols: Vec<usize> = (0..table.header.len())
        .filter(|&c| c != image_col && c != labels_col && Some(c) != item_col)
        .collect();
    let columns: Vec<String> = attribute_cols.iter().map(|&c| table.header[c].clone()).collect();
    let image_root = config.image_root.clone().unwrap_or_default();
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let separator = config.label_separator.clone();

    let mut entries = Vec::new();
    let mut problems = Vec::new();
    table.for_each_row(None, &mut problems, |row, problems| {
        let location = format!("{file_name}:{}", row.line);
        let listed = row.get(image_col);
        if listed.is_empty() || Path::new(listed).is_absolute() || listed.split(['/', '\\']).any(|c| c == "..") {
            problems.push(Problem {
                kind: ProblemKind::MalformedRow,
                location,
                detail: format!("image path `{listed}` must be relative and inside the catalogue; row skipped"),
            });
            return;
        }
        let image = image_root.join(listed);
        if !root.join(&image).is_file() {
            super::missing_image(problems, location, &image);
            return;
        }
        let item_id = match item_col.map(|c| row.get(c)).filter(|v| !v.is_empty()) {
            Some(id) => id.to_string(),
            None => listed.to_string(),
        };
        entries.push(Entry {
            image,
            item_id,
            values: attribute_cols.iter().map(|&c| row.get(c).to_string()).collect(),
            labels: split_labels(row.get(labels_col), separator.as_deref()),
            split: Split::Train,
        });
    })?;
    if entries.is_empty() {
        return Err(CatalogError::Empty { path });
    }
    Ok(Catalog {
        root: root.to_path_buf(),
        format: CatalogFormat::Labelled,
        columns,
        entries,
        problems,
        splits_from_source: false,
    })
}

/// Split one labels field. Without an explicit separator: `|` if present, else `;`,
/// else whitespace — so `long sleeve|red` keeps its two-word label.
pub fn split_labels(field: &str, separator: Option<&str>) -> Vec<String> {
    let parts: Vec<&str> = match separator {
        Some(" ") => field.split_whitespace().collect(),
        Some(sep) => field.split(sep).collect(),
        None if field.contains('|') => field.split('|').collect(),
        None if field.contains(';') => field.split(';').collect(),
        None => field.split_whitespace().collect(),
    };
    let mut labels: Vec<String> = parts
        .into_iter()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    labels.sort();
    labels.dedup();
    labels
}

fn pick_column(table: &Table, named: Option<&str>, guesses: &[&str], what: &str) -> Result<usize, CatalogError> {
    match named {
        Some(name) => table.column(name),
        None => guesses
            .iter()
            .find_map(|n| table.optional_column(n))
            .ok_or_else(|| CatalogError::MissingColumn {
                path: table.path.clone(),
                column: format!("{what} (one of {})", guesses.join(", ")),
                header: table.header.join(","),
            }),
    }
}

fn sniff_delimiter(path: &Path) -> u8 {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("tsv")) {
        return b'\t';
    }
    let first_line = fs::read(path)
        .ok()
        .and_then(|b| b.split(|&c| c == b'\n').next().map(<[u8]>::to_vec))
        .unwrap_or_default();
    if first_line.contains(&b'\t') && !first_line.contains(&b',') {
        b'\t'
    } else {
        b','
    }
}

/// The first CSV/TSV/TXT in `root` (sorted by name) whose header has an image and a labels column.
fn find_list(root: &Path, config: &LabelledListConfig) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| ["csv", "tsv", "txt"].iter().any(|x| e.eq_ignore_ascii_case(x)))
        })
        .collect();
    candidates.sort();
    candidates.into_iter().find(|p| {
        let delimiter = config.delimiter.map_or_else(|| sniff_delimiter(p), |d| d as u8);
        Table::open(p, delimiter).is_ok_and(|t| {
            pick_column(&t, config.image_column.as_deref(), IMAGE_COLUMN_NAMES, "image").is_ok()
                && pick_column(&t, config.labels_column.as_deref(), LABELS_COLUMN_NAMES, "labels").is_ok()
        })
    })
}
