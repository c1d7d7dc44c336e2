use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config {path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error(transparent)]
    Catalog(#[from] lookbook_catalog::CatalogError),
    #[error(transparent)]
    Image(#[from] lookbook_imaging::ImageError),
    #[error("the catalogue has no {0} images to train on")]
    NoData(&'static str),
    #[error("the label vocabulary is empty: lower [labels] min_count or choose other columns")]
    NoLabels,
    #[error("checkpoint {path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    #[error("drawing curves.png: {0}")]
    Plot(#[from] lookbook_imaging::draw::DrawError),
    #[error(transparent)]
    Model(#[from] lookbook_model::ModelError),
    #[error("{path} already holds a run; pass --resume to continue it or choose another --out")]
    RunExists { path: PathBuf },
}

impl TrainError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.into(),
            source,
        }
    }
}
