//! The catalogues a run learns from: the one it is trained on (validated on, reported on), and
//! the training photos of any others joined to it (`data.also_train_on`, issue 19: H&M's
//! product codes and Myntra's article types in one model).

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use lookbook_catalog::{Catalog, FREE_LABEL_COLUMN, LabelVocabulary, OpenOptions, Split};

use crate::error::TrainError;

/// Where each catalogue's photos sit in the joined [`Catalog`], and what they carry.
#[derive(Debug, Clone)]
pub struct Sources {
    parts: Vec<Source>,
}

#[derive(Debug, Clone)]
struct Source {
    root: PathBuf,
    entries: Range<usize>,
    /// Its own attribute columns: a label of any other column is unknown for its photos.
    columns: HashSet<String>,
    /// Whether it has free labels (labelled lists): if not, those labels are unknown too.
    free_labels: bool,
    /// The label columns its format offers by default.
    default_label_columns: Vec<String>,
    /// Some product has two or more training photos: only then do its products join the
    /// identity loss (a product with one photo has nothing to be pulled towards).
    grouped: bool,
}

impl Sources {
    /// `catalog` alone.
    pub fn single(catalog: &Catalog) -> Sources {
        Sources {
            parts: vec![Source::of(catalog, 0..catalog.entries.len(), true)],
        }
    }

    /// `catalog` with the training photos of each catalogue in `extra` appended
    /// ([`Catalog::append_training_photos`]), opened with `options`.
    pub fn join(catalog: &mut Catalog, extra: &[PathBuf], options: &OpenOptions) -> Result<Sources, TrainError> {
        let mut sources = Sources::single(catalog);
        for root in extra {
            let other = Catalog::open(root, options)?;
            let grouped = has_a_product_with_two_photos(other.split(Split::Train).map(|e| e.item_id.as_str()));
            let entries = catalog.append_training_photos(&other);
            if entries.is_empty() {
                return Err(TrainError::NoData(
                    "training photos in a catalogue of data.also_train_on",
                ));
            }
            sources.parts.push(Source::of(&other, entries, grouped));
        }
        Ok(sources)
    }

    pub fn is_joined(&self) -> bool {
        self.parts.len() > 1
    }

    /// The default label columns of a joined run: every catalogue's defaults, the run's own
    /// first (`None` for one catalogue: its format's defaults apply as always).
    pub fn default_label_columns(&self) -> Option<Vec<String>> {
        self.is_joined().then(|| {
            let mut columns: Vec<String> = Vec::new();
            for column in self.parts.iter().flat_map(|p| &p.default_label_columns) {
                if !columns.contains(column) {
                    columns.push(column.clone());
                }
            }
            columns
        })
    }

    /// 1 where an entry's label is known, 0 where its catalogue has no such column, row-major
    /// over the catalogue's entries (`None` for one catalogue: every label is known).
    pub fn known_labels(&self, vocabulary: &LabelVocabulary, entries: usize) -> Option<Vec<f32>> {
        if !self.is_joined() {
            return None;
        }
        let mut known = Vec::with_capacity(entries * vocabulary.len());
        for entry in 0..entries {
            let source = self.source_of(entry);
            known.extend(vocabulary.labels.iter().map(|label| {
                let has = match label.column == FREE_LABEL_COLUMN {
                    true => source.free_labels,
                    false => source.columns.contains(&label.column),
                };
                if has { 1.0 } else { 0.0 }
            }));
        }
        Some(known)
    }

    /// Whether entry `entry`'s product takes part in the identity loss.
    pub fn counts_identity(&self, entry: usize) -> bool {
        self.source_of(entry).grouped
    }

    /// Whether entry `entry` is one of the run's own catalogue (not joined).
    pub fn is_own(&self, entry: usize) -> bool {
        self.parts[0].entries.contains(&entry)
    }

    /// One line per joined catalogue, for the run's log.
    pub fn notes(&self) -> Vec<String> {
        self.parts
            .iter()
            .skip(1)
            .map(|p| {
                let identity = if p.grouped {
                    "labels and products"
                } else {
                    "labels only: no product has two photos"
                };
                format!(
                    "also training on {} photos of {} ({identity})",
                    p.entries.len(),
                    p.root.display()
                )
            })
            .collect()
    }

    /// The joined roots, for keys that must change when they do.
    pub fn roots(&self) -> Vec<&Path> {
        self.parts.iter().map(|p| p.root.as_path()).collect()
    }

    fn source_of(&self, entry: usize) -> &Source {
        self.parts
            .iter()
            .find(|p| p.entries.contains(&entry))
            .unwrap_or(&self.parts[0])
    }
}

impl Source {
    fn of(catalog: &Catalog, entries: Range<usize>, grouped: bool) -> Source {
        Source {
            root: catalog.root.clone(),
            entries,
            columns: catalog.columns.iter().cloned().collect(),
            free_labels: catalog.entries.iter().any(|e| !e.labels.is_empty()),
            default_label_columns: catalog
                .format
                .default_label_columns()
                .iter()
                .map(|c| c.to_string())
                .collect(),
            grouped,
        }
    }
}

fn has_a_product_with_two_photos<'a>(items: impl Iterator<Item = &'a str>) -> bool {
    let mut photos: HashMap<&str, usize> = HashMap::new();
    items.into_iter().any(|item| {
        let n = photos.entry(item).or_insert(0);
        *n += 1;
        *n >= 2
    })
}
