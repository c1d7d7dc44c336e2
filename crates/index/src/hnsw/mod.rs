//! Approximate k-nearest-neighbour search: an HNSW graph from `usearch`.
//!
//! usearch was chosen over hnsw_rs (issue 4): similar recall, a third of the memory, deletes,
//! predicate filters, and `view()` — a saved graph is memory-mapped, not read, so a
//! million-vector index opens in a fraction of a second.
//!
//! Vectors can be stored as f32, f16 or i8. For i8 this module quantises itself
//! ([`Quantiser`]): it subtracts the mean of the vectors the graph was built from (Euclidean
//! distance does not change) and scales by `127 / max |x − mean|`, rather than usearch's
//! fixed `x × 127`, which assumes components near ±1. Real embeddings are nothing like
//! that: a 256-d unit vector's components are ~0.06, and the seed model's H&M embeddings
//! agree to two or three decimals (mean cosine 0.997 between two of them) — all the information
//! is in small differences around a common direction, which a fixed scale rounds away.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use usearch::ffi::{IndexOptions, MetricKind, ScalarKind};

mod file;

use crate::{Hit, IndexError, Metric, VectorIndex, check_vector};

/// How the graph stores each vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Quantization {
    #[default]
    F32,
    F16,
    I8,
}

impl std::str::FromStr for Quantization {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "f32" => Ok(Quantization::F32),
            "f16" => Ok(Quantization::F16),
            "i8" | "int8" => Ok(Quantization::I8),
            _ => Err(format!("`{text}`: expected f32, f16 or i8")),
        }
    }
}

impl std::fmt::Display for Quantization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Quantization::F32 => "f32",
            Quantization::F16 => "f16",
            Quantization::I8 => "i8",
        })
    }
}

/// Graph parameters. The defaults are the ones issue 4 measured (M 16, ef_construction 64).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HnswConfig {
    /// Neighbours per node (M); level 0 keeps twice as many.
    pub connectivity: usize,
    /// Candidate list while inserting (ef_construction): build time against recall.
    pub expansion_add: usize,
    /// Candidate list while searching (ef): speed against recall; can change after building.
    pub expansion_search: usize,
    pub quantization: Quantization,
}

impl Default for HnswConfig {
    fn default() -> Self {
        HnswConfig {
            connectivity: 16,
            expansion_add: 64,
            expansion_search: 64,
            quantization: Quantization::F32,
        }
    }
}

/// An HNSW graph over keyed vectors.
pub struct HnswIndex {
    graph: usearch::Index,
    dim: usize,
    metric: Metric,
    config: HnswConfig,
    /// i8 only.
    quantiser: Quantiser,
    /// Opened with `view`: the graph lives in a read-only mapping and cannot change.
    mapped: bool,
}

impl std::fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswIndex")
            .field("dim", &self.dim)
            .field("metric", &self.metric)
            .field("config", &self.config)
            .field("len", &self.graph.size())
            .finish()
    }
}

fn native(error: impl std::fmt::Display) -> IndexError {
    IndexError::Native(error.to_string())
}

/// How f32 vectors become i8: `round((x − centre) × scale)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantiser {
    /// Subtracted first (empty: nothing); only for Euclidean distance, which it preserves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub centre: Vec<f32>,
    pub scale: f32,
}

impl Default for Quantiser {
    fn default() -> Self {
        Quantiser {
            centre: Vec::new(),
            scale: 1.0,
        }
    }
}

impl Quantiser {
    /// Fitted to `vectors` (rows of `dim`): their mean (Euclidean only) and the scale that
    /// maps the largest remaining magnitude to 127.
    pub fn fit(vectors: &[f32], dim: usize, metric: Metric) -> Self {
        let rows = vectors.len() / dim.max(1);
        let centre: Vec<f32> = match (metric, rows) {
            (Metric::Euclidean, 1..) => {
                let mut sum = vec![0.0f64; dim];
                for row in vectors.chunks_exact(dim) {
                    sum.iter_mut().zip(row).for_each(|(s, x)| *s += *x as f64);
                }
                sum.iter().map(|s| (s / rows as f64) as f32).collect()
            }
            _ => Vec::new(),
        };
        let max = vectors.chunks_exact(dim.max(1)).fold(0.0f32, |m, row| {
            row.iter()
                .enumerate()
                .fold(m, |m, (i, x)| m.max((x - centre.get(i).copied().unwrap_or(0.0)).abs()))
        });
        Quantiser {
            centre,
            scale: if max > 0.0 { 127.0 / max } else { 1.0 },
        }
    }

    pub fn quantise(&self, vector: &[f32]) -> Vec<i8> {
        vector
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let centred = x - self.centre.get(i).copied().unwrap_or(0.0);
                (centred * self.scale).round().clamp(-127.0, 127.0) as i8
            })
            .collect()
    }
}

impl HnswIndex {
    /// An empty graph. For i8, `quantiser` maps values to integers (see [`Quantiser::fit`]);
    /// it is ignored otherwise.
    pub fn new(dim: usize, metric: Metric, config: HnswConfig, quantiser: Quantiser) -> Result<Self, IndexError> {
        if !quantiser.centre.is_empty() && (quantiser.centre.len() != dim || metric != Metric::Euclidean) {
            return Err(IndexError::Dimension {
                expected: dim,
                got: quantiser.centre.len(),
            });
        }
        let options = IndexOptions {
            dimensions: dim,
            metric: match metric {
                Metric::Euclidean => MetricKind::L2sq,
                Metric::Cosine => MetricKind::Cos,
            },
            quantization: match config.quantization {
                Quantization::F32 => ScalarKind::F32,
                Quantization::F16 => ScalarKind::F16,
                Quantization::I8 => ScalarKind::I8,
            },
            connectivity: config.connectivity,
            expansion_add: config.expansion_add,
            expansion_search: config.expansion_search,
            multi: false,
        };
        let graph = usearch::Index::new(&options).map_err(native)?;
        Ok(HnswIndex {
            graph,
            dim,
            metric,
            config,
            quantiser: match config.quantization {
                Quantization::I8 => quantiser,
                _ => Quantiser::default(),
            },
            mapped: false,
        })
    }

    /// Builds a graph from `keys` and their rows (`vectors` = keys.len() × dim), inserting on
    /// every rayon thread. For i8 the quantiser is fitted to the vectors.
    pub fn build(
        dim: usize,
        metric: Metric,
        config: HnswConfig,
        keys: &[u64],
        vectors: &[f32],
    ) -> Result<Self, IndexError> {
        if vectors.len() != keys.len() * dim {
            return Err(IndexError::Dimension {
                expected: keys.len() * dim,
                got: vectors.len(),
            });
        }
        let quantiser = match config.quantization {
            Quantization::I8 => Quantiser::fit(vectors, dim, metric),
            _ => Quantiser::default(),
        };
        let index = HnswIndex::new(dim, metric, config, quantiser)?;
        index
            .graph
            .reserve_capacity_and_threads(keys.len(), rayon::current_num_threads())
            .map_err(native)?;
        keys.par_iter()
            .zip(vectors.par_chunks_exact(dim.max(1)))
            .try_for_each(|(&key, vector)| index.insert(key, vector))?;
        Ok(index)
    }

    /// Opens a graph written by [`HnswIndex::save`]: memory-mapped (`view`, read-only and
    /// instant) or read into memory (`load`, which can then take adds and removes).
    pub fn open(
        path: &std::path::Path,
        metric: Metric,
        config: HnswConfig,
        quantiser: Quantiser,
        mapped: bool,
    ) -> Result<Self, IndexError> {
        let name = path.to_string_lossy();
        let corrupt = |message: String| IndexError::Corrupt {
            path: path.to_path_buf(),
            message,
        };
        // usearch's readers trust the graph (see `file`): it is checked here first, through a
        // mapping, so a mapped open still reads only the graph's few bytes per node.
        let graph_file = {
            let opened = std::fs::File::open(path).map_err(|e| IndexError::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
            // SAFETY: index files are written once under a temporary name and renamed into
            // place, never changed in place; the mapping is dropped before usearch opens the file.
            let bytes = unsafe { memmap2::Mmap::map(&opened) }.map_err(|e| IndexError::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
            file::check(&bytes).map_err(corrupt)?
        };
        if graph_file.metric != metric || graph_file.quantization != config.quantization {
            return Err(corrupt(format!(
                "a graph of {} {:?} vectors where the index says {} {:?}",
                graph_file.metric, graph_file.quantization, metric, config.quantization
            )));
        }
        let mut index = HnswIndex::new(graph_file.dim, metric, config, quantiser)?;
        index.mapped = mapped;
        let opened = match mapped {
            true => index.graph.view(&name),
            false => index.graph.load(&name),
        };
        opened.map_err(|e| corrupt(e.to_string()))?;
        // The file keeps the graph, not the search-time setting.
        index.graph.change_expansion_search(config.expansion_search);
        Ok(index)
    }

    /// Writes the graph to `path` (the caller renames/fsyncs; see the store).
    pub fn save(&self, path: &std::path::Path) -> Result<(), IndexError> {
        self.graph.save(&path.to_string_lossy()).map_err(|e| IndexError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })
    }

    /// Whether the graph is a read-only mapping (see [`HnswIndex::open`]).
    pub fn is_mapped(&self) -> bool {
        self.mapped
    }

    pub fn config(&self) -> HnswConfig {
        self.config
    }

    /// How vectors become i8 (the identity for other storage).
    pub fn quantiser(&self) -> &Quantiser {
        &self.quantiser
    }

    /// Sets ef for later searches.
    /// Lets `threads` threads search at once (usearch keeps a search context per thread and
    /// refuses more concurrent searches than it has; a build reserves one per rayon thread).
    pub fn reserve_threads(&mut self, threads: usize) -> Result<(), IndexError> {
        if self.mapped {
            return Err(IndexError::Invalid("a mapped HNSW graph is read-only".into()));
        }
        let capacity = self.graph.capacity().max(self.graph.size());
        self.graph
            .reserve_capacity_and_threads(capacity, threads.max(1))
            .map_err(native)
    }

    pub fn set_expansion_search(&mut self, ef: usize) {
        self.config.expansion_search = ef;
        self.graph.change_expansion_search(ef);
    }

    /// Bytes the graph and its vectors occupy in memory (or in the mapping).
    pub fn memory_usage(&self) -> usize {
        self.graph.memory_usage()
    }

    /// Bytes [`HnswIndex::save`] writes.
    pub fn serialized_len(&self) -> usize {
        self.graph.serialized_length()
    }

    fn check(&self, key: u64, vector: &[f32]) -> Result<(), IndexError> {
        check_vector(self.dim, key, vector)
    }

    fn quantise(&self, vector: &[f32]) -> Vec<i8> {
        self.quantiser.quantise(vector)
    }

    /// Inserts a new key (capacity reserved by the caller; safe from several threads).
    fn insert(&self, key: u64, vector: &[f32]) -> Result<(), IndexError> {
        self.check(key, vector)?;
        match self.config.quantization {
            Quantization::I8 => self.graph.add::<i8>(key, &self.quantise(vector)),
            _ => self.graph.add::<f32>(key, vector),
        }
        .map_err(native)
    }

    fn to_hits(&self, matches: usearch::ffi::Matches, k: usize) -> Vec<Hit> {
        let scale2 = self.quantiser.scale * self.quantiser.scale;
        matches
            .keys
            .into_iter()
            .zip(matches.distances)
            .take(k)
            .map(|(key, d)| Hit {
                key,
                distance: match self.metric {
                    Metric::Euclidean => (d.max(0.0) / scale2).sqrt(),
                    Metric::Cosine => d,
                },
            })
            .collect()
    }

    fn search_one(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<&(dyn Fn(u64) -> bool + Sync)>,
    ) -> Result<Vec<Hit>, IndexError> {
        let quantised = match self.config.quantization {
            Quantization::I8 => self.quantise(query),
            _ => Vec::new(),
        };
        let search = |count: usize| match (self.config.quantization, filter) {
            (Quantization::I8, None) => self.graph.search::<i8>(&quantised, count),
            (Quantization::I8, Some(accept)) => self.graph.filtered_search::<i8, _>(&quantised, count, accept),
            (_, None) => self.graph.search::<f32>(query, count),
            (_, Some(accept)) => self.graph.filtered_search::<f32, _>(query, count, accept),
        };
        let len = self.graph.size();
        let mut count = k;
        loop {
            let matches = search(count).map_err(native)?;
            // A selective filter can starve the candidate list; widen it until k pass or
            // the whole graph was in reach.
            if matches.keys.len() >= k || filter.is_none() || count >= len {
                return Ok(self.to_hits(matches, k));
            }
            count = (count.max(self.config.expansion_search) * 8).min(len);
        }
    }
}

impl VectorIndex for HnswIndex {
    fn dim(&self) -> usize {
        self.dim
    }

    fn metric(&self) -> Metric {
        self.metric
    }

    fn len(&self) -> usize {
        self.graph.size()
    }

    fn add(&mut self, key: u64, vector: &[f32]) -> Result<(), IndexError> {
        self.check(key, vector)?;
        if self.mapped {
            return Err(IndexError::Native(
                "a mapped graph is read-only; open it loaded to change it".into(),
            ));
        }
        if self.graph.contains(key) {
            self.graph.remove(key).map_err(native)?;
        }
        if self.graph.size() >= self.graph.capacity() {
            let capacity = (self.graph.capacity() * 2).max(1024);
            self.graph
                .reserve_capacity_and_threads(capacity, rayon::current_num_threads())
                .map_err(native)?;
        }
        self.insert(key, vector)
    }

    fn remove(&mut self, key: u64) -> Result<bool, IndexError> {
        if self.mapped {
            return Err(IndexError::Invalid("a mapped HNSW graph is read-only".into()));
        }
        Ok(self.graph.remove(key).map_err(native)? > 0)
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
                got: queries.len() % self.dim.max(1),
            });
        }
        if k == 0 || self.graph.size() == 0 {
            return Ok(vec![Vec::new(); queries.len() / self.dim]);
        }
        queries
            .par_chunks_exact(self.dim)
            .map(|query| self.search_one(query, k, filter))
            .collect()
    }
}
