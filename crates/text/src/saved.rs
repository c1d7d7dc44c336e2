//! A text model folder, written like an image run's checkpoints (`latest.json` naming a
//! complete `epoch-NNNN`, `lookbook_model::saved::commit_checkpoint`), and [`TextModel`]: the
//! read side, words → a vector in the image index's space.
//!
//! ```text
//! TEXT/latest.json                   {"checkpoint": "epoch-0040"}
//! TEXT/epoch-0040/text.safetensors   the encoder's weights
//! TEXT/epoch-0040/tokenizer.json     the WordPiece tokenizer (the `tokenizers` format)
//! TEXT/epoch-0040/meta.json          config, shape, the image model it maps into, known words, history
//! TEXT/epoch-0040/train-state.bin    encoder and Adam records (for --resume)
//! TEXT/metrics.csv, curves.png       per epoch
//! ```

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use burn::backend::Flex;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::backend::Backend;
use lookbook_model::saved::{META_FILE, checkpoint_dir, load_safetensors};
use serde::{Deserialize, Serialize};

use crate::TextError;
use crate::config::TextConfig;
use crate::encoder::{Batch, EncoderShape, TextEncoder};
use crate::tokenizer::TextTokenizer;

pub const FORMAT_VERSION: u32 = 1;
pub const WEIGHTS_FILE: &str = "text.safetensors";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const STATE_FILE: &str = "train-state.bin";

/// One epoch's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextEpoch {
    pub epoch: usize,
    pub loss: f64,
    /// Text → image on the validation images (full captions; hit = the same image).
    pub val_recall_1: f64,
    pub val_recall_10: f64,
    pub temperature: f64,
    pub seconds: f64,
}

/// Everything about a text checkpoint but its tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TextMeta {
    pub format_version: u32,
    pub epoch: usize,
    pub config: TextConfig,
    pub shape: EncoderShape,
    /// The image model whose vectors the encoder maps into (an index's `model`): a text model
    /// answers only on indexes of that model.
    pub image_model: String,
    /// The index it was trained against, for the record.
    pub index: String,
    /// The mean length of the training images' vectors: a text query is scaled to it, so it
    /// mixes with a photo's vector on equal terms.
    pub image_norm: f32,
    /// Training pairs (train split) and validation pairs.
    pub pairs: usize,
    pub val_pairs: usize,
    /// Every word of the training text (normalised), to report a query's unknown words.
    pub known_words: BTreeSet<String>,
    pub history: Vec<TextEpoch>,
}

/// A query's words as a vector in the image index's space.
#[derive(Debug, Clone, PartialEq)]
pub struct TextVector {
    /// `dim` floats, of the training images' mean length.
    pub vector: Vec<f32>,
    /// Words the training text never used (normalised): the encoder knows at most their pieces.
    pub unknown_words: Vec<String>,
}

/// A trained text encoder, ready to embed queries (shared by a server's threads).
pub struct TextModel {
    encoder: Mutex<TextEncoder<Flex>>,
    tokenizer: TextTokenizer,
    pub meta: TextMeta,
    pub dir: PathBuf,
}

pub(crate) fn read_meta(dir: &Path) -> Result<TextMeta, TextError> {
    let path = dir.join(META_FILE);
    let bytes = fs::read(&path).map_err(|e| TextError::io(&path, e))?;
    let meta: TextMeta = serde_json::from_slice(&bytes).map_err(|e| TextError::saved(&path, e))?;
    if meta.format_version != FORMAT_VERSION {
        return Err(TextError::saved(
            &path,
            format!(
                "format version {}; this build reads {FORMAT_VERSION}",
                meta.format_version
            ),
        ));
    }
    Ok(meta)
}

pub(crate) fn read_tokenizer(dir: &Path, meta: &TextMeta) -> Result<TextTokenizer, TextError> {
    let path = dir.join(TOKENIZER_FILE);
    let json = fs::read_to_string(&path).map_err(|e| TextError::io(&path, e))?;
    let tokenizer = TextTokenizer::from_json(&json, meta.known_words.clone(), meta.config.max_tokens)
        .map_err(|e| TextError::saved(&path, e))?;
    if tokenizer.vocab_size() != meta.shape.vocab {
        return Err(TextError::saved(
            &path,
            format!(
                "{} pieces; the encoder has {}",
                tokenizer.vocab_size(),
                meta.shape.vocab
            ),
        ));
    }
    Ok(tokenizer)
}

/// The encoder `meta` describes with the weights of checkpoint folder `dir`.
pub(crate) fn load_encoder<B: Backend>(
    dir: &Path,
    meta: &TextMeta,
    device: &B::Device,
) -> Result<TextEncoder<B>, TextError> {
    let mut encoder = TextEncoder::<B>::new(&meta.shape, device);
    load_safetensors(&dir.join(WEIGHTS_FILE), &mut encoder)?;
    Ok(encoder)
}

/// The encoder's weights as `text.safetensors` bytes.
pub(crate) fn weights_bytes<B: Backend>(encoder: &TextEncoder<B>, dir: &Path) -> Result<Vec<u8>, TextError> {
    let mut store =
        SafetensorsStore::from_bytes(None).metadata("lookbook_text_format_version", FORMAT_VERSION.to_string());
    encoder.save_into(&mut store).map_err(|e| TextError::saved(dir, e))?;
    store.get_bytes().map_err(|e| TextError::saved(dir, e))
}

impl TextModel {
    /// The latest checkpoint of a text model folder (or a checkpoint folder itself).
    pub fn open(path: &Path) -> Result<TextModel, TextError> {
        let dir = checkpoint_dir(path)?;
        let meta = read_meta(&dir)?;
        let tokenizer = read_tokenizer(&dir, &meta)?;
        let encoder = load_encoder::<Flex>(&dir, &meta, &Default::default())?;
        Ok(TextModel {
            encoder: Mutex::new(encoder),
            tokenizer,
            meta,
            dir,
        })
    }

    /// The image embedding's length, which the encoder outputs.
    pub fn dim(&self) -> usize {
        self.meta.shape.dim
    }

    /// The image model whose space this encoder maps into.
    pub fn image_model(&self) -> &str {
        &self.meta.image_model
    }

    /// Whether this encoder maps into `dim`-d vectors of `image_model` (an index's); an error
    /// naming both when not.
    pub fn fits(&self, dim: usize, image_model: &str) -> Result<(), TextError> {
        if self.dim() == dim && self.image_model() == image_model {
            return Ok(());
        }
        Err(TextError::Data(format!(
            "the text model {} maps words into {}-d vectors of `{}`; the index holds {dim}-d vectors of `{image_model}`",
            self.dir.display(),
            self.dim(),
            self.image_model()
        )))
    }

    /// `text` as a query vector, and the words the encoder never saw in training.
    pub fn embed(&self, text: &str) -> Result<TextVector, TextError> {
        if text.trim().is_empty() {
            return Err(TextError::Data("the text query is empty".into()));
        }
        let vector = self.embed_batch(&[text.to_string()])?;
        Ok(TextVector {
            vector,
            unknown_words: self.tokenizer.unknown_words(text)?,
        })
    }

    /// Many texts at once: `texts.len() × dim` floats.
    pub fn embed_batch(&self, texts: &[String]) -> Result<Vec<f32>, TextError> {
        let ids = texts
            .iter()
            .map(|t| self.tokenizer.tokens(t).map(|t| t.ids))
            .collect::<Result<Vec<_>, _>>()?;
        let encoder = self.encoder.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut out = Vec::with_capacity(texts.len() * self.dim());
        for chunk in ids.chunks(512) {
            let batch = Batch::<Flex>::new(chunk, self.tokenizer.pad_id(), &Default::default());
            let vectors = encoder.forward(&batch).into_data();
            out.extend(vectors.iter::<f32>().map(|x| x * self.meta.image_norm));
        }
        Ok(out)
    }

    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }
}

/// Whether `dir` holds a text model (a `latest.json` or a checkpoint's `meta.json`).
pub fn is_text_model(dir: &Path) -> bool {
    checkpoint_dir(dir).is_ok_and(|d| d.join(META_FILE).is_file() && d.join(TOKENIZER_FILE).is_file())
}
