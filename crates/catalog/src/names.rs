//! What a person reads about a product: its name and a few telling attributes (issue 25: a
//! result line used to print every column, wider than a terminal, the name buried in it).

use std::collections::BTreeMap;
use std::path::Path;

/// Columns holding a product's display name: H&M `prod_name`, Myntra `productDisplayName`,
/// then generic ones. In-shop and image folders have none: the photo's file stem stands in.
pub const NAME_COLUMNS: [&str; 4] = ["prod_name", "productDisplayName", "name", "title"];

/// Columns holding a product's free-text description (H&M `detail_desc`): words for the text
/// encoder (issue 23), not a filter — too many distinct values to list.
pub const DESCRIPTION_COLUMNS: [&str; 2] = ["detail_desc", "description"];

/// Whether `column` holds free text (a name or a description) rather than a value to filter by.
pub fn is_free_text_column(column: &str) -> bool {
    NAME_COLUMNS.contains(&column) || DESCRIPTION_COLUMNS.contains(&column)
}

/// Columns a one-line result shows after the name, most telling first: the category, the
/// colour, then the pattern or who it is for.
pub const KEY_COLUMNS: [&str; 9] = [
    "product_type_name",
    "articleType",
    "category",
    "colour_group_name",
    "baseColour",
    "colour",
    "graphical_appearance_name",
    "gender",
    "usage",
];

/// The product's display name: its first non-empty [`NAME_COLUMNS`] value, else the photo's
/// file stem.
pub fn display_name(attributes: &BTreeMap<String, String>, image: &Path) -> String {
    NAME_COLUMNS
        .iter()
        .find_map(|column| attributes.get(*column).map(|v| v.trim()).filter(|v| !v.is_empty()))
        .map(str::to_string)
        .unwrap_or_else(|| {
            image
                .file_stem()
                .map_or_else(|| image.display().to_string(), |s| s.to_string_lossy().into_owned())
        })
}

/// Up to `n` (column, value) pairs of [`KEY_COLUMNS`] the attributes have, in that order.
pub fn key_attributes(attributes: &BTreeMap<String, String>, n: usize) -> Vec<(&'static str, &str)> {
    KEY_COLUMNS
        .iter()
        .filter_map(|&column| {
            attributes
                .get(column)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(|v| (column, v))
        })
        .take(n)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_name_column_or_the_file_stem() {
        let hm = BTreeMap::from([
            ("prod_name".to_string(), "Strap top".to_string()),
            ("product_type_name".to_string(), "Vest top".to_string()),
            ("colour_group_name".to_string(), "Black".to_string()),
            ("graphical_appearance_name".to_string(), "Solid".to_string()),
            ("index_name".to_string(), "Ladieswear".to_string()),
        ]);
        assert_eq!(display_name(&hm, Path::new("images/010/0108775015.jpg")), "Strap top");
        assert_eq!(
            key_attributes(&hm, 3),
            vec![
                ("product_type_name", "Vest top"),
                ("colour_group_name", "Black"),
                ("graphical_appearance_name", "Solid")
            ]
        );
        let folder = BTreeMap::from([("name".to_string(), "  ".to_string())]);
        assert_eq!(
            display_name(&folder, Path::new("shirts/blue-oxford.jpg")),
            "blue-oxford"
        );
        assert!(key_attributes(&folder, 3).is_empty());
    }
}
