//! What an open index holds, in row order, and how it routes a search: the external index,
//! the HNSW graph or the IVF lists when there is one, exact otherwise.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use super::manifest::{IndexInfo, Record};
use super::rows::{FloatRows, RowMap};
use crate::{ExactIndex, Hit, HnswIndex, IndexError, IvfIndex, Records, VectorIndex, check_vector};

/// Everything an index holds, in row order: `vectors` is `records.len() × dim`, `parts` is
/// `records.len() × parts × part_dim`; `graph`, when there is one, holds the same keys.
#[derive(Debug)]
pub struct IndexContents {
    pub info: IndexInfo,
    pub records: Records,
    pub vectors: FloatRows,
    pub parts: FloatRows,
    /// Row of each key, so an upsert is O(1) rather than a scan.
    /// Built on first use: a mapped open of a million rows should not pay for it up front.
    rows: OnceLock<RowMap>,
    /// The exact index over `vectors`, built by the first exact search and kept (a copy of
    /// the vectors with their norms); forgotten when the rows change.
    exact: OnceLock<ExactIndex>,
    /// One exact index per part (`parts` of them, over `part_dim`-d vectors), built by the
    /// first part search (recommendations) and forgotten when the rows change.
    part_exact: OnceLock<Vec<ExactIndex>>,
    /// Each item's rows, built by the first item lookup and forgotten when the rows change.
    items: OnceLock<ItemRows>,
    /// Kept in step by upsert/remove when it is writable; dropped (and rebuilt by the next
    /// commit) when it is a read-only mapping.
    pub(super) graph: Option<HnswIndex>,
    /// The IVF lists, always in memory and kept in step.
    pub(super) ivf: Option<IvfIndex>,
    /// An index kept elsewhere (PostgreSQL + pgvector) over the same rows, which answers
    /// `Auto` searches instead of the graph or lists; dropped on the first local change
    /// (the rows are written back by replacing its contents).
    external: Option<Arc<dyn ExternalIndex>>,
}

/// A [`VectorIndex`] that lives outside this process and holds the records too, so it can
/// evaluate a [`Predicate`] itself (in SQL) rather than asking about every key.
pub trait ExternalIndex: VectorIndex + std::fmt::Debug {
    /// The `k` nearest rows to `query` that match `predicate`; `k` of them whenever `k` match.
    fn search_matching(&self, query: &[f32], k: usize, predicate: &Predicate) -> Result<Vec<Hit>, IndexError>;
    /// Candidates per search (HNSW ef_search) from now on.
    fn set_expansion_search(&self, ef: usize);
    /// Where it is and how it searches, for messages.
    fn describe(&self) -> String;
}

/// Which records a search may return, in a form a database can evaluate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Predicate {
    /// Every (column, value) pair must match the record's attributes.
    pub attributes: Vec<(String, String)>,
    /// Records of this item are left out (a query's own item).
    pub exclude_item: Option<String>,
}

impl Predicate {
    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty() && self.exclude_item.is_none()
    }

    pub fn accepts(&self, record: &Record) -> bool {
        self.exclude_item.as_ref() != Some(&record.item_id)
            && self.attributes.iter().all(|(c, v)| record.attributes.get(c) == Some(v))
    }
}

/// Equal when they hold the same rows (the graph is derived from the vectors).
impl PartialEq for IndexContents {
    fn eq(&self, other: &Self) -> bool {
        self.info == other.info
            && self.records == other.records
            && self.vectors == other.vectors
            && self.parts == other.parts
    }
}

/// How [`IndexContents::search`] finds neighbours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchMode {
    /// The graph or IVF lists when the index has them, exact otherwise.
    #[default]
    Auto,
    Exact,
}

impl IndexContents {
    pub fn new(info: IndexInfo) -> Self {
        IndexContents {
            info,
            records: Records::default(),
            vectors: Vec::new().into(),
            parts: Vec::new().into(),
            rows: OnceLock::new(),
            exact: OnceLock::new(),
            part_exact: OnceLock::new(),
            items: OnceLock::new(),
            graph: None,
            ivf: None,
            external: None,
        }
    }

    /// Contents read from disk, with their graph or lists (the reader's constructor).
    pub(super) fn read(
        info: IndexInfo,
        records: Records,
        vectors: FloatRows,
        parts: FloatRows,
        graph: Option<HnswIndex>,
        ivf: Option<IvfIndex>,
    ) -> Self {
        IndexContents {
            graph,
            ivf,
            records,
            vectors,
            parts,
            ..IndexContents::new(info)
        }
    }

    /// Lets `external` (an index over the same rows, kept elsewhere) answer `Auto` searches.
    pub fn set_external(&mut self, external: Arc<dyn ExternalIndex>) {
        self.external = Some(external);
    }

    /// The external index answering `Auto` searches, if there is one.
    pub fn external(&self) -> Option<&Arc<dyn ExternalIndex>> {
        self.external.as_ref()
    }

    /// The HNSW graph, when the index has one and it is current.
    pub fn graph(&self) -> Option<&HnswIndex> {
        self.graph.as_ref()
    }

    /// The IVF lists, when the index has them and they are current.
    pub fn ivf(&self) -> Option<&IvfIndex> {
        self.ivf.as_ref()
    }

    /// Sets ef of the graph for later searches (no effect without one).
    pub fn set_expansion_search(&mut self, ef: usize) {
        if let Some(graph) = &mut self.graph {
            graph.set_expansion_search(ef);
        }
        if let Some(external) = &self.external {
            external.set_expansion_search(ef);
        }
    }

    /// Sets how many IVF lists later searches scan (no effect without them).
    pub fn set_probes(&mut self, probes: usize) {
        if let Some(ivf) = &mut self.ivf {
            ivf.set_probes(probes);
        }
    }

    /// The retrieval vector of row `row`.
    pub fn vector_of(&self, row: usize) -> &[f32] {
        &self.vectors[row * self.info.dim..][..self.info.dim]
    }

    /// The graph stays in step with a change only when it can be written; a mapped one is
    /// dropped and the next commit builds a new one.
    fn writable_graph(&mut self) -> Option<&mut HnswIndex> {
        if self.graph.as_ref().is_some_and(HnswIndex::is_mapped) {
            self.graph = None;
        }
        self.graph.as_mut()
    }

    /// Forgets the key → row map and the exact index (rebuilt on next use).
    fn index_rows(&mut self) {
        self.rows = OnceLock::new();
        self.exact = OnceLock::new();
        self.part_exact = OnceLock::new();
        self.items = OnceLock::new();
    }

    /// Each item's rows (read from every record on first use).
    pub(super) fn items(&self) -> Result<&ItemRows, IndexError> {
        if let Some(items) = self.items.get() {
            return Ok(items);
        }
        let items = ItemRows::read(self)?;
        Ok(self.items.get_or_init(|| items))
    }

    /// The first row of `item_id`: from the item map once built, else by a scan of the records
    /// that stops there (a one-off query need not read them all).
    pub(super) fn first_row_of(&self, item_id: &str) -> Result<Option<usize>, IndexError> {
        match self.items.get() {
            Some(items) => Ok(items.rows.get(item_id).and_then(|rows| rows.first().copied())),
            None => self.records.find_item(item_id),
        }
    }

    pub(super) fn rows(&self) -> &RowMap {
        self.rows.get_or_init(|| {
            let mut rows = RowMap::with_capacity_and_hasher(self.records.len(), Default::default());
            rows.extend(self.records.keys().iter().enumerate().map(|(row, key)| (*key, row)));
            rows
        })
    }

    fn rows_mut(&mut self) -> &mut RowMap {
        self.rows();
        self.rows.get_mut().expect("initialised above")
    }

    /// The row of `key`, if it is in the index.
    pub fn row_of(&self, key: u64) -> Option<usize> {
        self.rows().get(&key).copied()
    }

    /// Appends one image, or replaces the row with the same key.
    pub fn upsert(&mut self, record: Record, vector: &[f32], parts: &[f32]) -> Result<(), IndexError> {
        let (dim, part_len) = (self.info.dim, self.info.parts * self.info.part_dim);
        check_vector(dim, record.key, vector)?;
        if parts.len() != part_len {
            return Err(IndexError::Dimension {
                expected: part_len,
                got: parts.len(),
            });
        }
        let key = record.key;
        self.exact = OnceLock::new();
        self.part_exact = OnceLock::new();
        self.items = OnceLock::new();
        self.external = None;
        match self.row_of(key) {
            Some(row) => {
                self.records.set(row, record)?;
                self.vectors.to_mut()[row * dim..][..dim].copy_from_slice(vector);
                self.parts.to_mut()[row * part_len..][..part_len].copy_from_slice(parts);
            }
            None => {
                let row = self.records.len();
                self.rows_mut().insert(key, row);
                self.records.push(record)?;
                self.vectors.to_mut().extend_from_slice(vector);
                self.parts.to_mut().extend_from_slice(parts);
            }
        }
        if let Some(graph) = self.writable_graph()
            && graph.add(key, vector).is_err()
        {
            // Cannot happen for a checked vector; if it does, rebuild rather than diverge.
            self.graph = None;
        }
        if let Some(ivf) = &mut self.ivf
            && ivf.add(key, vector).is_err()
        {
            self.ivf = None;
        }
        Ok(())
    }

    /// Drops the rows `remove` accepts; returns how many went.
    pub fn remove_where(&mut self, remove: impl Fn(&Record) -> bool) -> Result<usize, IndexError> {
        let (dim, part_len) = (self.info.dim, self.info.parts * self.info.part_dim);
        let keep: Vec<bool> = self
            .records
            .iter()
            .map(|r| r.map(|r| !remove(&r)))
            .collect::<Result<_, _>>()?;
        let removed = keep.iter().filter(|k| !**k).count();
        if removed == 0 {
            return Ok(0);
        }
        let gone: Vec<u64> = self
            .records
            .keys()
            .iter()
            .zip(&keep)
            .filter(|(_, k)| !**k)
            .map(|(key, _)| *key)
            .collect();
        self.records.retain_rows(&keep)?;
        let filter = |values: &mut FloatRows, width: usize| {
            if width == 0 {
                return;
            }
            *values = values
                .chunks_exact(width)
                .zip(&keep)
                .filter(|(_, k)| **k)
                .flat_map(|(v, _)| v.iter().copied())
                .collect::<Vec<f32>>()
                .into();
        };
        filter(&mut self.vectors, dim);
        filter(&mut self.parts, part_len);
        self.index_rows();
        if let Some(graph) = self.writable_graph()
            && gone.iter().try_for_each(|&key| graph.remove(key).map(drop)).is_err()
        {
            self.graph = None;
        }
        if let Some(ivf) = &mut self.ivf {
            for &key in &gone {
                ivf.remove(key)?;
            }
        }
        self.external = None;
        Ok(removed)
    }

    /// The retrieval vectors as an exact index (keys = record keys).
    pub fn exact_index(&self) -> Result<ExactIndex, IndexError> {
        let mut index = ExactIndex::new(self.info.dim, self.info.metric);
        for (key, vector) in self
            .records
            .keys()
            .iter()
            .zip(self.vectors.chunks_exact(self.info.dim.max(1)))
        {
            index.add(*key, vector)?;
        }
        Ok(index)
    }

    /// The `k` nearest rows to `query` among the keys `filter` accepts: through the graph
    /// or the IVF lists when there are (and `mode` allows), else exactly.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<&(dyn Fn(u64) -> bool + Sync)>,
        mode: SearchMode,
    ) -> Result<Vec<Hit>, IndexError> {
        Ok(self.search_batch(query, k, filter, mode)?.pop().unwrap_or_default())
    }

    /// [`IndexContents::search`] for queries back to back.
    pub fn search_batch(
        &self,
        queries: &[f32],
        k: usize,
        filter: Option<&(dyn Fn(u64) -> bool + Sync)>,
        mode: SearchMode,
    ) -> Result<Vec<Vec<Hit>>, IndexError> {
        match (&self.graph, &self.ivf, mode) {
            _ if mode == SearchMode::Auto && self.external.is_some() => self
                .external
                .as_ref()
                .expect("checked")
                .search_batch(queries, k, filter),
            (Some(graph), _, SearchMode::Auto) => graph.search_batch(queries, k, filter),
            (None, Some(ivf), SearchMode::Auto) => ivf.search_batch(queries, k, filter),
            _ => {
                if self.exact.get().is_none() {
                    // Two threads racing here build it twice; one copy is kept.
                    let _ = self.exact.set(self.exact_index()?);
                }
                self.exact.get().expect("set above").search_batch(queries, k, filter)
            }
        }
    }

    /// The `k` nearest rows to `query` whose records `predicate` accepts: in the external
    /// index's own terms (SQL) when there is one and `mode` allows, else by key.
    pub fn search_matching(
        &self,
        query: &[f32],
        k: usize,
        predicate: &Predicate,
        mode: SearchMode,
    ) -> Result<Vec<Hit>, IndexError> {
        if let (Some(external), SearchMode::Auto) = (&self.external, mode) {
            return external.search_matching(query, k, predicate);
        }
        match self.key_filter(predicate) {
            Some(accept) => self.search(query, k, Some(&accept), mode),
            None => self.search(query, k, None, mode),
        }
    }

    /// A filter by key for `predicate` (`None` when it accepts everything).
    pub(super) fn key_filter<'a>(&'a self, predicate: &'a Predicate) -> Option<impl Fn(u64) -> bool + Sync + 'a> {
        let accept = move |key: u64| {
            self.row_of(key)
                .and_then(|row| self.records.get(row).ok())
                .is_some_and(|record| predicate.accepts(&record))
        };
        (!predicate.is_empty()).then_some(accept)
    }

    /// The `k` rows whose part `part` is nearest to `query` (a `part_dim` vector), among the
    /// keys `filter` accepts; exact, by the index's metric.
    pub fn search_part(
        &self,
        part: usize,
        query: &[f32],
        k: usize,
        filter: Option<&(dyn Fn(u64) -> bool + Sync)>,
    ) -> Result<Vec<Hit>, IndexError> {
        let (parts, part_dim) = (self.info.parts, self.info.part_dim);
        if part >= parts || query.len() != part_dim {
            return Err(IndexError::Dimension {
                expected: part_dim,
                got: if part >= parts { 0 } else { query.len() },
            });
        }
        if self.part_exact.get().is_none() {
            let mut indexes: Vec<ExactIndex> = (0..parts)
                .map(|_| ExactIndex::new(part_dim, self.info.metric))
                .collect();
            for (key, row_parts) in self
                .records
                .keys()
                .iter()
                .zip(self.parts.chunks_exact(parts * part_dim))
            {
                for (index, vector) in indexes.iter_mut().zip(row_parts.chunks_exact(part_dim)) {
                    index.add(*key, vector)?;
                }
            }
            let _ = self.part_exact.set(indexes);
        }
        self.part_exact.get().expect("set above")[part].search(query, k, filter)
    }

    /// The per-part vectors of row `row`: `parts × part_dim`.
    pub fn parts_of(&self, row: usize) -> &[f32] {
        let len = self.info.parts * self.info.part_dim;
        &self.parts[row * len..][..len]
    }
}

/// Each item's rows in row order, and the items in order of their first row.
#[derive(Debug, Default)]
pub(super) struct ItemRows {
    pub(super) rows: HashMap<String, Vec<usize>>,
    pub(super) order: Vec<String>,
}

impl ItemRows {
    fn read(contents: &IndexContents) -> Result<Self, IndexError> {
        let mut items = ItemRows::default();
        for (row, record) in contents.records.iter().enumerate() {
            let record = record?;
            let rows = items.rows.entry(record.item_id.clone()).or_default();
            if rows.is_empty() {
                items.order.push(record.item_id.clone());
            }
            rows.push(row);
        }
        Ok(items)
    }
}
