//! Synthetic index rows for the PostgreSQL benches: clustered unit vectors (1,000 clusters) and
//! part vectors (50 clusters), the same for a given shape on every run, each row's record from
//! the caller.

use lookbook_index::synthetic::Clusters;
use lookbook_index::{HnswConfig, IndexContents, IndexInfo, Quantization, Record};

/// The HNSW settings the benches build with: M 16, ef_construction 64, searching with `ef`.
pub fn hnsw(ef: usize) -> HnswConfig {
    HnswConfig {
        connectivity: 16,
        expansion_add: 64,
        expansion_search: ef,
        quantization: Quantization::F32,
    }
}

/// `n` rows shaped by `info` (its dims and parts), row `i`'s record from `record(i)`.
pub fn synthetic_rows(info: IndexInfo, n: usize, record: impl Fn(usize) -> Record) -> IndexContents {
    let (dim, parts, part_dim) = (info.dim, info.parts, info.part_dim);
    let vectors = Clusters::new(dim, 1000).sample(n, 0, 1);
    let part_values = Clusters::new(part_dim.max(1), 50).sample(n * parts, 0, 2);
    let mut contents = IndexContents::new(info);
    for i in 0..n {
        let row_parts = &part_values[i * parts * part_dim..][..parts * part_dim];
        contents
            .upsert(record(i), &vectors[i * dim..][..dim], row_parts)
            .expect("synthetic rows");
    }
    contents
}
