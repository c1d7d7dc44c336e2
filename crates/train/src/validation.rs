//! What validation measures after each epoch, and by which column a catalogue without
//! repeated items is ranked.

use lookbook_catalog::{Catalog, Entry};
use lookbook_eval::catalogue::{CategoryChoice, category_column};
use lookbook_eval::has_repeated_items;

use crate::error::TrainError;

pub(crate) struct Validation {
    pub(crate) images: usize,
    pub(crate) map: f64,
    pub(crate) prior_map: f64,
    pub(crate) queries: usize,
    pub(crate) top: Vec<f64>,
    /// The category column top-k was counted by (`None`: the item id).
    pub(crate) by: Option<String>,
    /// By a category: precision@10.
    pub(crate) precision10: Option<f64>,
}

/// What validation ranks by: `None` (the item id) when some validation item has two photos,
/// else `attribute` or the column [`category_column`]'s rule picks.
pub(crate) fn validation_category(
    catalog: &Catalog,
    val_items: &[usize],
    attribute: Option<&str>,
) -> Result<Option<CategoryChoice>, TrainError> {
    if val_items.is_empty() || has_repeated_items(val_items.iter().map(|&i| catalog.entries[i].item_id.as_str())) {
        return Ok(None);
    }
    let choice = match attribute {
        Some(column) if catalog.column_index(column).is_some() => Some(CategoryChoice {
            column: column.to_string(),
            why: format!("{column}: [labels] validation_attribute"),
        }),
        Some(column) => {
            return Err(TrainError::Config {
                path: catalog.root.clone(),
                message: format!(
                    "[labels] validation_attribute = {column:?}: the catalogue has no such column (columns: {})",
                    catalog.columns.join(", ")
                ),
            });
        }
        // Whether a column is a category is a property of the catalogue, not of a small split.
        None => category_column(catalog, &catalog.entries.iter().collect::<Vec<&Entry>>()),
    };
    Ok(choice)
}
