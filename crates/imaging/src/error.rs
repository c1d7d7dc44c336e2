use std::fmt;
use std::path::PathBuf;

/// Why one image could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot read file: {0}")]
    Io(#[from] std::io::Error),
    #[error("empty file (0 bytes)")]
    Empty,
    #[error("file is {bytes} bytes, over the {limit}-byte limit")]
    FileTooLarge { bytes: u64, limit: u64 },
    #[error("not a supported image (JPEG, PNG, WebP, BMP, GIF, TIFF): {0}")]
    UnknownFormat(String),
    #[error("image is {width}x{height}, over the {max_width}x{max_height} limit (possible decompression bomb)")]
    TooManyPixels {
        width: u64,
        height: u64,
        max_width: u32,
        max_height: u32,
    },
    #[error("decoding would need more than {limit} bytes of memory (possible decompression bomb)")]
    TooMuchMemory { limit: u64 },
    #[error("over the decoding limits (possible decompression bomb): {0}")]
    LimitExceeded(String),
    /// The file stops before its format's end (no JPEG end-of-image marker, no PNG IEND, ...).
    #[error("{0}")]
    Truncated(String),
    #[error("corrupt or truncated image: {0}")]
    Corrupt(String),
    #[error("cannot start decoding threads: {0}")]
    Threads(String),
    #[error("invalid image spec: {0}")]
    BadSpec(String),
}

/// A file that could not be loaded, and why: one line of a bad-file report.
#[derive(Debug)]
pub struct BadImage {
    pub path: PathBuf,
    pub error: ImageError,
}

impl fmt::Display for BadImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.error)
    }
}

impl std::error::Error for BadImage {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
