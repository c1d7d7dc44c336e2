//! Writes index generations: every file, fsynced, then the manifest swapped by rename.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::contents::IndexContents;
use super::manifest::{
    FORMAT, FileEntry, GraphEntry, MANIFEST, Manifest, VERSION, checksum, f32_bytes, file_checksum, io, read_manifest,
};
use crate::{HnswIndex, IndexError, IvfIndex, VectorIndex};

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
