//! What a catalogue is, as data: its photos (`Entry`), their splits, what was wrong with it
//! (`Problem`), the format it was read in, and the `Catalog` that holds them. Every reader
//! (`formats`) produces these; `catalog.rs` opens a folder with them.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::CatalogError;

/// Which part of the experiment an image belongs to.
///
/// `Query` and `Gallery` come only from catalogues that define a retrieval split of
/// their own (DeepFashion In-shop); together they are that catalogue's test set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
    Test,
    Query,
    Gallery,
}

impl Split {
    pub const ALL: [Split; 5] = [Split::Train, Split::Val, Split::Test, Split::Query, Split::Gallery];

    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
            Split::Query => "query",
            Split::Gallery => "gallery",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One photo of the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Path of the image, relative to [`Catalog::root`].
    pub image: PathBuf,
    /// The "same item" key: photos with equal ids show the same garment
    /// (H&M product code, Myntra id, In-shop item id, folder name).
    pub item_id: String,
    /// Attribute values aligned with [`Catalog::columns`]; empty = unknown.
    pub values: Vec<String>,
    /// Free multi-valued labels (labelled lists); attribute columns hold one value each.
    pub labels: Vec<String>,
    pub split: Split,
}

/// Why a row or file was left out, or read with a caveat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// The table names an image that is not on disk; the row is left out.
    MissingImage,
    /// A row that cannot be read (too few fields, no id); the row is left out.
    MalformedRow,
    /// A row that was read, but needed repair (short row padded, stray fields merged).
    RepairedRow,
    /// A table whose declared size disagrees with what it holds.
    CountMismatch,
}

/// One thing wrong with a catalogue, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub kind: ProblemKind,
    /// `file:line` or an image path.
    pub location: String,
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.detail)
    }
}

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

/// A catalogue read from disk: entries whose images exist, plus what was wrong.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Catalog {
    pub root: PathBuf,
    pub format: CatalogFormat,
    /// Names of the attribute columns, in the order of [`Entry::values`].
    pub columns: Vec<String>,
    pub entries: Vec<Entry>,
    pub problems: Vec<Problem>,
    /// True when the splits came from the catalogue itself rather than the item-id hash.
    pub splits_from_source: bool,
}
