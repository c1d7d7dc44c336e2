//! Kaggle "H&M Personalized Fashion Recommendations": `articles.csv` and
//! `images/<first 3 digits>/<article_id>.jpg`.

use std::path::{Path, PathBuf};

use crate::csv_table::Table;
use crate::entry::CatalogFormat;
use crate::entry::{Catalog, Entry, Problem, ProblemKind, Split};
use crate::error::CatalogError;

pub const ARTICLES_FILE: &str = "articles.csv";

/// Attribute columns kept from `articles.csv` (the label candidates).
pub const ATTRIBUTE_COLUMNS: &[&str] = &[
    "product_type_name",
    "product_group_name",
    "graphical_appearance_name",
    "colour_group_name",
    "perceived_colour_master_name",
    "garment_group_name",
    "index_group_name",
    "section_name",
    "department_name",
];

/// Shown to people and read by the text encoder (issue 23), never a label.
pub const DISPLAY_COLUMNS: &[&str] = &["prod_name", "detail_desc"];

/// Article ids are 10 digits with a leading zero; spreadsheets that re-saved the
/// file as numbers dropped it, so shorter ids are padded back.
const ARTICLE_ID_DIGITS: usize = 10;

pub(crate) fn read(root: &Path) -> Result<Catalog, CatalogError> {
    let path = root.join(ARTICLES_FILE);
    let table = Table::open(&path, b',')?;
    let article_col = table.column("article_id")?;
    let product_col = table.column("product_code")?;
    let columns: Vec<String> = ATTRIBUTE_COLUMNS
        .iter()
        .chain(DISPLAY_COLUMNS)
        .map(|c| c.to_string())
        .collect();
    // Columns a trimmed-down export lacks are kept empty rather than refused.
    let column_idx: Vec<Option<usize>> = columns.iter().map(|c| table.optional_column(c)).collect();

    let mut entries = Vec::new();
    let mut problems = Vec::new();
    table.for_each_row(None, &mut problems, |row, problems| {
        let location = format!("{ARTICLES_FILE}:{}", row.line);
        let raw_id = row.get(article_col);
        let product_code = row.get(product_col);
        if raw_id.is_empty() || !raw_id.bytes().all(|b| b.is_ascii_digit()) || raw_id.len() > ARTICLE_ID_DIGITS {
            problems.push(Problem {
                kind: ProblemKind::MalformedRow,
                location,
                detail: format!(
                    "article_id `{raw_id}` is not a number of at most {ARTICLE_ID_DIGITS} digits; row skipped"
                ),
            });
            return;
        }
        if product_code.is_empty() {
            problems.push(Problem {
                kind: ProblemKind::MalformedRow,
                location,
                detail: "empty product_code; row skipped".into(),
            });
            return;
        }
        let article_id = format!("{raw_id:0>ARTICLE_ID_DIGITS$}");
        let image = image_path(&article_id);
        if !root.join(&image).is_file() {
            super::missing_image(problems, location, &image);
            return;
        }
        // Product codes lose their leading zeros the same way; normalise so that
        // "0111565" and "111565" are one item.
        let item_id = match product_code.trim_start_matches('0') {
            "" => "0".to_string(),
            code => code.to_string(),
        };
        let values = column_idx
            .iter()
            .map(|c| c.map(|c| row.get(c).to_string()).unwrap_or_default())
            .collect();
        entries.push(Entry {
            image,
            item_id,
            values,
            labels: Vec::new(),
            split: Split::Train,
        });
    })?;
    if entries.is_empty() {
        return Err(CatalogError::Empty { path });
    }
    Ok(Catalog {
        root: root.to_path_buf(),
        format: CatalogFormat::Hm,
        columns,
        entries,
        problems,
        splits_from_source: false,
    })
}

/// `images/012/0123456789.jpg` for article `0123456789`.
pub fn image_path(article_id: &str) -> PathBuf {
    PathBuf::from("images")
        .join(&article_id[..3.min(article_id.len())])
        .join(format!("{article_id}.jpg"))
}
