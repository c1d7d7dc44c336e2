use lookbook_index::IndexError;

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("{0}")]
    Location(String),
    #[error(
        "cannot reach PostgreSQL at {location}: {reason} (is the server running, and are the host, port, user and database right?)"
    )]
    Unreachable { location: String, reason: String },
    #[error(
        "{location}: the pgvector extension is not installed on this server (no `vector` in pg_available_extensions); install pgvector 0.8 or newer"
    )]
    NoExtension { location: String },
    #[error("{location}: {message}")]
    Extension { location: String, message: String },
    #[error(
        "{location}: table `{table}` has lookbook schema version {found}, newer than this lookbook understands ({supported}); upgrade lookbook"
    )]
    NewerSchema {
        location: String,
        table: String,
        found: i32,
        supported: i32,
    },
    #[error("{location}: no lookbook index `{table}` there (build one with `lookbook index --out {location}`)")]
    NoIndex { location: String, table: String },
    #[error("{location}: {what}: {reason}")]
    Sql {
        location: String,
        what: String,
        reason: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Index(#[from] IndexError),
    /// What was being done to which index when `error` happened (shown inline, not as a
    /// source, so `{:#}` does not repeat it).
    #[error("{what}: {error}")]
    At { what: String, error: Box<PgError> },
}

impl From<PgError> for IndexError {
    fn from(error: PgError) -> Self {
        match error {
            PgError::Index(inner) => inner,
            other => IndexError::Database(other.to_string()),
        }
    }
}

/// The driver's error with the server's own message and detail when it sent one (the
/// default Display says only "db error").
pub(crate) fn reason(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = format!("{}: {}", db.severity(), db.message());
            if let Some(detail) = db.detail() {
                text.push_str(&format!(" ({detail})"));
            }
            text
        }
        None if error.is_closed() => "the server closed the connection".to_string(),
        None => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(inner) = source {
                text.push_str(&format!(": {inner}"));
                source = inner.source();
            }
            text
        }
    }
}
