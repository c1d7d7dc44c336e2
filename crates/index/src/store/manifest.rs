//! The on-disk format: the manifest naming a generation's files, each with its length and
//! XXH3 checksum, and the helpers both directions use.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{HnswConfig, IndexError, IvfConfig, Metric, Quantiser};

/// Written into every manifest; a reader refuses other formats and newer versions.
pub const FORMAT: &str = "lookbook-index";
pub const VERSION: u32 = 1;
pub(super) const MANIFEST: &str = "manifest.json";

/// What the vectors are and where they came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexInfo {
    /// Length of each retrieval embedding.
    pub dim: usize,
    pub metric: Metric,
    /// Per-part vectors per image, and their length (0 and 0 when there are none).
    pub parts: usize,
    pub part_dim: usize,
    /// The last of the parts is each image's label scores, not an attention step
    /// (`lookbook_embed::Embedder::label_part`): recommendations gate by it, boxes skip it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub label_part: bool,
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
    /// Where each attention step looked in the photo, from the forward pass that embedded it:
    /// answers draw these instead of running the model again (absent in indexes built before
    /// they were stored, and for models without attention steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boxes: Option<StepBoxes>,
}

/// An image's attention boxes as an index stores them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepBoxes {
    /// The upright photo's width and height in pixels: the boxes' frame.
    pub size: [u32; 2],
    /// Steps 1..=K (step 0 is the whole photo): each box `[x0, y0, x1, y1]` in pixels and
    /// where it sits on the garment ("upper left", ...).
    pub steps: Vec<StepBox>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepBox {
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct FileEntry {
    pub(super) name: String,
    pub(super) bytes: u64,
    pub(super) xxh3: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Manifest {
    pub(super) format: String,
    pub(super) version: u32,
    pub(super) generation: u64,
    pub(super) count: usize,
    pub(super) info: IndexInfo,
    pub(super) vectors: FileEntry,
    pub(super) parts: FileEntry,
    pub(super) records: FileEntry,
    /// Absent in indexes written before it existed; their records are parsed on open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) keys: Option<FileEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) graph: Option<GraphEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) lists: Option<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct GraphEntry {
    pub(super) file: FileEntry,
    /// How the graph's i8 vectors were made (the identity otherwise).
    #[serde(default)]
    pub(super) quantiser: Quantiser,
}

pub(super) fn io(path: &Path, source: std::io::Error) -> IndexError {
    IndexError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(super) fn checksum(bytes: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes))
}

pub(crate) fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Length and XXH3 of a file, read in blocks.
pub(super) fn file_checksum(path: &Path) -> Result<(u64, String), IndexError> {
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

pub(super) fn read_manifest(dir: &Path) -> Result<Manifest, IndexError> {
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
