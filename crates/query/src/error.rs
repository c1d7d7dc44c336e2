use lookbook_imaging::{BadImage, ImageError};

/// Why a query could not be answered, in the terms a caller acts on (the server maps each to
/// an HTTP status, the CLI prints it).
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// An item or image the index does not hold.
    #[error("{0}")]
    NotFound(String),
    /// A request that cannot be answered as asked (k out of range, an unknown attribute).
    #[error("{0}")]
    BadRequest(String),
    /// A query photo that is not a usable photo (its reason says whether it is too big).
    #[error("the query photo: {0}")]
    BadImage(#[from] ImageError),
    /// A query photo file that cannot be used (its path and why).
    #[error("{0}")]
    BadFile(BadImage),
    /// Something this engine was opened without (the index's model, for a photo query).
    #[error("{0}")]
    Unavailable(String),
    /// The model a query needs did not load.
    #[error("loading the model in {model}: {error}")]
    Model {
        model: String,
        error: lookbook_embed::EmbedError,
    },
    /// Not the caller's fault: the index or the model failed.
    #[error("{0}")]
    Internal(String),
}

impl From<lookbook_index::IndexError> for QueryError {
    fn from(error: lookbook_index::IndexError) -> Self {
        QueryError::Internal(error.to_string())
    }
}
