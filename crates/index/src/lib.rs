//! Vector indexes: embeddings in, nearest neighbours out.
//!
//! [`VectorIndex`] is what search, recommendation and evaluation talk to. [`ExactIndex`] is
//! brute force done well: queries are batched into one matrix product (`matrixmultiply`'s
//! SIMD SGEMM), so a 100k gallery answers thousands of queries a second on one core, and its
//! answers are the ground truth an approximate index is measured against. Two approximate
//! ones for large galleries: [`HnswIndex`], usearch's HNSW graph (optionally i8-quantised),
//! fastest one query at a time; [`IvfIndex`], k-means lists scanned as matrix products,
//! fastest for batches of queries and smallest (i8 residuals). [`store`] keeps
//! an index on disk: [`IndexWriter`] commits generations atomically, [`IndexReader`] verifies them.

pub mod conformance;
mod error;
mod exact;
mod hnsw;
mod ivf;
mod metric;
mod records;
pub mod store;
pub mod synthetic;

pub use error::IndexError;
pub use exact::ExactIndex;
pub use hnsw::{HnswConfig, HnswIndex, Quantiser, Quantization};
pub use ivf::{IvfConfig, IvfIndex};
pub use metric::Metric;
pub use records::Records;
pub use store::{
    ExternalIndex, FloatRows, Gallery, IndexContents, IndexInfo, IndexReader, IndexWriter, ItemsPage, Predicate,
    Record, SearchMode, StepBox, StepBoxes, StoredRow, ValueCounts, most_frequent,
};

/// One neighbour: the key it was added under and its distance to the query (smaller = closer).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub key: u64,
    pub distance: f32,
}

/// A set of keyed vectors of one dimension, searchable by a [`Metric`].
pub trait VectorIndex: Send + Sync {
    fn dim(&self) -> usize;
    fn metric(&self) -> Metric;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Adds or replaces the vector under `key`.
    fn add(&mut self, key: u64, vector: &[f32]) -> Result<(), IndexError>;
    /// Removes `key`; `false` when it was not there. Errors when the index cannot be
    /// changed (a read-only mapping, a database that refused).
    fn remove(&mut self, key: u64) -> Result<bool, IndexError>;
    /// The `k` nearest vectors to each query (`queries` holds them back to back), closest
    /// first, among the keys `filter` accepts. Fewer than `k` only when fewer pass the filter.
    fn search_batch(
        &self,
        queries: &[f32],
        k: usize,
        filter: Option<&(dyn Fn(u64) -> bool + Sync)>,
    ) -> Result<Vec<Vec<Hit>>, IndexError>;
    /// [`VectorIndex::search_batch`] for one query.
    fn search(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<&(dyn Fn(u64) -> bool + Sync)>,
    ) -> Result<Vec<Hit>, IndexError> {
        Ok(self.search_batch(query, k, filter)?.pop().unwrap_or_default())
    }
}

/// A vector an index can take under `key`: `dim` long, every value finite.
pub fn check_vector(dim: usize, key: u64, vector: &[f32]) -> Result<(), IndexError> {
    if vector.len() != dim {
        return Err(IndexError::Dimension {
            expected: dim,
            got: vector.len(),
        });
    }
    if vector.iter().any(|v| !v.is_finite()) {
        return Err(IndexError::NonFinite { key });
    }
    Ok(())
}
