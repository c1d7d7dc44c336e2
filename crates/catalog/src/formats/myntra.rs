//! Kaggle "Fashion Product Images (Small)" (Myntra): `styles.csv` and `images/<id>.jpg`.
//!
//! The real `styles.csv` has unquoted commas inside `productDisplayName` (rows with
//! more fields than the header) and, in some copies, trailing empty columns. Both
//! are read, not rejected. Columns are found by name: `articleType` and `year` are
//! absent from some versions.

use std::path::{Path, PathBuf};

use crate::csv_table::Table;
use crate::entry::CatalogFormat;
use crate::entry::{Catalog, Entry, Problem, ProblemKind, Split};
use crate::error::CatalogError;

pub const STYLES_FILE: &str = "styles.csv";

/// Columns that become labels by default (colour is removed by the vocabulary's
/// colour filter; year and display name are never labels).
pub const LABEL_COLUMNS: &[&str] = &[
    "gender",
    "masterCategory",
    "subCategory",
    "articleType",
    "baseColour",
    "season",
    "usage",
];

const NAME_COLUMN: &str = "productDisplayName";

pub(crate) fn read(root: &Path) -> Result<Catalog, CatalogError> {
    let path = root.join(STYLES_FILE);
    let table = Table::open(&path, b',')?;
    let id_col = table.column("id")?;
    // Every other named column is an attribute, in file order.
    let attribute_cols: Vec<usize> = (0..table.header.len()).filter(|&c| c != id_col).collect();
    let columns: Vec<String> = attribute_cols.iter().map(|&c| table.header[c].clone()).collect();
    // Unquoted commas can only be absorbed by the free-text name column; when it is
    // the last column (as in every known copy) the surplus fields belong to it.
    let overflow = table.optional_column(NAME_COLUMN);

    let mut entries = Vec::new();
    let mut problems = Vec::new();
    table.for_each_row(overflow, &mut problems, |row, problems| {
        let location = format!("{STYLES_FILE}:{}", row.line);
        let id = row.get(id_col);
        if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
            problems.push(Problem {
                kind: ProblemKind::MalformedRow,
                location,
                detail: format!("id `{id}` cannot name an image; row skipped"),
            });
            return;
        }
        let Some(image) = find_image(root, id) else {
            super::missing_image(problems, location, &PathBuf::from("images").join(format!("{id}.jpg")));
            return;
        };
        entries.push(Entry {
            image,
            item_id: id.to_string(),
            values: attribute_cols.iter().map(|&c| row.get(c).to_string()).collect(),
            labels: Vec::new(),
            split: Split::Train,
        });
    })?;
    if entries.is_empty() {
        return Err(CatalogError::Empty { path });
    }
    Ok(Catalog {
        root: root.to_path_buf(),
        format: CatalogFormat::Myntra,
        columns,
        entries,
        problems,
        splits_from_source: false,
    })
}

/// `images/<id>.jpg`, or another image extension when a copy was re-encoded.
fn find_image(root: &Path, id: &str) -> Option<PathBuf> {
    ["jpg", "jpeg", "png", "webp"].iter().find_map(|ext| {
        let rel = PathBuf::from("images").join(format!("{id}.{ext}"));
        root.join(&rel).is_file().then_some(rel)
    })
}
