//! Training the seed model on a catalogue.
//!
//! [`TrainConfig`] (TOML, see `configs/`) → [`Trainer`]: augmented batches from the
//! catalogue's train split, Adam on the study's loss, per-epoch validation
//! ([`metrics`]: label mAP, retrieval top-k by item id), atomic checkpoints
//! ([`checkpoint`]), `--resume`, `metrics.csv` and `curves.png` ([`curves`]).

pub mod augment;
pub mod checkpoint;
pub mod config;
pub mod curves;
mod error;
pub mod metrics;
mod reports;
pub mod sampler;
pub mod sources;
mod trainer;
pub mod trunk;
mod validation;

pub use checkpoint::{Checkpoint, CheckpointMeta};
pub use config::TrainConfig;
pub use error::TrainError;
pub use trainer::{EpochReport, StepReport, Trainer, TrainingEvent};
