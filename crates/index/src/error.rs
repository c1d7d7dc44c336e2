use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("a vector of dimension {got} given to an index of dimension {expected}")]
    Dimension { expected: usize, got: usize },
    #[error("a vector with a non-finite value (NaN or infinity) under key {key}")]
    NonFinite { key: u64 },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("the HNSW library: {0}")]
    Native(String),
    #[error("{0}")]
    Invalid(String),
    /// From an index kept in a database (the message names the server and what failed).
    #[error("{0}")]
    Database(String),
    #[error("the write stopped early ({0}); the previous index is untouched")]
    Interrupted(String),
}
