use std::path::PathBuf;

/// What can go wrong reading a model: its checkpoint or its pretrained weights.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint folder that is not complete or not one this version reads.
    #[error("checkpoint {path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    #[error(transparent)]
    Weights(#[from] lookbook_pretrained::WeightsError),
    /// Pretrained tensors that do not fit the network (a missing tensor, a wrong shape).
    #[error("the weights do not fit the network: {0}")]
    WeightLayout(String),
    #[error("unknown backbone `{0}`")]
    UnknownBackbone(String),
    /// A device that cannot be used here (no driver, a build without CUDA).
    #[error("{0}")]
    Device(String),
}

impl ModelError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ModelError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn checkpoint(path: impl Into<PathBuf>, message: impl ToString) -> Self {
        ModelError::Checkpoint {
            path: path.into(),
            message: message.to_string(),
        }
    }
}
