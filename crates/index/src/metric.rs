use serde::{Deserialize, Serialize};

/// How distance is measured. The study retrieves by Euclidean distance; on L2-normalised
/// embeddings cosine ranks the same and is reported as `1 − cos`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// Euclidean distance (not squared).
    #[default]
    Euclidean,
    /// `1 − cos(q, x)`.
    Cosine,
}

impl std::str::FromStr for Metric {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "euclidean" | "l2" => Ok(Metric::Euclidean),
            "cosine" | "cos" => Ok(Metric::Cosine),
            _ => Err(format!("`{text}`: expected euclidean or cosine")),
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Metric::Euclidean => "euclidean",
            Metric::Cosine => "cosine",
        })
    }
}
