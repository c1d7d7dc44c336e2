//! The read side of a checkpoint: open a run folder's latest checkpoint (or a checkpoint
//! folder), read the model part of its `meta.json` and load the weights for inference.
//! `lookbook-train` writes checkpoints (and reads its training state back); everything that
//! only runs a model (embedding, the server) reads them here, without linking the trainer.
//!
//! ```text
//! RUN/latest.json                   {"checkpoint": "epoch-0006"}
//! RUN/epoch-0006/model.safetensors  the weights
//! RUN/epoch-0006/train-state.bin    model and Adam records (for --resume; the trainer's)
//! RUN/epoch-0006/meta.json          config, label vocabulary, epoch, metrics
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use crate::{ModelError, ModelSection, SeedConfig, SeedModel};

/// 2: the attention steps' frame (`model.attention_frame`) and their own offsets; a
/// version-1 checkpoint is read as placed in the picture's frame, as it was trained.
pub const FORMAT_VERSION: u32 = 2;
/// The run folder's pointer to its latest complete checkpoint.
pub const LATEST: &str = "latest.json";
pub const MODEL_FILE: &str = "model.safetensors";
pub const META_FILE: &str = "meta.json";

/// The most label scores and identity-loss proxies a checkpoint may have (with
/// [`crate::section::MAX_SIZE`], what keeps a damaged `meta.json` from asking for more memory
/// than there is).
pub const MAX_LABELS: usize = 1 << 16;
pub const MAX_IDENTITIES: usize = 1 << 22;
/// The most parameters (floats, 1 GiB) a checkpoint's network may have.
pub const MAX_PARAMETERS: usize = 1 << 28;

/// `latest.json`.
#[derive(Serialize, Deserialize)]
pub struct Latest {
    pub checkpoint: String,
}

/// The name of the latest checkpoint in `run_dir`.
pub fn read_latest(run_dir: &Path) -> Result<String, ModelError> {
    let path = run_dir.join(LATEST);
    let bytes = fs::read(&path).map_err(|e| ModelError::io(&path, e))?;
    let latest: Latest = serde_json::from_slice(&bytes).map_err(|e| ModelError::checkpoint(&path, e))?;
    Ok(latest.checkpoint)
}

/// The checkpoint folder `path` names: itself when it holds a `meta.json`, else the latest
/// of the run folder.
pub fn checkpoint_dir(path: &Path) -> Result<PathBuf, ModelError> {
    match path.join(META_FILE).is_file() {
        true => Ok(path.to_path_buf()),
        false => Ok(path.join(read_latest(path)?)),
    }
}

/// Writes `files` (name, bytes) as checkpoint `name` of `run_dir` and makes it the latest: a
/// fresh `NAME.tmp` folder, every file fsynced, renamed to `NAME`, and only then `latest.json`
/// replaced (temp file, fsync, rename) — a run killed at any point leaves `latest.json` naming
/// a complete checkpoint. The previous checkpoint is removed once nothing names it. Both
/// trainers (the image model's and the text encoder's) write through here.
pub fn commit_checkpoint(run_dir: &Path, name: &str, files: &[(&str, &[u8])]) -> Result<PathBuf, ModelError> {
    let tmp = run_dir.join(format!("{name}.tmp"));
    let dir = run_dir.join(name);
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| ModelError::io(&tmp, e))?;
    }
    fs::create_dir_all(&tmp).map_err(|e| ModelError::io(&tmp, e))?;
    for (file, bytes) in files {
        write_synced(&tmp.join(file), bytes)?;
    }
    sync_dir(&tmp)?;
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| ModelError::io(&dir, e))?;
    }
    fs::rename(&tmp, &dir).map_err(|e| ModelError::io(&dir, e))?;
    let previous = read_latest(run_dir).ok();
    let latest_tmp = run_dir.join(format!("{LATEST}.tmp"));
    let pointer = serde_json::to_vec(&Latest {
        checkpoint: name.to_string(),
    })
    .map_err(|e| ModelError::checkpoint(run_dir, e))?;
    write_synced(&latest_tmp, &pointer)?;
    fs::rename(&latest_tmp, run_dir.join(LATEST)).map_err(|e| ModelError::io(run_dir, e))?;
    sync_dir(run_dir)?;
    // Only now is the previous checkpoint unreferenced.
    if let Some(old) = previous.filter(|old| old != name) {
        let _ = fs::remove_dir_all(run_dir.join(old));
    }
    Ok(dir)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    let mut file = fs::File::create(path).map_err(|e| ModelError::io(path, e))?;
    std::io::Write::write_all(&mut file, bytes).map_err(|e| ModelError::io(path, e))?;
    file.sync_all().map_err(|e| ModelError::io(path, e))
}

fn sync_dir(dir: &Path) -> Result<(), ModelError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| ModelError::io(dir, e))
}

/// The model part of `meta.json`: what a reader needs to rebuild and describe the network.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelMeta {
    pub format_version: u32,
    /// Epochs completed.
    pub epoch: usize,
    pub model: ModelSection,
    /// The label scores' names (`column=value`), in output order.
    pub labels: Vec<String>,
    /// Training items of the identity loss (its proxies' count; 0 without it).
    pub identities: usize,
}

/// `meta.json` as far as the model goes; the trainer's fields are left unread.
#[derive(Deserialize)]
struct MetaFile {
    format_version: u32,
    epoch: usize,
    config: ConfigFile,
    vocabulary: VocabularyFile,
    #[serde(default)]
    identities: usize,
}

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default)]
    model: ModelSection,
}

#[derive(Deserialize)]
struct VocabularyFile {
    labels: Vec<LabelFile>,
}

#[derive(Deserialize)]
struct LabelFile {
    column: String,
    value: String,
}

impl ModelMeta {
    /// The model part of the checkpoint folder `dir`'s `meta.json`, a version-1 one read as
    /// it was trained; a newer format than this build reads is an error.
    pub fn read(dir: &Path) -> Result<ModelMeta, ModelError> {
        let path = dir.join(META_FILE);
        let bytes = fs::read(&path).map_err(|e| ModelError::io(&path, e))?;
        let file: MetaFile = serde_json::from_slice(&bytes).map_err(|e| ModelError::checkpoint(&path, e))?;
        check_version(&path, file.format_version)?;
        let mut model = file.config.model;
        if file.format_version < 2 {
            model.attention_frame = "image".into();
        }
        // Sizes are checked before any tensor of them is allocated: a damaged or foreign
        // meta.json is an error that says which value, not an abort for want of memory.
        model.check().map_err(|e| ModelError::checkpoint(&path, e))?;
        let labels = file.vocabulary.labels.len();
        if labels > MAX_LABELS || file.identities > MAX_IDENTITIES {
            return Err(ModelError::checkpoint(
                &path,
                format!(
                    "{labels} labels and {} identities: at most {MAX_LABELS} and {MAX_IDENTITIES}",
                    file.identities
                ),
            ));
        }
        Ok(ModelMeta {
            format_version: file.format_version,
            epoch: file.epoch,
            model,
            labels: file
                .vocabulary
                .labels
                .into_iter()
                .map(|l| format!("{}={}", l.column, l.value))
                .collect(),
            identities: file.identities,
        })
        .and_then(|meta| {
            let floats = meta.seed_config().parameter_estimate();
            match floats > MAX_PARAMETERS {
                true => Err(ModelError::checkpoint(
                    &path,
                    format!("a network of about {floats} parameters: at most {MAX_PARAMETERS}"),
                )),
                false => Ok(meta),
            }
        })
    }

    pub fn seed_config(&self) -> SeedConfig {
        self.model
            .seed_config(self.labels.len())
            .with_identities(self.identities)
    }
}

/// A format version this build reads (older ones are upgraded on read).
pub fn check_version(meta_path: &Path, version: u32) -> Result<(), ModelError> {
    match version > FORMAT_VERSION {
        true => Err(ModelError::checkpoint(
            meta_path,
            format!("format version {version} is newer than this lookbook ({FORMAT_VERSION})"),
        )),
        false => Ok(()),
    }
}

/// A complete checkpoint folder, opened for inference.
#[derive(Debug, Clone)]
pub struct SavedModel {
    pub dir: PathBuf,
    pub meta: ModelMeta,
}

impl SavedModel {
    /// The latest complete checkpoint of a run folder (or a checkpoint folder itself).
    pub fn open(path: &Path) -> Result<SavedModel, ModelError> {
        let dir = checkpoint_dir(path)?;
        let meta = ModelMeta::read(&dir)?;
        Ok(SavedModel { dir, meta })
    }

    pub fn seed_config(&self) -> SeedConfig {
        self.meta.seed_config()
    }

    /// The trained model, from `model.safetensors`.
    pub fn load<B: Backend>(&self, device: &B::Device) -> Result<SeedModel<B>, ModelError> {
        load_weights(&self.dir, &self.seed_config(), device)
    }
}

/// Loads the safetensors file at `path` into `module`; every tensor must be there, and f32 (a
/// tensor of another type would make burn's loader panic — found by fuzzing — so the header is
/// checked first and names it). Both models' checkpoints (the image model's, the text encoder's)
/// load through here.
pub fn load_safetensors<B: Backend, M: ModuleSnapshot<B>>(path: &Path, module: &mut M) -> Result<(), ModelError> {
    let bytes = fs::read(path).map_err(|e| ModelError::io(path, e))?;
    let file = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| ModelError::checkpoint(path, e))?;
    if let Some((name, view)) = file
        .tensors()
        .into_iter()
        .find(|(_, view)| view.dtype() != safetensors::Dtype::F32)
    {
        return Err(ModelError::checkpoint(
            path,
            format!("tensor {name} is {:?}; a checkpoint holds f32 tensors", view.dtype()),
        ));
    }
    drop(file);
    let mut store = SafetensorsStore::from_bytes(Some(bytes));
    let result = module
        .load_from(&mut store)
        .map_err(|e| ModelError::checkpoint(path, e))?;
    if !result.missing.is_empty() {
        return Err(ModelError::checkpoint(
            path,
            format!("missing tensors: {:?}", result.missing),
        ));
    }
    Ok(())
}

/// The network `config` describes with the weights of checkpoint folder `dir`; every tensor
/// must be there.
pub fn load_weights<B: Backend>(
    dir: &Path,
    config: &SeedConfig,
    device: &B::Device,
) -> Result<SeedModel<B>, ModelError> {
    let mut model = SeedModel::<B>::new(config, device);
    load_safetensors(&dir.join(MODEL_FILE), &mut model)?;
    Ok(model)
}
