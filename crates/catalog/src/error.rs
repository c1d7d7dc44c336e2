use std::path::PathBuf;

/// Everything that can stop a catalogue from being read at all.
///
/// Problems with single rows or images (a missing photo, a malformed line) are not
/// errors: they are collected in [`crate::Catalog::problems`] and the rest is read.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a folder")]
    NotADirectory { path: PathBuf },
    #[error("cannot parse CSV {path}: {source}")]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error("{path}: required column `{column}` is missing (header has: {header})")]
    MissingColumn {
        path: PathBuf,
        column: String,
        header: String,
    },
    #[error("{path}: {reason}")]
    BadFile { path: PathBuf, reason: String },
    #[error(
        "cannot tell the catalogue format of {root}: expected articles.csv (H&M), styles.csv (Myntra), \
         Eval/list_eval_partition.txt (DeepFashion In-shop), lookbook-catalog.toml or a CSV/TSV with \
         image and labels columns (labelled list), or a folder of images; pass --format to choose"
    )]
    UnknownFormat { root: PathBuf },
    #[error("unknown catalogue format `{0}` (expected one of: hm, myntra, inshop, folder, labelled)")]
    UnknownFormatName(String),
    #[error("cannot read config {path}: {source}")]
    Config {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("{path} holds no usable entries")]
    Empty { path: PathBuf },
    #[error("invalid split fractions {train}/{val}/{test}: each must be in [0, 1] and they must sum to 1")]
    BadFractions { train: f64, val: f64, test: f64 },
    #[error("`{0}`: expected three fractions train,val,test, e.g. 0.7,0.1,0.2")]
    FractionsText(String),
}

impl CatalogError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
