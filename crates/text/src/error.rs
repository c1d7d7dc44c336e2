use std::path::PathBuf;

use thiserror::Error;

/// What can go wrong training, saving, opening or running a text encoder.
#[derive(Debug, Error)]
pub enum TextError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A text-model folder that is incomplete, damaged or of another version.
    #[error("text model {path}: {message}")]
    Saved { path: PathBuf, message: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// Nothing to train on, or training data that does not fit together.
    #[error("{0}")]
    Data(String),
    #[error(transparent)]
    Model(#[from] lookbook_model::ModelError),
}

impl TextError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TextError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn saved(path: impl Into<PathBuf>, message: impl ToString) -> Self {
        TextError::Saved {
            path: path.into(),
            message: message.to_string(),
        }
    }
}
