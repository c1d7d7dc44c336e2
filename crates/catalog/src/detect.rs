//! Which format a catalogue folder holds, from its marker files, and which of a format's
//! columns become labels.

use std::path::Path;

use crate::entry::CatalogFormat;
use crate::error::CatalogError;
use crate::formats;

/// Tell the format of the catalogue in `root` from the files it holds.
///
/// The marker files are checked from most to least specific, so a DeepFashion
/// download that also has a stray CSV is still read as In-shop.
pub fn detect_format(root: &Path) -> Result<CatalogFormat, CatalogError> {
    if formats::inshop::partition_file(root).is_some() {
        return Ok(CatalogFormat::InShop);
    }
    if root.join(formats::hm::ARTICLES_FILE).is_file() {
        return Ok(CatalogFormat::Hm);
    }
    if root.join(formats::myntra::STYLES_FILE).is_file() {
        return Ok(CatalogFormat::Myntra);
    }
    if formats::labelled::looks_like_labelled_list(root)? {
        return Ok(CatalogFormat::Labelled);
    }
    if formats::folder::has_any_image(root) {
        return Ok(CatalogFormat::Folder);
    }
    Err(CatalogError::UnknownFormat {
        root: root.to_path_buf(),
    })
}

/// Which columns a format's readers make labels of.
impl CatalogFormat {
    /// Attribute columns that become labels by default (colour columns are
    /// filtered out separately, see [`crate::VocabularyConfig`]).
    pub fn default_label_columns(self) -> &'static [&'static str] {
        match self {
            CatalogFormat::Hm => formats::hm::ATTRIBUTE_COLUMNS,
            CatalogFormat::Myntra => formats::myntra::LABEL_COLUMNS,
            CatalogFormat::InShop => formats::inshop::COLUMNS,
            CatalogFormat::Folder => &[],
            // Labelled lists carry their labels in `Entry::labels`; extra columns are opt-in.
            CatalogFormat::Labelled => &[],
        }
    }
}
