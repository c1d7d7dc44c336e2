//! `[text]`: how the text encoder is shaped and trained (a section of a run's config file, or a
//! file of its own).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::TextError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TextConfig {
    /// Most WordPiece pieces learned from the catalogue's text.
    pub vocab_size: usize,
    /// Pieces read of a text (a long description is cut).
    pub max_tokens: usize,
    /// Width of each piece's embedding.
    pub width: usize,
    /// Width of the MLP's hidden layer.
    pub hidden: usize,
    pub epochs: usize,
    /// Pairs per contrastive batch (each text's negatives are the batch's other images).
    pub batch_size: usize,
    /// Adam's rate at the start; it decays along a cosine to a tenth by the last epoch.
    pub learning_rate: f64,
    /// Share of training texts that are the whole caption; the rest are random parts of it
    /// (name, some values, some sentences), so short queries work too.
    pub full_text_share: f64,
    pub seed: u64,
}

impl Default for TextConfig {
    fn default() -> Self {
        TextConfig {
            vocab_size: 4000,
            max_tokens: 96,
            width: 256,
            hidden: 1024,
            epochs: 40,
            batch_size: 256,
            learning_rate: 2e-3,
            full_text_share: 0.3,
            seed: 42,
        }
    }
}

/// A config file with a `[text]` section (other sections, e.g. the image model's, are left
/// to their readers).
#[derive(Debug, Default, Deserialize)]
pub struct TextConfigFile {
    #[serde(default)]
    pub text: TextConfig,
}

impl TextConfig {
    /// The `[text]` section of the TOML file at `path` (defaults where it is silent).
    pub fn read(path: &Path) -> Result<TextConfig, TextError> {
        let text = std::fs::read_to_string(path).map_err(|e| TextError::io(path, e))?;
        let file: TextConfigFile =
            toml::from_str(&text).map_err(|e| TextError::Data(format!("{}: {e}", path.display())))?;
        Ok(file.text)
    }
}
