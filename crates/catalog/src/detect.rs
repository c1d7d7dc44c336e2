use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::CatalogError;
use crate::formats;

/// The on-disk layouts lookbook reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CatalogFormat {
    /// Kaggle "H&M Personalized Fashion Recommendations": `articles.csv` + `images/012/0123456789.jpg`.
    Hm,
    /// Kaggle "Fashion Product Images (Small)": `styles.csv` + `images/<id>.jpg`.
    Myntra,
    /// DeepFashion In-shop Clothes Retrieval: `Eval/list_eval_partition.txt` + images.
    #[serde(rename = "inshop")]
    InShop,
    /// Any folder of images; item id = parent folder (or file stem).
    Folder,
    /// A CSV/TSV of image path, optional item id and multi-valued labels.
    Labelled,
}

impl CatalogFormat {
    pub const ALL: [CatalogFormat; 5] = [
        CatalogFormat::Hm,
        CatalogFormat::Myntra,
        CatalogFormat::InShop,
        CatalogFormat::Folder,
        CatalogFormat::Labelled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CatalogFormat::Hm => "hm",
            CatalogFormat::Myntra => "myntra",
            CatalogFormat::InShop => "inshop",
            CatalogFormat::Folder => "folder",
            CatalogFormat::Labelled => "labelled",
        }
    }

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

impl fmt::Display for CatalogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CatalogFormat {
    type Err = CatalogError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "hm" | "h&m" => Ok(CatalogFormat::Hm),
            "myntra" => Ok(CatalogFormat::Myntra),
            "inshop" | "in-shop" | "deepfashion" => Ok(CatalogFormat::InShop),
            "folder" | "dir" => Ok(CatalogFormat::Folder),
            "labelled" | "labeled" | "list" => Ok(CatalogFormat::Labelled),
            _ => Err(CatalogError::UnknownFormatName(s.to_string())),
        }
    }
}

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
