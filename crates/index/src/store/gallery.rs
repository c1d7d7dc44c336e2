//! [`Gallery`]: what answering queries reads from an index — rows by key, an item's images,
//! pages of items, attribute counts and nearest-neighbour searches by the whole picture and by
//! each part — asked one question at a time, so that an index in a database (PostgreSQL +
//! pgvector) can answer each in SQL while the process holds none of its rows (issue 22). An
//! [`IndexContents`] answers the same questions from memory.

use std::collections::{BTreeMap, HashMap};

use super::contents::{IndexContents, Predicate, SearchMode};
use super::manifest::{IndexInfo, Record};
use crate::{Hit, IndexError};

/// One image of an index: its record, retrieval vector and part vectors (`parts × part_dim`).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRow {
    pub record: Record,
    pub vector: Vec<f32>,
    pub parts: Vec<f32>,
}

/// How many images hold each value of one attribute: the `distinct` values there are, the
/// most frequent first (ties by value), as many as were asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueCounts {
    pub column: String,
    pub distinct: usize,
    pub values: Vec<(String, usize)>,
}

/// A page of items in index order (an item's place is its first image's), each as its first
/// image's record, and how many items matched in all.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemsPage {
    pub total: usize,
    pub first_images: Vec<Record>,
}

/// The reads a query, a recommendation and browsing make, whether the rows are in this
/// process or in a database that answers each question.
pub trait Gallery: Send + Sync {
    fn info(&self) -> &IndexInfo;
    /// Images in the index (a database's: as last counted).
    fn image_count(&self) -> usize;
    /// Distinct items.
    fn item_count(&self) -> Result<usize, IndexError>;
    /// The rows of `keys`, in that order (`None` for a key not in the index).
    fn rows(&self, keys: &[u64]) -> Result<Vec<Option<StoredRow>>, IndexError>;
    /// Some image's record (whether the builder stored boxes shows in any of them).
    fn any_record(&self) -> Result<Option<Record>, IndexError>;
    /// The keys of `item_id`'s images in index order (empty: no such item).
    fn item_keys(&self, item_id: &str) -> Result<Vec<u64>, IndexError>;
    /// Items `offset..offset + limit` among those whose first image has every attribute value
    /// in `attributes`.
    fn items_page(&self, offset: usize, limit: usize, attributes: &[(String, String)])
    -> Result<ItemsPage, IndexError>;
    /// For each of the index's columns that some image has, its `values` most frequent values.
    fn value_counts(&self, values: usize) -> Result<Vec<ValueCounts>, IndexError>;
    /// The `k` nearest images to `query` whose records `predicate` accepts.
    fn search(&self, query: &[f32], k: usize, predicate: &Predicate, mode: SearchMode) -> Result<Vec<Hit>, IndexError>;
    /// The `k` images whose part `part` is nearest `query` (a `part_dim` vector), among those
    /// `predicate` accepts.
    fn search_part(&self, part: usize, query: &[f32], k: usize, predicate: &Predicate) -> Result<Vec<Hit>, IndexError>;

    /// [`Gallery::search`] with each hit's row (a database answers both in one statement).
    fn search_rows(
        &self,
        query: &[f32],
        k: usize,
        predicate: &Predicate,
        mode: SearchMode,
    ) -> Result<Vec<(Hit, StoredRow)>, IndexError> {
        with_rows(self, self.search(query, k, predicate, mode)?)
    }

    /// [`Gallery::search_part`] with each hit's row.
    fn search_part_rows(
        &self,
        part: usize,
        query: &[f32],
        k: usize,
        predicate: &Predicate,
    ) -> Result<Vec<(Hit, StoredRow)>, IndexError> {
        with_rows(self, self.search_part(part, query, k, predicate)?)
    }

    /// The row of `item_id`'s first image (a database reads it in one statement).
    fn first_row(&self, item_id: &str) -> Result<Option<StoredRow>, IndexError> {
        match self.item_keys(item_id)?.first() {
            Some(&key) => Ok(self.rows(&[key])?.pop().flatten()),
            None => Ok(None),
        }
    }
}

/// `hits` with their rows (a hit whose row has gone since the search is left out).
fn with_rows<G: Gallery + ?Sized>(gallery: &G, hits: Vec<Hit>) -> Result<Vec<(Hit, StoredRow)>, IndexError> {
    let keys: Vec<u64> = hits.iter().map(|h| h.key).collect();
    Ok(hits
        .into_iter()
        .zip(gallery.rows(&keys)?)
        .filter_map(|(hit, row)| Some((hit, row?)))
        .collect())
}

impl Gallery for IndexContents {
    fn info(&self) -> &IndexInfo {
        &self.info
    }

    fn image_count(&self) -> usize {
        self.records.len()
    }

    fn item_count(&self) -> Result<usize, IndexError> {
        Ok(self.items()?.order.len())
    }

    fn rows(&self, keys: &[u64]) -> Result<Vec<Option<StoredRow>>, IndexError> {
        keys.iter()
            .map(|&key| {
                let Some(row) = self.row_of(key) else { return Ok(None) };
                Ok(Some(StoredRow {
                    record: self.records.get(row)?.into_owned(),
                    vector: self.vector_of(row).to_vec(),
                    parts: self.parts_of(row).to_vec(),
                }))
            })
            .collect()
    }

    fn any_record(&self) -> Result<Option<Record>, IndexError> {
        match self.records.is_empty() {
            true => Ok(None),
            false => Ok(Some(self.records.get(0)?.into_owned())),
        }
    }

    fn item_keys(&self, item_id: &str) -> Result<Vec<u64>, IndexError> {
        let keys = self.records.keys();
        Ok(self
            .items()?
            .rows
            .get(item_id)
            .map(|rows| rows.iter().map(|&row| keys[row]).collect())
            .unwrap_or_default())
    }

    fn first_row(&self, item_id: &str) -> Result<Option<StoredRow>, IndexError> {
        match self.first_row_of(item_id)? {
            Some(row) => Ok(Gallery::rows(self, &[self.records.keys()[row]])?.pop().flatten()),
            None => Ok(None),
        }
    }

    fn items_page(
        &self,
        offset: usize,
        limit: usize,
        attributes: &[(String, String)],
    ) -> Result<ItemsPage, IndexError> {
        let items = self.items()?;
        let mut page = ItemsPage {
            total: 0,
            first_images: Vec::new(),
        };
        for item_id in &items.order {
            let record = self.records.get(items.rows[item_id][0])?;
            if !attributes.iter().all(|(c, v)| record.attributes.get(c) == Some(v)) {
                continue;
            }
            if page.total >= offset && page.first_images.len() < limit {
                page.first_images.push(record.into_owned());
            }
            page.total += 1;
        }
        Ok(page)
    }

    fn value_counts(&self, values: usize) -> Result<Vec<ValueCounts>, IndexError> {
        let mut counts: BTreeMap<String, HashMap<String, usize>> = BTreeMap::new();
        for record in self.records.iter() {
            for (column, value) in &record?.attributes {
                *counts
                    .entry(column.clone())
                    .or_default()
                    .entry(value.clone())
                    .or_default() += 1;
            }
        }
        Ok(self
            .info
            .columns
            .iter()
            .filter_map(|column| {
                let counted = counts.remove(column)?;
                Some(most_frequent(column, counted.len(), counted, values))
            })
            .collect())
    }

    fn search(&self, query: &[f32], k: usize, predicate: &Predicate, mode: SearchMode) -> Result<Vec<Hit>, IndexError> {
        self.search_matching(query, k, predicate, mode)
    }

    fn search_part(&self, part: usize, query: &[f32], k: usize, predicate: &Predicate) -> Result<Vec<Hit>, IndexError> {
        match self.key_filter(predicate) {
            Some(accept) => IndexContents::search_part(self, part, query, k, Some(&accept)),
            None => IndexContents::search_part(self, part, query, k, None),
        }
    }
}

/// `counts` as [`ValueCounts`]: the `limit` most frequent, ties by value.
pub fn most_frequent(
    column: &str,
    distinct: usize,
    counts: impl IntoIterator<Item = (String, usize)>,
    limit: usize,
) -> ValueCounts {
    let mut values: Vec<(String, usize)> = counts.into_iter().collect();
    values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    values.truncate(limit);
    ValueCounts {
        column: column.to_string(),
        distinct,
        values,
    }
}
