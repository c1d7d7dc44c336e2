//! The label vocabulary of the multi-label head: `column=value` pairs seen often enough.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::entry::{Catalog, Entry};

/// Column name used for the free labels of labelled lists (`label=floral`).
pub const FREE_LABEL_COLUMN: &str = "label";

/// Which attribute values become labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VocabularyConfig {
    /// Attribute columns to draw labels from; `None` = the format's defaults.
    pub columns: Option<Vec<String>>,
    /// A value needs at least this many images to become a label.
    pub min_count: usize,
    /// Keep colour columns. The study's seed model excluded colour labels: colour is
    /// trivially visible and would dominate a multi-label loss on product photos.
    pub include_colour: bool,
    /// Include the free labels of labelled lists.
    pub include_free_labels: bool,
}

impl Default for VocabularyConfig {
    fn default() -> Self {
        VocabularyConfig {
            columns: None,
            min_count: 20,
            include_colour: false,
            include_free_labels: true,
        }
    }
}

/// True for columns that name a colour (`colour_group_name`, `baseColour`, `color`).
pub fn is_colour_column(column: &str) -> bool {
    let c = column.to_ascii_lowercase();
    c.contains("colour") || c.contains("color")
}

/// One label: a value of a column, and how many images carried it when the vocabulary was built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    pub column: String,
    pub value: String,
    pub count: usize,
}

impl Label {
    /// `column=value`, the label's name everywhere it is shown.
    pub fn name(&self) -> String {
        format!("{}={}", self.column, self.value)
    }
}

/// The labels of a model, in output order. Serialised with the model, so a checkpoint
/// always knows what its outputs mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelVocabulary {
    pub config: VocabularyConfig,
    /// The attribute columns labels were drawn from (after the colour filter).
    pub columns: Vec<String>,
    /// Sorted by column then value, so the order is stable across runs.
    pub labels: Vec<Label>,
}

impl LabelVocabulary {
    /// Count `column=value` pairs over `entries` of `catalog` and keep the frequent ones.
    pub fn build<'a>(
        catalog: &Catalog,
        entries: impl IntoIterator<Item = &'a Entry>,
        config: &VocabularyConfig,
    ) -> LabelVocabulary {
        let wanted: Vec<String> = match &config.columns {
            Some(cols) => cols.clone(),
            None => catalog
                .format
                .default_label_columns()
                .iter()
                .map(|c| c.to_string())
                .collect(),
        };
        let columns: Vec<String> = wanted
            .into_iter()
            .filter(|c| config.include_colour || !is_colour_column(c))
            .filter(|c| catalog.column_index(c).is_some())
            .collect();
        let column_idx: Vec<usize> = columns.iter().filter_map(|c| catalog.column_index(c)).collect();

        let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
        for entry in entries {
            for (&ci, column) in column_idx.iter().zip(&columns) {
                let value = entry.values[ci].trim();
                if !value.is_empty() {
                    *counts.entry((column.clone(), value.to_string())).or_insert(0) += 1;
                }
            }
            if config.include_free_labels {
                for label in &entry.labels {
                    *counts
                        .entry((FREE_LABEL_COLUMN.to_string(), label.clone()))
                        .or_insert(0) += 1;
                }
            }
        }
        let labels = counts
            .into_iter()
            .filter(|(_, n)| *n >= config.min_count.max(1))
            .map(|((column, value), count)| Label { column, value, count })
            .collect();
        LabelVocabulary {
            config: config.clone(),
            columns,
            labels,
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn names(&self) -> Vec<String> {
        self.labels.iter().map(Label::name).collect()
    }

    /// A lookup from a catalogue's entries to label indices, built once and reused per entry.
    pub fn encoder(&self, catalog: &Catalog) -> LabelEncoder<'_> {
        let lookup = self
            .labels
            .iter()
            .enumerate()
            .map(|(i, l)| ((l.column.clone(), l.value.clone()), i))
            .collect();
        LabelEncoder {
            vocabulary: self,
            column_idx: self
                .columns
                .iter()
                .map(|c| (c.clone(), catalog.column_index(c)))
                .collect(),
            lookup,
        }
    }
}

/// Maps entries of one catalogue to label indices (see [`LabelVocabulary::encoder`]).
pub struct LabelEncoder<'a> {
    vocabulary: &'a LabelVocabulary,
    column_idx: Vec<(String, Option<usize>)>,
    lookup: HashMap<(String, String), usize>,
}

impl LabelEncoder<'_> {
    /// Indices of the labels `entry` carries, ascending.
    pub fn encode(&self, entry: &Entry) -> Vec<usize> {
        let mut key = (String::new(), String::new());
        let mut out: Vec<usize> = Vec::new();
        for (column, idx) in &self.column_idx {
            let Some(value) = idx.and_then(|i| entry.values.get(i)) else {
                continue;
            };
            column.clone_into(&mut key.0);
            value.trim().clone_into(&mut key.1);
            if let Some(&i) = self.lookup.get(&key) {
                out.push(i);
            }
        }
        if self.vocabulary.config.include_free_labels {
            FREE_LABEL_COLUMN.clone_into(&mut key.0);
            for label in &entry.labels {
                label.clone_into(&mut key.1);
                if let Some(&i) = self.lookup.get(&key) {
                    out.push(i);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// 0/1 targets of `entry`, one per label.
    pub fn multi_hot(&self, entry: &Entry) -> Vec<f32> {
        let mut v = vec![0.0; self.vocabulary.len()];
        for i in self.encode(entry) {
            v[i] = 1.0;
        }
        v
    }
}
