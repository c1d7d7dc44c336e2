use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::detect::{CatalogFormat, detect_format};
use crate::error::CatalogError;
use crate::formats;
use crate::formats::labelled::LabelledListConfig;
use crate::split::{SplitFractions, split_for_item};

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

/// How to open a catalogue; the defaults auto-detect everything.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Force a format instead of detecting it.
    pub format: Option<CatalogFormat>,
    /// Train/val/test fractions for catalogues without splits of their own.
    pub fractions: SplitFractions,
    /// Plain folders: item id = file stem instead of the parent folder.
    pub item_from_stem: bool,
    /// Labelled lists: column names and separators (else `lookbook-catalog.toml`, else guessed).
    pub labelled: Option<LabelledListConfig>,
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

impl Catalog {
    /// Read the catalogue in `root`, detecting its format unless `options.format` is set.
    pub fn open(root: impl AsRef<Path>, options: &OpenOptions) -> Result<Self, CatalogError> {
        let root = root.as_ref();
        if !root.is_dir() {
            return Err(CatalogError::NotADirectory {
                path: root.to_path_buf(),
            });
        }
        options.fractions.validate()?;
        let format = match options.format {
            Some(f) => f,
            None => detect_format(root)?,
        };
        let mut catalog = match format {
            CatalogFormat::Hm => formats::hm::read(root)?,
            CatalogFormat::Myntra => formats::myntra::read(root)?,
            CatalogFormat::InShop => formats::inshop::read(root)?,
            CatalogFormat::Folder => formats::folder::read(root, options.item_from_stem)?,
            CatalogFormat::Labelled => formats::labelled::read(root, options.labelled.as_ref())?,
        };
        if !catalog.splits_from_source {
            for entry in &mut catalog.entries {
                entry.split = split_for_item(&entry.item_id, &options.fractions);
            }
        }
        tracing::debug!(
            format = %catalog.format,
            entries = catalog.entries.len(),
            problems = catalog.problems.len(),
            "catalogue read"
        );
        Ok(catalog)
    }

    /// Absolute (root-joined) path of an entry's image.
    pub fn image_path(&self, entry: &Entry) -> PathBuf {
        self.root.join(&entry.image)
    }

    /// Index of an attribute column.
    pub fn column_index(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == column)
    }

    /// Value of `column` for `entry`, `None` when the column is absent or the value empty.
    pub fn attribute<'a>(&self, entry: &'a Entry, column: &str) -> Option<&'a str> {
        let i = self.column_index(column)?;
        entry.values.get(i).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// Number of distinct item ids.
    pub fn item_count(&self) -> usize {
        self.entries
            .iter()
            .map(|e| e.item_id.as_str())
            .collect::<HashSet<_>>()
            .len()
    }

    /// Entries of one split, in catalogue order.
    pub fn split(&self, split: Split) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(move |e| e.split == split)
    }

    /// Number of images per split (splits with no image are left out).
    pub fn split_sizes(&self) -> BTreeMap<Split, usize> {
        let mut sizes = BTreeMap::new();
        for e in &self.entries {
            *sizes.entry(e.split).or_insert(0) += 1;
        }
        sizes
    }

    pub fn problems_of(&self, kind: ProblemKind) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(move |p| p.kind == kind)
    }
}
