//! Writes index generations: every file, fsynced, then the manifest swapped by rename.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::contents::IndexContents;
use super::manifest::{FORMAT, FileEntry, GraphEntry, MANIFEST, Manifest, VERSION, file_checksum, io, read_manifest};
use crate::{HnswIndex, IndexError, IvfIndex, VectorIndex};

/// Writes `bytes` to `path` and fsyncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    let mut file = File::create(path).map_err(|e| io(path, e))?;
    file.write_all(bytes).map_err(|e| io(path, e))?;
    file.sync_all().map_err(|e| io(path, e))
}

/// A file being written whose bytes are counted and hashed on their way to it, so a commit
/// streams rows to disk without first copying them all into one buffer (that copy was the
/// peak of `lookbook index`'s memory at each commit).
struct HashedFile {
    path: PathBuf,
    out: BufWriter<File>,
    hasher: xxhash_rust::xxh3::Xxh3,
    bytes: u64,
}

impl HashedFile {
    fn create(path: PathBuf) -> Result<Self, IndexError> {
        let file = File::create(&path).map_err(|e| io(&path, e))?;
        Ok(HashedFile {
            path,
            out: BufWriter::with_capacity(1 << 20, file),
            hasher: xxhash_rust::xxh3::Xxh3::new(),
            bytes: 0,
        })
    }

    /// `values` as little-endian f32, a block at a time.
    fn write_f32(&mut self, values: &[f32]) -> Result<(), IndexError> {
        let mut block = Vec::with_capacity(1 << 16);
        for chunk in values.chunks(1 << 14) {
            block.clear();
            block.extend(chunk.iter().flat_map(|v| v.to_le_bytes()));
            self.write_all(&block).map_err(|e| io(&self.path, e))?;
        }
        Ok(())
    }

    /// Flushed, fsynced, and described for the manifest as `name`.
    fn finish(self, name: String) -> Result<FileEntry, IndexError> {
        let path = self.path;
        let file = self.out.into_inner().map_err(|e| io(&path, e.into_error()))?;
        file.sync_all().map_err(|e| io(&path, e))?;
        Ok(FileEntry {
            name,
            bytes: self.bytes,
            xxh3: format!("{:016x}", self.hasher.digest()),
        })
    }
}

impl Write for HashedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.out.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
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
        let write = |stem: &str, ext: &str, fill: &dyn Fn(&mut HashedFile) -> Result<(), IndexError>| {
            let name = name_of(stem, ext);
            let mut file = HashedFile::create(self.dir.join(&name))?;
            fill(&mut file)?;
            file.finish(name)
        };
        let vectors = write("vectors", "f32", &|f| f.write_f32(&contents.vectors))?;
        self.injected(FailPoint::AfterVectors)?;
        let parts = write("parts", "f32", &|f| f.write_f32(&contents.parts))?;
        let records = write("records", "jsonl", &|f| {
            contents.records.write_jsonl(f).map_err(|e| io(&f.path, e))
        })?;
        let keys = write("keys", "u64", &|f| {
            let bytes: Vec<u8> = contents.records.keys().iter().flat_map(|k| k.to_le_bytes()).collect();
            f.write_all(&bytes).map_err(|e| io(&f.path, e))
        })?;
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
