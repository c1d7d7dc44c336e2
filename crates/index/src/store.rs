//! The index on disk: a folder with one `manifest.json` naming the current generation's
//! files, each with its length and XXH3 checksum.
//!
//! ```text
//! INDEX/manifest.json          format, version, generation, dims, metric, model, files
//! INDEX/vectors-000003.f32     n × dim little-endian f32 (the retrieval embeddings)
//! INDEX/parts-000003.f32       n × parts × part_dim (per-part vectors, for recommendations)
//! INDEX/records-000003.jsonl   one JSON object per row: key, item id, image, attributes
//! ```
//! [`IndexWriter::commit`] writes a new generation's files, fsyncs them and the folder, then
//! swaps `manifest.json` by rename. A run killed at any point leaves the previous manifest
//! and the files it names intact; [`IndexReader::open`] verifies lengths and checksums, so
//! a damaged file is reported, never half-read. Old generations are deleted after the swap.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{ExactIndex, IndexError, Metric, VectorIndex};

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
}

/// Everything an index holds, in row order: `vectors` is `records.len() × dim`, `parts` is
/// `records.len() × parts × part_dim`.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexContents {
    pub info: IndexInfo,
    pub records: Vec<Record>,
    pub vectors: Vec<f32>,
    pub parts: Vec<f32>,
    /// Row of each key, so an upsert is O(1) rather than a scan.
    rows: HashMap<u64, usize>,
}

impl IndexContents {
    pub fn new(info: IndexInfo) -> Self {
        IndexContents {
            info,
            records: Vec::new(),
            vectors: Vec::new(),
            parts: Vec::new(),
            rows: HashMap::new(),
        }
    }

    fn index_rows(&mut self) {
        self.rows = self.records.iter().enumerate().map(|(row, r)| (r.key, row)).collect();
    }

    /// The row of `key`, if it is in the index.
    pub fn row_of(&self, key: u64) -> Option<usize> {
        self.rows.get(&key).copied()
    }

    /// Appends one image, or replaces the row with the same key.
    pub fn upsert(&mut self, record: Record, vector: &[f32], parts: &[f32]) -> Result<(), IndexError> {
        let (dim, part_len) = (self.info.dim, self.info.parts * self.info.part_dim);
        if vector.len() != dim {
            return Err(IndexError::Dimension {
                expected: dim,
                got: vector.len(),
            });
        }
        if parts.len() != part_len {
            return Err(IndexError::Dimension {
                expected: part_len,
                got: parts.len(),
            });
        }
        match self.rows.get(&record.key).copied() {
            Some(row) => {
                self.records[row] = record;
                self.vectors[row * dim..][..dim].copy_from_slice(vector);
                self.parts[row * part_len..][..part_len].copy_from_slice(parts);
            }
            None => {
                self.rows.insert(record.key, self.records.len());
                self.records.push(record);
                self.vectors.extend_from_slice(vector);
                self.parts.extend_from_slice(parts);
            }
        }
        Ok(())
    }

    /// Drops the rows whose keys `remove` accepts; returns how many went.
    pub fn remove_where(&mut self, remove: impl Fn(&Record) -> bool) -> usize {
        let (dim, part_len) = (self.info.dim, self.info.parts * self.info.part_dim);
        let keep: Vec<bool> = self.records.iter().map(|r| !remove(r)).collect();
        let removed = keep.iter().filter(|k| !**k).count();
        let mut row = 0;
        self.records.retain(|_| {
            row += 1;
            keep[row - 1]
        });
        let filter = |values: &mut Vec<f32>, width: usize| {
            if width == 0 {
                return;
            }
            *values = values
                .chunks_exact(width)
                .zip(&keep)
                .filter(|(_, k)| **k)
                .flat_map(|(v, _)| v.iter().copied())
                .collect();
        };
        filter(&mut self.vectors, dim);
        filter(&mut self.parts, part_len);
        self.index_rows();
        removed
    }

    /// The retrieval vectors as an exact index (keys = record keys).
    pub fn exact_index(&self) -> Result<ExactIndex, IndexError> {
        let mut index = ExactIndex::new(self.info.dim, self.info.metric);
        for (record, vector) in self.records.iter().zip(self.vectors.chunks_exact(self.info.dim.max(1))) {
            index.add(record.key, vector)?;
        }
        Ok(index)
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

fn f32_bytes(values: &[f32]) -> Vec<u8> {
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

    /// Writes `contents` as the next generation and makes it the current one.
    pub fn commit(&self, contents: &IndexContents) -> Result<(), IndexError> {
        let previous = read_manifest(&self.dir).ok();
        let generation = previous.as_ref().map_or(1, |m| m.generation + 1);
        let info = &contents.info;
        if contents.vectors.len() != contents.records.len() * info.dim
            || contents.parts.len() != contents.records.len() * info.parts * info.part_dim
        {
            return Err(IndexError::Corrupt {
                path: self.dir.clone(),
                message: "vectors or parts do not match the number of records".into(),
            });
        }
        let write = |stem: &str, ext: &str, bytes: Vec<u8>| -> Result<FileEntry, IndexError> {
            let name = format!("{stem}-{generation:06}.{ext}");
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
        let mut lines = Vec::new();
        for record in &contents.records {
            serde_json::to_writer(&mut lines, record).expect("records serialise");
            lines.push(b'\n');
        }
        let records = write("records", "jsonl", lines)?;
        sync_dir(&self.dir)?;
        self.injected(FailPoint::BeforeManifest)?;
        let manifest = Manifest {
            format: FORMAT.into(),
            version: VERSION,
            generation,
            count: contents.records.len(),
            info: info.clone(),
            vectors,
            parts,
            records,
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
        let current = [&manifest.vectors.name, &manifest.parts.name, &manifest.records.name];
        if let Ok(listing) = fs::read_dir(&self.dir) {
            for entry in listing.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let ours = ["vectors-", "parts-", "records-"].iter().any(|p| name.starts_with(p));
                if ours && !current.iter().any(|c| **c == name) {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        Ok(())
    }
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

impl IndexReader {
    pub fn open(dir: impl AsRef<Path>) -> Result<IndexContents, IndexError> {
        let dir = dir.as_ref();
        let manifest = read_manifest(dir)?;
        let load = |entry: &FileEntry| -> Result<Vec<u8>, IndexError> {
            let path = dir.join(&entry.name);
            let bytes = fs::read(&path).map_err(|e| io(&path, e))?;
            if bytes.len() as u64 != entry.bytes || checksum(&bytes) != entry.xxh3 {
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
            Ok(bytes)
        };
        let floats = |bytes: Vec<u8>| -> Vec<f32> {
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        };
        let vectors = floats(load(&manifest.vectors)?);
        let parts = floats(load(&manifest.parts)?);
        let records_path = dir.join(&manifest.records.name);
        let records_bytes = load(&manifest.records)?;
        let mut records = Vec::with_capacity(manifest.count);
        for (line_no, line) in BufReader::new(records_bytes.as_slice()).lines().enumerate() {
            let line = line.map_err(|e| io(&records_path, e))?;
            records.push(serde_json::from_str(&line).map_err(|e| IndexError::Corrupt {
                path: records_path.clone(),
                message: format!("line {}: {e}", line_no + 1),
            })?);
        }
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
        let mut contents = IndexContents {
            info,
            records,
            vectors,
            parts,
            rows: HashMap::new(),
        };
        contents.index_rows();
        if contents.rows.len() != contents.records.len() {
            return Err(IndexError::Corrupt {
                path: records_path,
                message: "a key appears on more than one row".into(),
            });
        }
        Ok(contents)
    }
}
