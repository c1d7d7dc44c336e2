//! Opening a catalogue folder: detect its format, read it with that format's reader, assign
//! splits, and say what was wrong.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use crate::detect::detect_format;
use crate::entry::{Catalog, CatalogFormat, Entry, Problem, ProblemKind, Split};
use crate::error::CatalogError;
use crate::formats;
use crate::formats::labelled::LabelledListConfig;
use crate::split::{SplitFractions, split_for_item};

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
