//! Exact k-nearest-neighbour search: every query against every vector, as matrix products.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use rayon::prelude::*;

use crate::{Hit, IndexError, Metric, VectorIndex, check_vector};

/// Gallery rows per matrix product: the query block's dot products with one tile
/// (queries × TILE floats) stay in cache while the top-k heaps read them.
const TILE: usize = 2048;
/// Queries per task: one SGEMM of this many rows per tile.
const QUERY_BLOCK: usize = 64;
/// Up to this many queries in a block go through `gemm`'s matrix-vector path.
const SMALL_BATCH: usize = 4;

/// Brute-force search over vectors held row by row in memory.
#[derive(Debug, Clone)]
pub struct ExactIndex {
    dim: usize,
    metric: Metric,
    keys: Vec<u64>,
    /// Row `i` belongs to `keys[i]`; L2-normalised when the metric is cosine.
    vectors: Vec<f32>,
    /// ‖row‖² per row (the Euclidean expansion needs it).
    norms: Vec<f32>,
    rows: HashMap<u64, usize>,
}

/// A heap entry ordered by distance (the largest on top, to be evicted first).
#[derive(PartialEq)]
pub(crate) struct Candidate(pub(crate) Hit);

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        // Ties broken by key so results are deterministic.
        self.0
            .distance
            .total_cmp(&other.0.distance)
            .then(self.0.key.cmp(&other.0.key))
    }
}

pub(crate) fn squared_norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum()
}

impl ExactIndex {
    pub fn new(dim: usize, metric: Metric) -> Self {
        ExactIndex {
            dim,
            metric,
            keys: Vec::new(),
            vectors: Vec::new(),
            norms: Vec::new(),
            rows: HashMap::new(),
        }
    }

    /// Keys in row order.
    pub fn keys(&self) -> &[u64] {
        &self.keys
    }

    /// The stored vector of `key` (normalised when the metric is cosine).
    pub fn vector(&self, key: u64) -> Option<&[f32]> {
        self.rows
            .get(&key)
            .map(|&row| &self.vectors[row * self.dim..][..self.dim])
    }

    fn prepare(&self, key: u64, vector: &[f32]) -> Result<Vec<f32>, IndexError> {
        check_vector(self.dim, key, vector)?;
        let mut v = vector.to_vec();
        if self.metric == Metric::Cosine {
            let norm = squared_norm(&v).sqrt();
            if norm > 0.0 {
                v.iter_mut().for_each(|x| *x /= norm);
            }
        }
        Ok(v)
    }

    /// Top-`k` of one block of queries against every row.
    fn search_block(&self, queries: &[f32], k: usize, filter: Option<&(dyn Fn(u64) -> bool + Sync)>) -> Vec<Vec<Hit>> {
        let (dim, m) = (self.dim, queries.len() / self.dim);
        let query_norms: Vec<f32> = queries.chunks_exact(dim).map(squared_norm).collect();
        let mut heaps: Vec<BinaryHeap<Candidate>> = (0..m).map(|_| BinaryHeap::with_capacity(k + 1)).collect();
        let mut dots = vec![0.0f32; m * TILE];
        for start in (0..self.keys.len()).step_by(TILE) {
            let n = TILE.min(self.keys.len() - start);
            // dots[m × n] = queries[m × dim] · rowsᵀ[dim × n]
            let rows = &self.vectors[start * dim..][..n * dim];
            dot_products(queries, m, rows, n, dim, &mut dots[..m * n]);
            for (q, heap) in heaps.iter_mut().enumerate() {
                for (j, &dot) in dots[q * n..][..n].iter().enumerate() {
                    let row = start + j;
                    let distance = match self.metric {
                        Metric::Euclidean => (query_norms[q] - 2.0 * dot + self.norms[row]).max(0.0),
                        Metric::Cosine => 1.0 - dot,
                    };
                    offer(heap, k, distance, || self.keys[row], filter);
                }
            }
        }
        heaps
            .into_iter()
            .map(|heap| {
                let mut hits: Vec<Hit> = heap.into_sorted_vec().into_iter().map(|c| c.0).collect();
                if self.metric == Metric::Euclidean {
                    hits.iter_mut().for_each(|h| h.distance = h.distance.sqrt());
                }
                hits
            })
            .collect()
    }
}

impl VectorIndex for ExactIndex {
    fn dim(&self) -> usize {
        self.dim
    }

    fn metric(&self) -> Metric {
        self.metric
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn add(&mut self, key: u64, vector: &[f32]) -> Result<(), IndexError> {
        let v = self.prepare(key, vector)?;
        let norm = squared_norm(&v);
        match self.rows.get(&key) {
            Some(&row) => {
                self.vectors[row * self.dim..][..self.dim].copy_from_slice(&v);
                self.norms[row] = norm;
            }
            None => {
                self.rows.insert(key, self.keys.len());
                self.keys.push(key);
                self.vectors.extend_from_slice(&v);
                self.norms.push(norm);
            }
        }
        Ok(())
    }

    fn remove(&mut self, key: u64) -> Result<bool, IndexError> {
        let Some(row) = self.rows.remove(&key) else {
            return Ok(false);
        };
        // Move the last row into the hole.
        let last = self.keys.len() - 1;
        if row != last {
            let moved = self.keys[last];
            self.keys[row] = moved;
            self.norms[row] = self.norms[last];
            self.vectors
                .copy_within(last * self.dim..(last + 1) * self.dim, row * self.dim);
            self.rows.insert(moved, row);
        }
        self.keys.pop();
        self.norms.pop();
        self.vectors.truncate(last * self.dim);
        Ok(true)
    }

    fn search_batch(
        &self,
        queries: &[f32],
        k: usize,
        filter: Option<&(dyn Fn(u64) -> bool + Sync)>,
    ) -> Result<Vec<Vec<Hit>>, IndexError> {
        if self.dim == 0 || !queries.len().is_multiple_of(self.dim) {
            return Err(IndexError::Dimension {
                expected: self.dim,
                got: queries.len() % self.dim,
            });
        }
        let prepared: Vec<f32> = match self.metric {
            Metric::Euclidean => queries.to_vec(),
            Metric::Cosine => queries
                .chunks_exact(self.dim)
                .flat_map(|q| {
                    let norm = squared_norm(q).sqrt();
                    q.iter().map(move |x| if norm > 0.0 { x / norm } else { *x })
                })
                .collect(),
        };
        if k == 0 || self.keys.is_empty() {
            return Ok(vec![Vec::new(); queries.len() / self.dim]);
        }
        Ok(prepared
            .par_chunks(QUERY_BLOCK * self.dim)
            .flat_map_iter(|block| self.search_block(block, k, filter))
            .collect())
    }
}

/// Keeps `heap` the `k` closest seen: a candidate at `distance` (key from `key`, asked only
/// when it would make the cut, so filters run on few rows) goes in if `filter` accepts it.
#[inline]
pub(crate) fn offer(
    heap: &mut BinaryHeap<Candidate>,
    k: usize,
    distance: f32,
    key: impl FnOnce() -> u64,
    filter: Option<&(dyn Fn(u64) -> bool + Sync)>,
) {
    if heap.len() == k && heap.peek().is_some_and(|worst| distance >= worst.0.distance) {
        return;
    }
    let key = key();
    if filter.is_some_and(|accept| !accept(key)) {
        return;
    }
    heap.push(Candidate(Hit { key, distance }));
    if heap.len() > k {
        heap.pop();
    }
}

/// `out[m × n] = queries[m × dim] · rowsᵀ[dim × n]` (all row-major).
pub(crate) fn dot_products(queries: &[f32], m: usize, rows: &[f32], n: usize, dim: usize, out: &mut [f32]) {
    assert!(queries.len() >= m * dim && rows.len() >= n * dim && out.len() >= m * n);
    if m <= SMALL_BATCH {
        // A few queries: matrix-vector products. matrixmultiply would copy (pack)
        // the whole tile for each call, which costs more than the arithmetic here.
        // SAFETY: the slices hold m×dim, n×dim and m×n floats at the strides given.
        unsafe {
            gemm::gemm(
                m,
                n,
                dim,
                out.as_mut_ptr(),
                1,
                n as isize,
                false,
                queries.as_ptr(),
                1,
                dim as isize,
                rows.as_ptr(),
                dim as isize,
                1,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    } else {
        // SAFETY: as above.
        unsafe {
            matrixmultiply::sgemm(
                m,
                dim,
                n,
                1.0,
                queries.as_ptr(),
                dim as isize,
                1,
                rows.as_ptr(),
                1,
                dim as isize,
                0.0,
                out.as_mut_ptr(),
                n as isize,
                1,
            );
        }
    }
}
