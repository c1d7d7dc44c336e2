//! One test suite for every [`VectorIndex`]: the in-memory exact index, the HNSW graph, the
//! IVF lists, and indexes kept elsewhere (PostgreSQL + pgvector, in `lookbook-pgvector`).
//! Each implementation's tests call [`run`] with a [`Backend`] that makes and reopens its
//! kind of index; a failure panics with the backend's name and what differed.
//!
//! What it checks, for both metrics where it matters:
//! - exact backends answer exactly as [`ExactIndex`] (same keys in the same order,
//!   distances within 1e-4); approximate ones reach recall@10 ≥ 0.95 on clustered data and
//!   report true distances, closest first;
//! - a batch answers as its queries one by one;
//! - filters: every hit passes; k hits when k pass; a filter only 3 keys pass returns those 3;
//! - add replaces a key's vector; remove takes a key out of every answer and says whether it
//!   was there; `len` follows;
//! - closed and reopened, the index answers as before;
//! - a vector of the wrong length or with a NaN is refused; an empty index answers nothing.

use crate::synthetic::Clusters;
use crate::{ExactIndex, Hit, IndexError, Metric, VectorIndex};

/// How a test makes and reopens one kind of index.
pub trait Backend {
    type Index: VectorIndex;
    /// Named in failure messages.
    fn name(&self) -> String;
    /// Approximate backends are held to recall; exact ones to identical answers.
    fn approximate(&self) -> bool;
    /// A new, empty index.
    fn create(&mut self, dim: usize, metric: Metric) -> Result<Self::Index, IndexError>;
    /// `index` closed and opened again from wherever it keeps its data (for an in-memory
    /// index: written out and read back).
    fn reopen(&mut self, index: Self::Index) -> Result<Self::Index, IndexError>;
}

const DIM: usize = 32;
const N: usize = 1500;
const QUERIES: usize = 40;
const K: usize = 10;

/// Keys that are neither row numbers nor contiguous, so an index that confuses them fails.
fn key_of(row: usize) -> u64 {
    row as u64 * 3 + 1_000_000_007
}

fn data() -> (Vec<f32>, Vec<f32>) {
    let clusters = Clusters::new(DIM, 15);
    (clusters.sample(N, 7, 1), clusters.sample(QUERIES, 7, 2))
}

fn fill<B: Backend>(backend: &mut B, metric: Metric, vectors: &[f32]) -> (B::Index, ExactIndex) {
    let name = backend.name();
    let mut index = backend
        .create(DIM, metric)
        .unwrap_or_else(|e| panic!("{name}: create: {e}"));
    let mut reference = ExactIndex::new(DIM, metric);
    for (row, vector) in vectors.chunks_exact(DIM).enumerate() {
        index
            .add(key_of(row), vector)
            .unwrap_or_else(|e| panic!("{name}: add: {e}"));
        reference.add(key_of(row), vector).expect("reference add");
    }
    assert_eq!(index.len(), N, "{name}: len after {N} adds");
    (index, reference)
}

/// Runs every check against `backend`.
pub fn run<B: Backend>(backend: &mut B) {
    let (vectors, queries) = data();
    for metric in [Metric::Euclidean, Metric::Cosine] {
        let (index, reference) = fill(backend, metric, &vectors);
        compare(backend, &index, &reference, &queries, None, "unfiltered");
        batch_equals_single(backend, &index, &queries);
        filters(backend, &index, &reference, &queries);
        let index = backend
            .reopen(index)
            .unwrap_or_else(|e| panic!("{}: reopen: {e}", backend.name()));
        assert_eq!(index.len(), N, "{}: len after reopen", backend.name());
        compare(backend, &index, &reference, &queries, None, "reopened");
        if metric == Metric::Euclidean {
            add_and_remove(backend, index, reference, &vectors, &queries);
        }
    }
    refusals(backend);
}

fn recall(found: &[Hit], truth: &[Hit]) -> f64 {
    let hits = found.iter().filter(|h| truth.iter().any(|t| t.key == h.key)).count();
    hits as f64 / truth.len().max(1) as f64
}

/// Distances agree to 1e-4 relative, plus 1e-3 absolute: a matrix-product distance near 0
/// is √(|q|² + |v|² − 2q·v), which loses ~√ε to cancellation.
fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-4 * a.abs().max(b.abs()) + 1e-3
}

/// The distance itself, in f64.
fn true_distance(metric: Metric, query: &[f32], vector: &[f32]) -> f32 {
    let dot: f64 = query.iter().zip(vector).map(|(a, b)| *a as f64 * *b as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    match metric {
        Metric::Euclidean => query
            .iter()
            .zip(vector)
            .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
            .sum::<f64>()
            .sqrt() as f32,
        Metric::Cosine => (1.0 - dot / (norm(query) * norm(vector)).max(f64::MIN_POSITIVE)) as f32,
    }
}

/// `index`'s answers against the reference's: identical for an exact backend, recall@10 ≥
/// 0.95 (0.90 under a filter) for an approximate one; distances true and ascending always.
fn compare<B: Backend, I: VectorIndex>(
    backend: &B,
    index: &I,
    reference: &ExactIndex,
    queries: &[f32],
    filter: Option<&(dyn Fn(u64) -> bool + Sync)>,
    what: &str,
) {
    let name = backend.name();
    let mut recalls = 0.0;
    for (q, query) in queries.chunks_exact(DIM).enumerate() {
        let found = index
            .search(query, K, filter)
            .unwrap_or_else(|e| panic!("{name}: {what} search: {e}"));
        let truth = reference.search(query, K, filter).expect("reference search");
        assert_eq!(
            found.len(),
            truth.len(),
            "{name}: {what}: query {q} got {} hits",
            found.len()
        );
        for pair in found.windows(2) {
            assert!(
                pair[0].distance <= pair[1].distance + 1e-6,
                "{name}: {what}: query {q} not closest first"
            );
        }
        for hit in &found {
            if let Some(accept) = filter {
                assert!(
                    accept(hit.key),
                    "{name}: {what}: query {q} returned key {} the filter refuses",
                    hit.key
                );
            }
            let vector = reference
                .vector(hit.key)
                .unwrap_or_else(|| panic!("{name}: unknown key {}", hit.key));
            let truth = true_distance(reference.metric(), query, vector);
            assert!(
                close(truth, hit.distance),
                "{name}: {what}: query {q} key {} at {} (true {truth})",
                hit.key,
                hit.distance,
            );
        }
        if backend.approximate() {
            recalls += recall(&found, &truth);
        } else {
            let keys: Vec<u64> = found.iter().map(|h| h.key).collect();
            let truth_keys: Vec<u64> = truth.iter().map(|h| h.key).collect();
            assert_eq!(keys, truth_keys, "{name}: {what}: query {q}: exact answers differ");
        }
    }
    if backend.approximate() {
        let mean = recalls / (queries.len() / DIM) as f64;
        let floor = if filter.is_some() { 0.90 } else { 0.95 };
        assert!(mean >= floor, "{name}: {what}: recall@{K} {mean:.3} < {floor}");
    }
}

fn batch_equals_single<B: Backend, I: VectorIndex>(backend: &B, index: &I, queries: &[f32]) {
    let name = backend.name();
    let batch = index
        .search_batch(queries, K, None)
        .unwrap_or_else(|e| panic!("{name}: batch: {e}"));
    assert_eq!(batch.len(), queries.len() / DIM, "{name}: one answer per query");
    for (query, answer) in queries.chunks_exact(DIM).zip(&batch) {
        let single = index.search(query, K, None).expect("search");
        let (a, b): (Vec<u64>, Vec<u64>) = (
            answer.iter().map(|h| h.key).collect(),
            single.iter().map(|h| h.key).collect(),
        );
        assert_eq!(a, b, "{name}: a batch answers as single queries");
    }
}

fn filters<B: Backend, I: VectorIndex>(backend: &B, index: &I, reference: &ExactIndex, queries: &[f32]) {
    let name = backend.name();
    let fifth = |key: u64| ((key - key_of(0)) / 3).is_multiple_of(5);
    compare(backend, index, reference, queries, Some(&fifth), "1 in 5 filter");
    let few = [key_of(3), key_of(700), key_of(1499)];
    let only_few = |key: u64| few.contains(&key);
    for query in queries.chunks_exact(DIM).take(5) {
        let found = index.search(query, K, Some(&only_few)).expect("search");
        let mut keys: Vec<u64> = found.iter().map(|h| h.key).collect();
        keys.sort_unstable();
        assert_eq!(keys, few, "{name}: a filter only 3 keys pass returns those 3");
    }
    let none = |_: u64| false;
    let found = index.search(&queries[..DIM], K, Some(&none)).expect("search");
    assert!(found.is_empty(), "{name}: a filter nothing passes returns nothing");
}

fn add_and_remove<B: Backend>(
    backend: &mut B,
    mut index: B::Index,
    mut reference: ExactIndex,
    vectors: &[f32],
    queries: &[f32],
) {
    let name = backend.name();
    // Replace: key 5 takes the first query's vector, so it is that query's nearest at 0.
    let query = &queries[..DIM];
    index.add(key_of(5), query).expect("replace");
    reference.add(key_of(5), query).expect("reference replace");
    assert_eq!(index.len(), N, "{name}: a replace does not grow the index");
    let top = index.search(query, 1, None).expect("search");
    assert_eq!(
        top.first().map(|h| h.key),
        Some(key_of(5)),
        "{name}: the replaced vector is found"
    );
    assert!(
        top[0].distance.abs() < 1e-3,
        "{name}: at distance 0, got {}",
        top[0].distance
    );
    // Remove: every tenth key goes; none comes back; removing again says it was not there.
    let gone: Vec<u64> = (0..N).step_by(10).map(key_of).collect();
    for &key in &gone {
        assert!(index.remove(key).expect("remove"), "{name}: remove {key} said absent");
        reference.remove(key).expect("reference remove");
    }
    assert!(
        !index.remove(gone[0]).expect("remove"),
        "{name}: a second remove says absent"
    );
    assert!(
        !index.remove(42).expect("remove"),
        "{name}: removing an unknown key says absent"
    );
    assert_eq!(index.len(), N - gone.len(), "{name}: len after removes");
    compare(backend, &index, &reference, queries, None, "after removes");
    // Add back one removed key with a new vector: it is found again.
    index.add(gone[1], &vectors[..DIM]).expect("add back");
    reference.add(gone[1], &vectors[..DIM]).expect("reference add back");
    let found = index.search(&vectors[..DIM], 2, None).expect("search");
    assert!(
        found.iter().any(|h| h.key == gone[1]),
        "{name}: a key added back is found"
    );
    let index = backend.reopen(index).expect("reopen after changes");
    assert_eq!(index.len(), N - gone.len() + 1, "{name}: changes survive a reopen");
    compare(backend, &index, &reference, queries, None, "changed and reopened");
}

fn refusals<B: Backend>(backend: &mut B) {
    let name = backend.name();
    let mut index = backend.create(DIM, Metric::Euclidean).expect("create");
    assert!(index.is_empty(), "{name}: a new index is empty");
    let answer = index.search(&[0.5; DIM], K, None).expect("search of an empty index");
    assert!(answer.is_empty(), "{name}: an empty index answers nothing");
    assert!(
        matches!(index.add(1, &[1.0; DIM - 1]), Err(IndexError::Dimension { .. })),
        "{name}: a short vector is refused"
    );
    let mut nan = vec![0.1; DIM];
    nan[3] = f32::NAN;
    assert!(
        matches!(index.add(2, &nan), Err(IndexError::NonFinite { key: 2 })),
        "{name}: a NaN is refused"
    );
    assert!(
        matches!(
            index.search(&[1.0; DIM + 1], K, None),
            Err(IndexError::Dimension { .. })
        ),
        "{name}: a query of the wrong length is refused"
    );
    assert!(index.is_empty(), "{name}: refused vectors leave nothing behind");
}
