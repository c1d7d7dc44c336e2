//! The shared `VectorIndex` conformance suite (lookbook_index::conformance) against the
//! in-memory implementations: exact search (reopened through the on-disk store) and the
//! HNSW graph (saved and reopened). `lookbook-pgvector` runs the same suite on PostgreSQL.

use lookbook_index::conformance::{Backend, run};
use lookbook_index::{
    ExactIndex, HnswConfig, HnswIndex, IndexContents, IndexError, IndexInfo, IndexReader, IndexWriter, Metric,
    Quantiser, Record, VectorIndex,
};

struct Exact(tempfile::TempDir);

impl Backend for Exact {
    type Index = ExactIndex;
    fn name(&self) -> String {
        "exact".into()
    }
    fn approximate(&self) -> bool {
        false
    }
    fn create(&mut self, dim: usize, metric: Metric) -> Result<ExactIndex, IndexError> {
        Ok(ExactIndex::new(dim, metric))
    }
    /// Through the store: every key and vector committed as an index folder and read back.
    fn reopen(&mut self, index: ExactIndex) -> Result<ExactIndex, IndexError> {
        let mut contents = IndexContents::new(IndexInfo {
            dim: index.dim(),
            metric: index.metric(),
            parts: 0,
            part_dim: 0,
            label_part: false,
            model: "conformance".into(),
            catalog_root: "/".into(),
            columns: Vec::new(),
            ann: None,
            ivf: None,
        });
        for &key in index.keys() {
            let record = Record {
                key,
                item_id: key.to_string(),
                image: format!("{key}.jpg").into(),
                attributes: Default::default(),
                boxes: None,
            };
            contents.upsert(record, index.vector(key).expect("a listed key"), &[])?;
        }
        let dir = self.0.path().join("exact");
        IndexWriter::new(&dir)?.commit(&mut contents)?;
        IndexReader::open(&dir)?.exact_index()
    }
}

struct Hnsw(tempfile::TempDir);

impl Backend for Hnsw {
    type Index = HnswIndex;
    fn name(&self) -> String {
        "hnsw".into()
    }
    fn approximate(&self) -> bool {
        true
    }
    fn create(&mut self, dim: usize, metric: Metric) -> Result<HnswIndex, IndexError> {
        HnswIndex::new(dim, metric, HnswConfig::default(), Quantiser::default())
    }
    /// Saved to a file and loaded back (writable, so the suite can keep changing it).
    fn reopen(&mut self, index: HnswIndex) -> Result<HnswIndex, IndexError> {
        let path = self.0.path().join("graph.usearch");
        index.save(&path)?;
        HnswIndex::open(&path, index.metric(), index.config(), Quantiser::default(), false)
    }
}

#[test]
fn exact_search_passes_the_conformance_suite() {
    run(&mut Exact(tempfile::tempdir().unwrap()));
}

#[test]
fn hnsw_passes_the_conformance_suite() {
    run(&mut Hnsw(tempfile::tempdir().unwrap()));
}
