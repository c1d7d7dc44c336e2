//! Reads the current generation: into memory with every checksum verified, or mapped.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::contents::IndexContents;
use super::manifest::{FileEntry, MANIFEST, checksum, file_checksum, io, read_manifest};
use super::rows::FloatRows;
use crate::{HnswIndex, IndexError, IvfIndex, Records, VectorIndex};

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
        return Ok(FloatRows::mapped(map));
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
        let contents = IndexContents::read(info, records, vectors, parts, graph, ivf);
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
