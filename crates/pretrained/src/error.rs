use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not what it claims (truncated, not a PyTorch file, an unexpected pickle).
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    /// A tensor the network needs is missing or has the wrong shape.
    #[error("{path}: {message}")]
    Mismatch { path: PathBuf, message: String },
    #[error("{0}")]
    NotFound(String),
}

impl WeightsError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        WeightsError::Io {
            path: path.into(),
            source,
        }
    }
}
