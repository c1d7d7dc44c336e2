//! The index on disk: a folder with one `manifest.json` naming the current generation's
//! files, each with its length and XXH3 checksum.
//!
//! ```text
//! INDEX/manifest.json          format, version, generation, dims, metric, model, files
//! INDEX/vectors-000003.f32     n × dim little-endian f32 (the retrieval embeddings)
//! INDEX/parts-000003.f32       n × parts × part_dim (per-part vectors, for recommendations)
//! INDEX/records-000003.jsonl   one JSON object per row: key, item id, image, attributes
//! INDEX/keys-000003.u64        the rows' keys, little-endian (so a mapped open need not parse)
//! INDEX/graph-000003.usearch   the HNSW graph over the vectors (when the index has one)
//! INDEX/lists-000003.ivf        or the inverted-file lists over them (when it has those)
//! ```
//! [`IndexWriter::commit`] writes a new generation's files, fsyncs them and the folder, then
//! swaps `manifest.json` by rename. A run killed at any point leaves the previous manifest
//! and the files it names intact. Old generations are deleted after the swap.
//!
//! Two ways to read: [`IndexReader::open`] reads everything into memory and verifies every
//! checksum (for updating an index, or when it is small); [`IndexReader::open_mapped`] maps
//! the vector files and the graph instead of reading them and checks their lengths only, so
//! a million-image index opens in a fraction of a second ([`IndexReader::verify`] checks
//! the checksums on demand: `lookbook index verify`).

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{BufRead, BufReader, Read, Write};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::{
    ExactIndex, Hit, HnswConfig, HnswIndex, IndexError, IvfConfig, IvfIndex, Metric, Quantiser, Records, VectorIndex,
    check_vector,
};

/// Written into every manifest; a reader refuses other formats and newer versions.
pub const FORMAT: &str = "lookbook-index";
pub const VERSION: u32 = 1;
const MANIFEST: &str = "manifest.json";

/// What the vectors are and where they came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexInfo {
    /// Length of each retrieval embedding.
    pub dim: usize,
    pub metric: Metric,
    /// Per-part vectors per image, and their length (0 and 0 when there are none).
    pub parts: usize,
    pub part_dim: usize,
    /// The model that produced the vectors (e.g. the checkpoint folder), for the record.
    pub model: String,
    /// The catalogue the images came from; image paths in records are relative to it.
    pub catalog_root: PathBuf,
    /// Names of the attribute columns records carry.
    pub columns: Vec<String>,
    /// Build an HNSW graph over the vectors at every commit (none: searches are exact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ann: Option<HnswConfig>,
    /// Or keep inverted-file lists over them (fast for batches of queries); not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ivf: Option<IvfConfig>,
}

/// One indexed image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub key: u64,
    pub item_id: String,
    /// Relative to [`IndexInfo::catalog_root`].
    pub image: PathBuf,
    /// Attribute values by column name (empty values left out).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FileEntry {
    name: String,
    bytes: u64,
    xxh3: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Manifest {
    format: String,
    version: u32,
    generation: u64,
    count: usize,
    info: IndexInfo,
    vectors: FileEntry,
    parts: FileEntry,
    records: FileEntry,
    /// Absent in indexes written before it existed; their records are parsed on open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keys: Option<FileEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    graph: Option<GraphEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lists: Option<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct GraphEntry {
    file: FileEntry,
    /// How the graph's i8 vectors were made (the identity otherwise).
    #[serde(default)]
    quantiser: Quantiser,
}

/// Rows of f32 values, in memory or mapped from a file (read-only until first changed).
pub struct FloatRows(Storage);

enum Storage {
    Owned(Vec<f32>),
    Mapped(memmap2::Mmap),
}

impl FloatRows {
    /// The values, made owned (copied out of the mapping the first time) so they can change.
    pub fn to_mut(&mut self) -> &mut Vec<f32> {
        if let Storage::Mapped(_) = self.0 {
            self.0 = Storage::Owned(self.to_vec());
        }
        match &mut self.0 {
            Storage::Owned(values) => values,
            Storage::Mapped(_) => unreachable!("made owned above"),
        }
    }

    pub fn is_mapped(&self) -> bool {
        matches!(self.0, Storage::Mapped(_))
    }
}

impl Deref for FloatRows {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        match &self.0 {
            Storage::Owned(values) => values,
            // SAFETY: mappings are page-aligned (so f32-aligned), only created on
            // little-endian targets, and their length was checked to be a multiple of 4.
            Storage::Mapped(map) => unsafe { std::slice::from_raw_parts(map.as_ptr().cast::<f32>(), map.len() / 4) },
        }
    }
}

impl From<Vec<f32>> for FloatRows {
    fn from(values: Vec<f32>) -> Self {
        FloatRows(Storage::Owned(values))
    }
}

impl Clone for FloatRows {
    fn clone(&self) -> Self {
        self.to_vec().into()
    }
}

impl PartialEq for FloatRows {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for FloatRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FloatRows({} values{})",
            self.len(),
            if self.is_mapped() { ", mapped" } else { "" }
        )
    }
}

/// Key → row. Keys are already hashes (XXH3 of the image path), so a multiply-shift mix is
/// enough, and several times faster than SipHash for a million of them.
type RowMap = HashMap<u64, usize, BuildHasherDefault<KeyHasher>>;

#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, key: u64) {
        self.0 = (key ^ (key >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

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
    /// Kept in step by upsert/remove when it is writable; dropped (and rebuilt by the next
    /// commit) when it is a read-only mapping.
    graph: Option<HnswIndex>,
    /// The IVF lists, always in memory and kept in step.
    ivf: Option<IvfIndex>,
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
            graph: None,
            ivf: None,
            external: None,
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
    }

    fn rows(&self) -> &RowMap {
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
        let accept = |key: u64| {
            self.row_of(key)
                .and_then(|row| self.records.get(row).ok())
                .is_some_and(|record| predicate.accepts(&record))
        };
        let filter: Option<&(dyn Fn(u64) -> bool + Sync)> = if predicate.is_empty() { None } else { Some(&accept) };
        self.search(query, k, filter, mode)
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

fn io(path: &Path, source: std::io::Error) -> IndexError {
    IndexError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn checksum(bytes: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes))
}

pub(crate) fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Writes `bytes` to `path` and fsyncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    let mut file = File::create(path).map_err(|e| io(path, e))?;
    file.write_all(bytes).map_err(|e| io(path, e))?;
    file.sync_all().map_err(|e| io(path, e))
}

fn sync_dir(dir: &Path) -> Result<(), IndexError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io(dir, e))
}

/// Where a commit stops early, to test that an interrupted write loses nothing.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailPoint {
    AfterVectors,
    BeforeManifest,
}

/// Writes index generations into one folder.
pub struct IndexWriter {
    dir: PathBuf,
    #[doc(hidden)]
    pub fail_at: Option<FailPoint>,
}

impl IndexWriter {
    /// A writer for `dir`, created if missing. An existing index there is replaced only
    /// when [`IndexWriter::commit`] finishes.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, IndexError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        Ok(IndexWriter { dir, fail_at: None })
    }

    fn injected(&self, point: FailPoint) -> Result<(), IndexError> {
        match self.fail_at == Some(point) {
            true => Err(IndexError::Interrupted(format!("{point:?}"))),
            false => Ok(()),
        }
    }

    /// Writes `contents` as the next generation and makes it the current one. With
    /// [`IndexInfo::ann`] set, the graph is saved too: the one `contents` kept in step, or a
    /// new one built on every rayon thread when there is none.
    pub fn commit(&self, contents: &mut IndexContents) -> Result<(), IndexError> {
        let previous = read_manifest(&self.dir).ok();
        let generation = previous.as_ref().map_or(1, |m| m.generation + 1);
        let info = contents.info.clone();
        if info.ann.is_some() && info.ivf.is_some() {
            return Err(IndexError::Invalid(
                "an index keeps an HNSW graph or IVF lists, not both".into(),
            ));
        }
        if contents.vectors.len() != contents.records.len() * info.dim
            || contents.parts.len() != contents.records.len() * info.parts * info.part_dim
        {
            return Err(IndexError::Corrupt {
                path: self.dir.clone(),
                message: "vectors or parts do not match the number of records".into(),
            });
        }
        let name_of = |stem: &str, ext: &str| format!("{stem}-{generation:06}.{ext}");
        let write = |stem: &str, ext: &str, bytes: Vec<u8>| -> Result<FileEntry, IndexError> {
            let name = name_of(stem, ext);
            write_synced(&self.dir.join(&name), &bytes)?;
            Ok(FileEntry {
                name,
                bytes: bytes.len() as u64,
                xxh3: checksum(&bytes),
            })
        };
        let vectors = write("vectors", "f32", f32_bytes(&contents.vectors))?;
        self.injected(FailPoint::AfterVectors)?;
        let parts = write("parts", "f32", f32_bytes(&contents.parts))?;
        let records = write("records", "jsonl", contents.records.to_jsonl())?;
        let keys_bytes: Vec<u8> = contents.records.keys().iter().flat_map(|k| k.to_le_bytes()).collect();
        let keys = write("keys", "u64", keys_bytes)?;
        let graph = match info.ann {
            None => {
                contents.graph = None;
                None
            }
            Some(config) => {
                let current = contents.graph.as_ref().is_some_and(|g| {
                    g.len() == contents.records.len()
                        && g.config().connectivity == config.connectivity
                        && g.config().quantization == config.quantization
                });
                if !current {
                    contents.graph = Some(HnswIndex::build(
                        info.dim,
                        info.metric,
                        config,
                        contents.records.keys(),
                        &contents.vectors,
                    )?);
                }
                let graph = contents.graph.as_ref().expect("built above");
                let name = name_of("graph", "usearch");
                Some(GraphEntry {
                    file: saved_entry(&self.dir, name, |path| graph.save(path))?,
                    quantiser: graph.quantiser().clone(),
                })
            }
        };
        let lists = match info.ivf {
            None => {
                contents.ivf = None;
                None
            }
            Some(config) => {
                let n = contents.records.len();
                // Lists trained on the first few thousand images of a build are too few
                // (and too skewed) for the finished index: retrain when √n has doubled.
                let current = contents.ivf.as_ref().is_some_and(|ivf| {
                    let built = ivf.config();
                    ivf.len() == n
                        && built.quantization == config.quantization
                        && match config.lists {
                            0 => built.lists * 2 >= config.lists_for(n).min(n.max(1)),
                            lists => built.lists == lists.min(n.max(1)),
                        }
                });
                if !current {
                    contents.ivf = Some(IvfIndex::build(
                        info.dim,
                        info.metric,
                        config,
                        contents.records.keys(),
                        &contents.vectors,
                    )?);
                }
                let ivf = contents.ivf.as_mut().expect("built above");
                ivf.set_probes(config.probes);
                let ivf: &IvfIndex = ivf;
                Some(saved_entry(&self.dir, name_of("lists", "ivf"), |path| ivf.save(path))?)
            }
        };
        sync_dir(&self.dir)?;
        self.injected(FailPoint::BeforeManifest)?;
        let manifest = Manifest {
            format: FORMAT.into(),
            version: VERSION,
            generation,
            count: contents.records.len(),
            info,
            vectors,
            parts,
            records,
            keys: Some(keys),
            graph,
            lists,
        };
        let tmp = self.dir.join("manifest.json.tmp");
        write_synced(
            &tmp,
            &serde_json::to_vec_pretty(&manifest).expect("manifest serialises"),
        )?;
        let path = self.dir.join(MANIFEST);
        fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
        sync_dir(&self.dir)?;
        // The new generation is current: older files (and leftovers of interrupted
        // commits) can go. Failing to delete one only wastes space.
        let mut current = vec![&manifest.vectors.name, &manifest.parts.name, &manifest.records.name];
        current.extend(manifest.keys.as_ref().map(|k| &k.name));
        current.extend(manifest.graph.as_ref().map(|g| &g.file.name));
        current.extend(manifest.lists.as_ref().map(|l| &l.name));
        if let Ok(listing) = fs::read_dir(&self.dir) {
            for entry in listing.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let ours = ["vectors-", "parts-", "records-", "keys-", "graph-", "lists-"]
                    .iter()
                    .any(|p| name.starts_with(p));
                if ours && !current.iter().any(|c| **c == name) {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        Ok(())
    }
}

/// Has `save` write `dir/name`, fsyncs it and returns its manifest entry.
fn saved_entry(
    dir: &Path,
    name: String,
    save: impl FnOnce(&Path) -> Result<(), IndexError>,
) -> Result<FileEntry, IndexError> {
    let path = dir.join(&name);
    save(&path)?;
    File::open(&path).and_then(|f| f.sync_all()).map_err(|e| io(&path, e))?;
    let (bytes, xxh3) = file_checksum(&path)?;
    Ok(FileEntry { name, bytes, xxh3 })
}

/// Length and XXH3 of a file, read in blocks.
fn file_checksum(path: &Path) -> Result<(u64, String), IndexError> {
    let mut file = File::open(path).map_err(|e| io(path, e))?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let read = file.read(&mut buffer).map_err(|e| io(path, e))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        total += read as u64;
    }
    Ok((total, format!("{:016x}", hasher.digest())))
}

fn read_manifest(dir: &Path) -> Result<Manifest, IndexError> {
    let path = dir.join(MANIFEST);
    let text = fs::read(&path).map_err(|e| io(&path, e))?;
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| IndexError::Corrupt {
        path: path.clone(),
        message: e.to_string(),
    })?;
    if manifest.format != FORMAT {
        return Err(IndexError::Corrupt {
            path,
            message: format!("not a lookbook index (format `{}`)", manifest.format),
        });
    }
    if manifest.version > VERSION {
        return Err(IndexError::Corrupt {
            path,
            message: format!(
                "format version {} is newer than this lookbook reads ({VERSION})",
                manifest.version
            ),
        });
    }
    Ok(manifest)
}

/// Reads the current generation of an index folder.
pub struct IndexReader;

/// A file of the manifest, checked against its entry: the length always, the checksum when
/// `verify` (reading the whole file).
fn check_file(dir: &Path, entry: &FileEntry, verify: bool) -> Result<PathBuf, IndexError> {
    let path = dir.join(&entry.name);
    let bytes = match verify {
        true => {
            let (bytes, xxh3) = file_checksum(&path)?;
            if xxh3 != entry.xxh3 {
                return Err(IndexError::Corrupt {
                    path,
                    message: format!(
                        "{bytes} bytes with checksum {xxh3}, the manifest says {} bytes with {}",
                        entry.bytes, entry.xxh3
                    ),
                });
            }
            bytes
        }
        false => fs::metadata(&path).map_err(|e| io(&path, e))?.len(),
    };
    if bytes != entry.bytes {
        return Err(IndexError::Corrupt {
            path,
            message: format!("{bytes} bytes, the manifest says {}", entry.bytes),
        });
    }
    Ok(path)
}

fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// A float file, read (and checksummed) or mapped.
fn float_rows(dir: &Path, entry: &FileEntry, mapped: bool) -> Result<FloatRows, IndexError> {
    let path = check_file(dir, entry, false)?;
    if !entry.bytes.is_multiple_of(4) {
        return Err(IndexError::Corrupt {
            path,
            message: "not a whole number of f32 values".into(),
        });
    }
    if mapped && cfg!(target_endian = "little") && entry.bytes > 0 {
        let file = File::open(&path).map_err(|e| io(&path, e))?;
        // SAFETY: index files are written once under a generation's name and never
        // modified in place, only deleted after a newer manifest is in place.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| io(&path, e))?;
        return Ok(FloatRows(Storage::Mapped(map)));
    }
    let bytes = fs::read(&path).map_err(|e| io(&path, e))?;
    if checksum(&bytes) != entry.xxh3 {
        return Err(IndexError::Corrupt {
            path,
            message: format!(
                "{} bytes with checksum {}, the manifest says {} bytes with {}",
                bytes.len(),
                checksum(&bytes),
                entry.bytes,
                entry.xxh3
            ),
        });
    }
    Ok(floats(&bytes).into())
}

impl IndexReader {
    /// Reads the index into memory, verifying every checksum; the graph is loaded writable,
    /// so upserts and removals keep it in step.
    pub fn open(dir: impl AsRef<Path>) -> Result<IndexContents, IndexError> {
        Self::read(dir.as_ref(), false)
    }

    /// Maps the vector files and the graph instead of reading them (checking lengths, not
    /// checksums): fast to open, shared between processes, read-only until changed.
    pub fn open_mapped(dir: impl AsRef<Path>) -> Result<IndexContents, IndexError> {
        Self::read(dir.as_ref(), true)
    }

    /// Checks every file's length and checksum; the error names the first that differs.
    pub fn verify(dir: impl AsRef<Path>) -> Result<(), IndexError> {
        let dir = dir.as_ref();
        let manifest = read_manifest(dir)?;
        for entry in [&manifest.vectors, &manifest.parts, &manifest.records]
            .into_iter()
            .chain(manifest.keys.as_ref())
            .chain(manifest.graph.as_ref().map(|g| &g.file))
            .chain(manifest.lists.as_ref())
        {
            check_file(dir, entry, true)?;
        }
        Ok(())
    }

    fn read(dir: &Path, mapped: bool) -> Result<IndexContents, IndexError> {
        let manifest = read_manifest(dir)?;
        let vectors = float_rows(dir, &manifest.vectors, mapped)?;
        let parts = float_rows(dir, &manifest.parts, mapped)?;
        let records_path = check_file(dir, &manifest.records, false)?;
        let records = match (
            &manifest.keys,
            mapped && cfg!(target_endian = "little") && manifest.records.bytes > 0,
        ) {
            (Some(keys_entry), true) => {
                let keys_path = check_file(dir, keys_entry, false)?;
                let keys_bytes = fs::read(&keys_path).map_err(|e| io(&keys_path, e))?;
                if checksum(&keys_bytes) != keys_entry.xxh3 {
                    return Err(IndexError::Corrupt {
                        path: keys_path,
                        message: format!(
                            "checksum {}, the manifest says {}",
                            checksum(&keys_bytes),
                            keys_entry.xxh3
                        ),
                    });
                }
                let keys: Vec<u64> = keys_bytes
                    .chunks_exact(8)
                    .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
                    .collect();
                let file = File::open(&records_path).map_err(|e| io(&records_path, e))?;
                // SAFETY: as for the vector files: written once, never modified in place.
                let text = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| io(&records_path, e))?;
                Records::lazy(text, keys, &records_path)?
            }
            _ => {
                let records_bytes = fs::read(&records_path).map_err(|e| io(&records_path, e))?;
                if checksum(&records_bytes) != manifest.records.xxh3 {
                    return Err(IndexError::Corrupt {
                        path: records_path,
                        message: format!(
                            "checksum {}, the manifest says {}",
                            checksum(&records_bytes),
                            manifest.records.xxh3
                        ),
                    });
                }
                let mut records = Vec::with_capacity(manifest.count);
                for (line_no, line) in BufReader::new(records_bytes.as_slice()).lines().enumerate() {
                    let line = line.map_err(|e| io(&records_path, e))?;
                    records.push(serde_json::from_str(&line).map_err(|e| IndexError::Corrupt {
                        path: records_path.clone(),
                        message: format!("line {}: {e}", line_no + 1),
                    })?);
                }
                Records::parsed(records)
            }
        };
        let info = manifest.info;
        if records.len() != manifest.count
            || vectors.len() != records.len() * info.dim
            || parts.len() != records.len() * info.parts * info.part_dim
        {
            return Err(IndexError::Corrupt {
                path: dir.join(MANIFEST),
                message: format!(
                    "{} records, {} vector floats, {} part floats disagree",
                    records.len(),
                    vectors.len(),
                    parts.len()
                ),
            });
        }
        let graph = match (&manifest.graph, info.ann) {
            (Some(entry), Some(config)) => {
                let path = check_file(dir, &entry.file, !mapped)?;
                let graph = HnswIndex::open(&path, info.metric, config, entry.quantiser.clone(), mapped)?;
                if graph.len() != records.len() || graph.dim() != info.dim {
                    return Err(IndexError::Corrupt {
                        path,
                        message: format!(
                            "a graph of {} {}-d vectors for {} records of {}-d",
                            graph.len(),
                            graph.dim(),
                            records.len(),
                            info.dim
                        ),
                    });
                }
                Some(graph)
            }
            _ => None,
        };
        let ivf = match (&manifest.lists, info.ivf) {
            (Some(entry), Some(config)) => {
                // Read, not mapped (the lists change on every add), and checked as read.
                let path = check_file(dir, entry, !mapped)?;
                let ivf = IvfIndex::open(&path, config)?;
                if ivf.len() != records.len() || ivf.dim() != info.dim || ivf.metric() != info.metric {
                    return Err(IndexError::Corrupt {
                        path,
                        message: format!(
                            "IVF lists of {} {}-d {} vectors for {} records of {}-d {}",
                            ivf.len(),
                            ivf.dim(),
                            ivf.metric(),
                            records.len(),
                            info.dim,
                            info.metric
                        ),
                    });
                }
                Some(ivf)
            }
            _ => None,
        };
        let contents = IndexContents {
            info,
            records,
            vectors,
            parts,
            rows: OnceLock::new(),
            exact: OnceLock::new(),
            part_exact: OnceLock::new(),
            graph,
            ivf,
            external: None,
        };
        // A mapped open leaves this to `verify` (or the first lookup) to stay fast.
        if !mapped && contents.rows().len() != contents.records.len() {
            return Err(IndexError::Corrupt {
                path: records_path,
                message: "a key appears on more than one row".into(),
            });
        }
        Ok(contents)
    }
}
