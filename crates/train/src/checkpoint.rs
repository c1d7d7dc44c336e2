//! Checkpoints: `model.safetensors` (the weights, for anyone loading the model),
//! `train-state.bin` (model and Adam records with their parameter ids, for `--resume`)
//! and `meta.json` (config, label vocabulary, epoch, metrics).
//!
//! The read side (opening the latest checkpoint, the model part of `meta.json`, the
//! weights) is `lookbook_model::saved`, so inference does not link the trainer; this module
//! writes checkpoints and reads back the whole meta and the training state.
//!
//! A checkpoint is written into a fresh `epoch-NNNN.tmp` folder, every file fsynced,
//! the folder renamed to `epoch-NNNN`, and only then `latest.json` is replaced
//! (`lookbook_model::saved::commit_checkpoint`). A run killed at any point leaves
//! `latest.json` naming a complete checkpoint.

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::{AutodiffModule, Module};
use burn::optim::Optimizer;
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::backend::{AutodiffBackend, Backend};
use lookbook_catalog::LabelVocabulary;
use lookbook_model::saved::{
    META_FILE, MODEL_FILE, ModelMeta, check_version, checkpoint_dir, commit_checkpoint, load_weights,
};
use lookbook_model::{SavedModel, SeedConfig, SeedModel};
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::error::TrainError;
use crate::reports::EpochReport;

pub use lookbook_model::saved::FORMAT_VERSION;
const STATE_FILE: &str = "train-state.bin";

/// Everything about a checkpoint except its tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub format_version: u32,
    /// Epochs completed.
    pub epoch: usize,
    pub config: TrainConfig,
    pub vocabulary: LabelVocabulary,
    /// Metrics of every epoch so far.
    pub history: Vec<EpochReport>,
    pub catalog: PathBuf,
    /// Training items of the identity loss (its proxies' count; 0 without it).
    #[serde(default)]
    pub identities: usize,
}

impl CheckpointMeta {
    pub fn seed_config(&self) -> SeedConfig {
        self.config
            .seed_config(self.vocabulary.len())
            .with_identities(self.identities)
    }
}

/// A complete checkpoint folder.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub dir: PathBuf,
    pub meta: CheckpointMeta,
}

fn bad(path: &Path, message: impl ToString) -> TrainError {
    TrainError::Checkpoint {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Write a checkpoint of `model` and `optimizer` into `run_dir` and make it the latest.
pub fn save<B, O>(
    run_dir: &Path,
    model: &SeedModel<B>,
    optimizer: &O,
    meta: &CheckpointMeta,
) -> Result<Checkpoint, TrainError>
where
    B: AutodiffBackend,
    O: Optimizer<SeedModel<B>, B>,
{
    let name = format!("epoch-{:04}", meta.epoch);
    let mut store = SafetensorsStore::from_bytes(None)
        .metadata("lookbook_format_version", FORMAT_VERSION.to_string())
        .metadata("labels", meta.vocabulary.len().to_string());
    model.valid().save_into(&mut store).map_err(|e| bad(run_dir, e))?;
    let weights = store.get_bytes().map_err(|e| bad(run_dir, e))?;

    let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
    let model_state = Recorder::<B>::record(&recorder, model.clone().into_record(), ()).map_err(|e| bad(run_dir, e))?;
    let optim_state = Recorder::<B>::record(&recorder, optimizer.to_record(), ()).map_err(|e| bad(run_dir, e))?;
    let state = bincode_pair(&model_state, &optim_state);
    let meta_json = serde_json::to_vec_pretty(meta).map_err(|e| bad(run_dir, e))?;
    let files: [(&str, &[u8]); 3] = [(MODEL_FILE, &weights), (STATE_FILE, &state), (META_FILE, &meta_json)];
    let dir = commit_checkpoint(run_dir, &name, &files)?;
    Ok(Checkpoint {
        dir,
        meta: meta.clone(),
    })
}

/// Two length-prefixed blobs in one file.
fn bincode_pair(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + a.len() + b.len());
    out.extend_from_slice(&(a.len() as u64).to_le_bytes());
    out.extend_from_slice(a);
    out.extend_from_slice(&(b.len() as u64).to_le_bytes());
    out.extend_from_slice(b);
    out
}

fn split_pair(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let take = |bytes: &[u8]| -> Option<usize> { Some(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?) as usize) };
    let a_len = take(bytes)?;
    let a = bytes.get(8..8 + a_len)?;
    let rest = &bytes[8 + a_len..];
    let b_len = take(rest)?;
    let b = rest.get(8..8 + b_len)?;
    Some((a, b))
}

impl Checkpoint {
    /// The latest complete checkpoint of a run folder (or a checkpoint folder itself), with
    /// the whole of its meta (the trainer's config, vocabulary and history).
    pub fn open(path: &Path) -> Result<Checkpoint, TrainError> {
        let dir = checkpoint_dir(path)?;
        let meta_path = dir.join(META_FILE);
        let bytes = fs::read(&meta_path).map_err(|e| TrainError::io(&meta_path, e))?;
        let mut meta: CheckpointMeta = serde_json::from_slice(&bytes).map_err(|e| bad(&meta_path, e))?;
        check_version(&meta_path, meta.format_version)?;
        // Read as the model crate reads it (a version-1 checkpoint in the picture's frame).
        meta.config.model = ModelMeta::read(&dir)?.model;
        Ok(Checkpoint { dir, meta })
    }

    /// The trained model for inference, from `model.safetensors`.
    pub fn load_model<B: Backend>(&self, device: &B::Device) -> Result<SeedModel<B>, TrainError> {
        Ok(load_weights(&self.dir, &self.meta.seed_config(), device)?)
    }

    /// The checkpoint as inference opens it.
    pub fn saved(&self) -> Result<SavedModel, TrainError> {
        Ok(SavedModel::open(&self.dir)?)
    }

    /// Model and optimizer exactly as they were, parameter ids included, to continue training.
    pub fn load_training_state<B, O>(
        &self,
        model: SeedModel<B>,
        optimizer: O,
        device: &B::Device,
    ) -> Result<(SeedModel<B>, O), TrainError>
    where
        B: AutodiffBackend,
        O: Optimizer<SeedModel<B>, B>,
    {
        let path = self.dir.join(STATE_FILE);
        let bytes = fs::read(&path).map_err(|e| TrainError::io(&path, e))?;
        let (model_bytes, optim_bytes) = split_pair(&bytes).ok_or_else(|| bad(&path, "truncated training state"))?;
        let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
        let model_record = Recorder::<B>::load(&recorder, model_bytes.to_vec(), device).map_err(|e| bad(&path, e))?;
        let optim_record = Recorder::<B>::load(&recorder, optim_bytes.to_vec(), device).map_err(|e| bad(&path, e))?;
        Ok((model.load_record(model_record), optimizer.load_record(optim_record)))
    }
}
