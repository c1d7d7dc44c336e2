//! Inverted-file search (IVF): the vectors are split into lists by k-means; a query scans
//! only the lists whose centres are nearest to it (`probes` of them).
//!
//! Why a second approximate index beside HNSW: a graph walk is one query at a time, a chain
//! of dependent random memory reads (each ~100 ns at a million 256-d vectors), so a core
//! answers at most a few thousand queries a second however it is tuned. A list scan is a
//! matrix product: the queries of a batch that probe the same list are multiplied against it
//! together, each list is read from memory once per batch, and the arithmetic runs at SGEMM
//! speed. Evaluation, bulk recommendation and re-indexing ask thousands of questions at once;
//! that is where this index is fast. Single queries work too (matrix-vector products).
//!
//! Each vector is stored as its residual from its list's centre, as f32 or as i8 with one
//! scale per vector (`code × scale ≈ x − centre`): residuals are small and centred, so
//! eight bits keep them to about 1% — and 256 dimensions take 256 bytes plus 16 bytes of
//! key, scale and norm.

mod kmeans;
mod reader;

use std::collections::{BinaryHeap, HashMap};
use std::io::Write;
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use self::kmeans::{normalise, prepare_all, train};
use self::reader::Reader;
use crate::exact::{Candidate, dot_products, offer, squared_norm};
use crate::store::f32_bytes;
use crate::{ExactIndex, Hit, IndexError, Metric, Quantization, VectorIndex, check_vector};

/// List rows per matrix product (bounds the scratch when one list is large).
const TILE: usize = 2048;
const MAGIC: &[u8; 8] = b"LBIVF001";

/// IVF parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IvfConfig {
    /// How many lists (k-means centres); 0 = about √n of the vectors it is built from.
    pub lists: usize,
    /// Lists each query scans: speed against recall; can change after building.
    pub probes: usize,
    /// f32 or i8 residuals (f16 is stored as f32).
    pub quantization: Quantization,
}

impl Default for IvfConfig {
    fn default() -> Self {
        IvfConfig {
            lists: 0,
            probes: 16,
            quantization: Quantization::I8,
        }
    }
}

impl IvfConfig {
    /// The number of lists for `n` vectors.
    pub fn lists_for(&self, n: usize) -> usize {
        match self.lists {
            0 => ((n as f64).sqrt().round() as usize).max(1),
            lists => lists.max(1),
        }
    }
}

/// Residuals of one list, row by row.
#[derive(Debug, Clone)]
enum Codes {
    F32(Vec<f32>),
    I8(Vec<i8>),
}

/// The vectors assigned to one centre.
#[derive(Debug, Clone)]
struct List {
    keys: Vec<u64>,
    codes: Codes,
    /// Per row: residual = code × scale (1 for f32).
    scales: Vec<f32>,
    /// Per row: ‖code × scale‖², the decoded residual's squared norm.
    norms: Vec<f32>,
}

impl List {
    fn new(quantization: Quantization) -> Self {
        List {
            keys: Vec::new(),
            codes: match quantization {
                Quantization::I8 => Codes::I8(Vec::new()),
                _ => Codes::F32(Vec::new()),
            },
            scales: Vec::new(),
            norms: Vec::new(),
        }
    }

    fn push(&mut self, key: u64, encoded: Encoded) {
        self.keys.push(key);
        self.scales.push(encoded.scale);
        self.norms.push(encoded.norm);
        match (&mut self.codes, encoded.codes) {
            (Codes::F32(codes), Codes::F32(new)) => codes.extend_from_slice(&new),
            (Codes::I8(codes), Codes::I8(new)) => codes.extend_from_slice(&new),
            _ => unreachable!("a list and its entries share one quantisation"),
        }
    }

    /// Moves the last row into `row`; returns the key that moved (if any).
    fn swap_remove(&mut self, row: usize, dim: usize) -> Option<u64> {
        let last = self.keys.len() - 1;
        self.keys.swap_remove(row);
        self.scales.swap_remove(row);
        self.norms.swap_remove(row);
        match &mut self.codes {
            Codes::F32(codes) => {
                codes.copy_within(last * dim..(last + 1) * dim, row * dim);
                codes.truncate(last * dim);
            }
            Codes::I8(codes) => {
                codes.copy_within(last * dim..(last + 1) * dim, row * dim);
                codes.truncate(last * dim);
            }
        }
        (row != last).then(|| self.keys[row])
    }

    /// Rows `start..start + n` as f32 (decoded into `scratch` for i8).
    fn rows<'a>(&'a self, start: usize, n: usize, dim: usize, scratch: &'a mut Vec<f32>) -> &'a [f32] {
        match &self.codes {
            Codes::F32(codes) => &codes[start * dim..][..n * dim],
            Codes::I8(codes) => {
                scratch.clear();
                scratch.extend(codes[start * dim..][..n * dim].iter().map(|&c| c as f32));
                scratch
            }
        }
    }
}

/// One vector's residual, encoded.
struct Encoded {
    codes: Codes,
    scale: f32,
    norm: f32,
}

/// An inverted-file index over keyed vectors.
#[derive(Debug, Clone)]
pub struct IvfIndex {
    dim: usize,
    metric: Metric,
    config: IvfConfig,
    /// The coarse quantiser: one row per list, key = list number.
    centres: ExactIndex,
    lists: Vec<List>,
    /// (list, row) of each key; built on the first add or remove.
    locations: Option<HashMap<u64, (u32, u32)>>,
    len: usize,
}

impl IvfIndex {
    /// Trains the lists on `vectors` (k-means on a sample) and adds them under `keys`,
    /// on every rayon thread.
    pub fn build(
        dim: usize,
        metric: Metric,
        config: IvfConfig,
        keys: &[u64],
        vectors: &[f32],
    ) -> Result<Self, IndexError> {
        if dim == 0 || vectors.len() != keys.len() * dim {
            return Err(IndexError::Dimension {
                expected: keys.len() * dim,
                got: vectors.len(),
            });
        }
        if let Some(row) = vectors.chunks_exact(dim).position(|v| v.iter().any(|x| !x.is_finite())) {
            return Err(IndexError::NonFinite { key: keys[row] });
        }
        // A key given twice keeps its last vector, as a second `add` would.
        let mut last_row = HashMap::with_capacity(keys.len());
        for (row, key) in keys.iter().enumerate() {
            last_row.insert(*key, row);
        }
        if last_row.len() != keys.len() {
            let mut rows: Vec<usize> = last_row.into_values().collect();
            rows.sort_unstable();
            let keys: Vec<u64> = rows.iter().map(|&r| keys[r]).collect();
            let vectors: Vec<f32> = rows.iter().flat_map(|&r| &vectors[r * dim..][..dim]).copied().collect();
            return IvfIndex::build(dim, metric, config, &keys, &vectors);
        }
        let prepared = prepare_all(vectors, dim, metric);
        let lists = config.lists_for(keys.len()).min(keys.len().max(1));
        let centres = train(&prepared, dim, metric, lists);
        let mut index = IvfIndex::with_centres(dim, metric, config, &centres)?;
        let assigned = index.centres.search_batch(&prepared, 1, None)?;
        let encoded: Vec<Encoded> = prepared
            .par_chunks_exact(dim)
            .zip(&assigned)
            .map(|(v, hit)| index.encode(v, hit[0].key as usize))
            .collect();
        for ((key, hit), encoded) in keys.iter().zip(&assigned).zip(encoded) {
            index.lists[hit[0].key as usize].push(*key, encoded);
        }
        index.len = keys.len();
        // Built when first needed: a read-only index never pays for it.
        index.locations = None;
        Ok(index)
    }

    /// An empty index with the given centres (`lists × dim`).
    fn with_centres(dim: usize, metric: Metric, config: IvfConfig, centres: &[f32]) -> Result<Self, IndexError> {
        let mut coarse = ExactIndex::new(dim, metric);
        for (list, centre) in centres.chunks_exact(dim).enumerate() {
            coarse.add(list as u64, centre)?;
        }
        let lists = (0..coarse.len()).map(|_| List::new(config.quantization)).collect();
        Ok(IvfIndex {
            dim,
            metric,
            config: IvfConfig {
                lists: coarse.len(),
                ..config
            },
            centres: coarse,
            lists,
            locations: Some(HashMap::new()),
            len: 0,
        })
    }

    pub fn config(&self) -> IvfConfig {
        self.config
    }

    /// Sets how many lists later searches scan.
    pub fn set_probes(&mut self, probes: usize) {
        self.config.probes = probes.max(1);
    }

    /// Bytes the lists and centres occupy in memory.
    pub fn memory_usage(&self) -> usize {
        let code_bytes = match self.config.quantization {
            Quantization::I8 => 1,
            _ => 4,
        };
        self.len * (8 + 4 + 4 + self.dim * code_bytes) + self.lists.len() * (self.dim * 4 + 4 + 3 * 24)
    }

    fn centre(&self, list: usize) -> &[f32] {
        self.centres.vector(list as u64).expect("every list has a centre")
    }

    /// The residual of a prepared vector from `list`'s centre, encoded.
    fn encode(&self, vector: &[f32], list: usize) -> Encoded {
        let residual: Vec<f32> = vector.iter().zip(self.centre(list)).map(|(x, c)| x - c).collect();
        match self.config.quantization {
            Quantization::I8 => {
                let max = residual.iter().fold(0.0f32, |m, r| m.max(r.abs()));
                let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
                let codes: Vec<i8> = residual
                    .iter()
                    .map(|r| (r / scale).round().clamp(-127.0, 127.0) as i8)
                    .collect();
                let norm = codes.iter().map(|&c| (c as f32 * scale).powi(2)).sum();
                Encoded {
                    codes: Codes::I8(codes),
                    scale,
                    norm,
                }
            }
            _ => Encoded {
                norm: squared_norm(&residual),
                codes: Codes::F32(residual),
                scale: 1.0,
            },
        }
    }

    fn locations(&mut self) -> &mut HashMap<u64, (u32, u32)> {
        let lists = &self.lists;
        self.locations.get_or_insert_with(|| {
            let mut locations = HashMap::with_capacity(lists.iter().map(|l| l.keys.len()).sum());
            for (l, list) in lists.iter().enumerate() {
                for (row, key) in list.keys.iter().enumerate() {
                    locations.insert(*key, (l as u32, row as u32));
                }
            }
            locations
        })
    }

    /// Scans the `probes` nearest lists of each query in `which` (rows of `queries`):
    /// squared Euclidean or cosine distances, closest first, at most `k` per query.
    fn scan(
        &self,
        queries: &[f32],
        which: &[usize],
        probes: usize,
        k: usize,
        filter: Option<&(dyn Fn(u64) -> bool + Sync)>,
    ) -> Result<Vec<Vec<Hit>>, IndexError> {
        let dim = self.dim;
        let chosen: Vec<f32> = which
            .iter()
            .flat_map(|&q| &queries[q * dim..][..dim])
            .copied()
            .collect();
        let probed = self.centres.search_batch(&chosen, probes, None)?;
        // Who asks which list: each list is then read once for all of its queries.
        let mut askers: Vec<Vec<u32>> = vec![Vec::new(); self.lists.len()];
        for (i, lists) in probed.iter().enumerate() {
            for hit in lists {
                askers[hit.key as usize].push(i as u32);
            }
        }
        let found: Vec<(u32, Vec<Hit>)> = askers
            .par_iter()
            .enumerate()
            .filter(|(l, asking)| !asking.is_empty() && !self.lists[*l].keys.is_empty())
            .map_init(Scratch::default, |scratch, (l, asking)| {
                self.scan_list(l, asking, &chosen, k, filter, scratch)
            })
            .flatten_iter()
            .collect();
        let mut merged: Vec<Vec<Hit>> = vec![Vec::new(); which.len()];
        for (i, hits) in found {
            merged[i as usize].extend(hits);
        }
        for hits in &mut merged {
            hits.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.key.cmp(&b.key)));
            hits.truncate(k);
        }
        Ok(merged)
    }

    /// One list against the queries that probe it (`asking` indexes `queries`' rows).
    fn scan_list(
        &self,
        l: usize,
        asking: &[u32],
        queries: &[f32],
        k: usize,
        filter: Option<&(dyn Fn(u64) -> bool + Sync)>,
        scratch: &mut Scratch,
    ) -> Vec<(u32, Vec<Hit>)> {
        let (dim, list, centre) = (self.dim, &self.lists[l], self.centre(l));
        let m = asking.len();
        // Euclidean: ‖q − x‖² = ‖q − c‖² − 2 (q − c)·r + ‖r‖²; cosine: 1 − q·c − q·r.
        scratch.lhs.clear();
        scratch.base.clear();
        for &i in asking {
            let q = &queries[i as usize * dim..][..dim];
            match self.metric {
                Metric::Euclidean => {
                    let start = scratch.lhs.len();
                    scratch.lhs.extend(q.iter().zip(centre).map(|(q, c)| q - c));
                    scratch.base.push(squared_norm(&scratch.lhs[start..]));
                }
                Metric::Cosine => {
                    scratch.lhs.extend_from_slice(q);
                    scratch
                        .base
                        .push(1.0 - q.iter().zip(centre).map(|(q, c)| q * c).sum::<f32>());
                }
            }
        }
        let mut heaps: Vec<BinaryHeap<Candidate>> = (0..m).map(|_| BinaryHeap::with_capacity(k + 1)).collect();
        let total = list.keys.len();
        for start in (0..total).step_by(TILE) {
            let n = TILE.min(total - start);
            let rows = list.rows(start, n, dim, &mut scratch.decoded);
            scratch.dots.resize(m * n, 0.0);
            dot_products(&scratch.lhs, m, rows, n, dim, &mut scratch.dots);
            for (j, heap) in heaps.iter_mut().enumerate() {
                let base = scratch.base[j];
                for (i, &dot) in scratch.dots[j * n..][..n].iter().enumerate() {
                    let row = start + i;
                    let scale = list.scales[row];
                    let distance = match self.metric {
                        Metric::Euclidean => (base - 2.0 * scale * dot + list.norms[row]).max(0.0),
                        Metric::Cosine => base - scale * dot,
                    };
                    offer(heap, k, distance, || list.keys[row], filter);
                }
            }
        }
        asking
            .iter()
            .zip(heaps)
            .map(|(&i, heap)| (i, heap.into_vec().into_iter().map(|c| c.0).collect()))
            .collect()
    }

    /// Writes the index to `path` (the caller fsyncs and renames; see the store).
    pub fn save(&self, path: &Path) -> Result<(), IndexError> {
        let io = |source| IndexError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).map_err(io)?);
        let mut header = Vec::with_capacity(32);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&(self.dim as u64).to_le_bytes());
        header.extend_from_slice(&(self.lists.len() as u64).to_le_bytes());
        header.push(match self.metric {
            Metric::Euclidean => 0,
            Metric::Cosine => 1,
        });
        header.push(match self.config.quantization {
            Quantization::I8 => 1,
            _ => 0,
        });
        out.write_all(&header).map_err(io)?;
        for list in 0..self.lists.len() {
            out.write_all(&f32_bytes(self.centre(list))).map_err(io)?;
        }
        for list in &self.lists {
            out.write_all(&(list.keys.len() as u64).to_le_bytes()).map_err(io)?;
            let keys: Vec<u8> = list.keys.iter().flat_map(|k| k.to_le_bytes()).collect();
            out.write_all(&keys).map_err(io)?;
            out.write_all(&f32_bytes(&list.scales)).map_err(io)?;
            out.write_all(&f32_bytes(&list.norms)).map_err(io)?;
            match &list.codes {
                Codes::F32(codes) => out.write_all(&f32_bytes(codes)).map_err(io)?,
                Codes::I8(codes) => out.write_all(bytemuck::cast_slice(codes)).map_err(io)?,
            }
        }
        out.flush().map_err(io)
    }

    /// Reads an index written by [`IvfIndex::save`]; `probes` comes from `config` (the
    /// file keeps the lists, not the search-time setting).
    pub fn open(path: &Path, config: IvfConfig) -> Result<Self, IndexError> {
        let bytes = std::fs::read(path).map_err(|source| IndexError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let corrupt = |message: String| IndexError::Corrupt {
            path: path.to_path_buf(),
            message,
        };
        let mut reader = Reader {
            bytes: &bytes,
            at: 0,
            path,
        };
        if reader.take(8).ok() != Some(MAGIC.as_slice()) {
            return Err(corrupt("not a lookbook IVF file".into()));
        }
        let (dim, lists) = (reader.u64()? as usize, reader.u64()? as usize);
        let metric = match reader.take(1)?[0] {
            0 => Metric::Euclidean,
            1 => Metric::Cosine,
            other => return Err(corrupt(format!("unknown metric {other}"))),
        };
        let quantization = match reader.take(1)?[0] {
            0 => Quantization::F32,
            1 => Quantization::I8,
            other => return Err(corrupt(format!("unknown quantisation {other}"))),
        };
        if dim == 0 || dim > 1 << 20 || lists > bytes.len() / (dim * 4) {
            return Err(corrupt(format!("{lists} lists of dimension {dim}")));
        }
        let centres = reader.f32s(lists * dim)?;
        let config = IvfConfig { quantization, ..config };
        let mut index = IvfIndex::with_centres(dim, metric, config, &centres)?;
        index.locations = None;
        for list in &mut index.lists {
            let n = reader.u64()? as usize;
            if n > bytes.len() / dim {
                return Err(corrupt(format!("a list of {n} rows")));
            }
            list.keys = reader.u64s(n)?;
            list.scales = reader.f32s(n)?;
            list.norms = reader.f32s(n)?;
            list.codes = match quantization {
                Quantization::I8 => Codes::I8(bytemuck::cast_slice(reader.take(n * dim)?).to_vec()),
                _ => Codes::F32(reader.f32s(n * dim)?),
            };
            index.len += n;
        }
        if reader.at != bytes.len() {
            return Err(corrupt(format!(
                "{} bytes after the last list",
                bytes.len() - reader.at
            )));
        }
        Ok(index)
    }
}

/// Per-thread buffers for [`IvfIndex::scan_list`].
#[derive(Default)]
struct Scratch {
    lhs: Vec<f32>,
    base: Vec<f32>,
    decoded: Vec<f32>,
    dots: Vec<f32>,
}

impl VectorIndex for IvfIndex {
    fn dim(&self) -> usize {
        self.dim
    }

    fn metric(&self) -> Metric {
        self.metric
    }

    fn len(&self) -> usize {
        self.len
    }

    fn add(&mut self, key: u64, vector: &[f32]) -> Result<(), IndexError> {
        check_vector(self.dim, key, vector)?;
        self.remove(key)?;
        let mut prepared = vector.to_vec();
        if self.metric == Metric::Cosine {
            normalise(&mut prepared);
        }
        // A file can hold lists whose centres answer nothing (none, or not numbers: found by
        // the `ivf` fuzz target); that is an error for this add, not a panic.
        let Some(nearest) = self.centres.search(&prepared, 1, None)?.first().copied() else {
            return Err(IndexError::Invalid(
                "the IVF index has no list this vector is near (its centres answer no search)".into(),
            ));
        };
        let list = nearest.key as usize;
        let encoded = self.encode(&prepared, list);
        let row = self.lists[list].keys.len();
        self.lists[list].push(key, encoded);
        self.locations().insert(key, (list as u32, row as u32));
        self.len += 1;
        Ok(())
    }

    fn remove(&mut self, key: u64) -> Result<bool, IndexError> {
        let dim = self.dim;
        let Some((list, row)) = self.locations().remove(&key) else {
            return Ok(false);
        };
        if let Some(moved) = self.lists[list as usize].swap_remove(row as usize, dim) {
            self.locations().insert(moved, (list, row));
        }
        self.len -= 1;
        Ok(true)
    }

    fn search_batch(
        &self,
        queries: &[f32],
        k: usize,
        filter: Option<&(dyn Fn(u64) -> bool + Sync)>,
    ) -> Result<Vec<Vec<Hit>>, IndexError> {
        if !queries.len().is_multiple_of(self.dim) {
            return Err(IndexError::Dimension {
                expected: self.dim,
                got: queries.len() % self.dim,
            });
        }
        let count = queries.len() / self.dim;
        if k == 0 || self.len == 0 {
            return Ok(vec![Vec::new(); count]);
        }
        let prepared = prepare_all(queries, self.dim, self.metric);
        let mut results: Vec<Vec<Hit>> = vec![Vec::new(); count];
        let mut pending: Vec<usize> = (0..count).collect();
        let mut probes = self.config.probes.clamp(1, self.lists.len());
        // Too few in the probed lists (a selective filter, or tiny lists): probe more.
        loop {
            let found = self.scan(&prepared, &pending, probes, k, filter)?;
            for (&q, hits) in pending.iter().zip(found) {
                results[q] = hits;
            }
            pending.retain(|&q| results[q].len() < k.min(self.len));
            if pending.is_empty() || probes == self.lists.len() {
                break;
            }
            probes = (probes * 4).min(self.lists.len());
        }
        if self.metric == Metric::Euclidean {
            for hit in results.iter_mut().flatten() {
                hit.distance = hit.distance.sqrt();
            }
        }
        Ok(results)
    }
}
