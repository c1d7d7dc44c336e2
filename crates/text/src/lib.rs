//! Search by words (issue 23): a text encoder learned from the catalogue's own descriptions
//! into the image index's embedding space, so no model is downloaded and the index already
//! built answers text queries.
//!
//! ```text
//! catalogue text ─► Caption (name, values, description; random parts as augmentation)
//!               ─► TextTokenizer (WordPiece trained on that text) ─► TextEncoder (pieces,
//!                  mean-pooled, MLP) ─► unit vector ◄─ symmetric InfoNCE ─► the photo's vector
//! query words ─► TextModel::embed ─► a vector to search the index with (+ unknown words)
//! ```

mod caption;
pub mod config;
mod curves;
pub mod encoder;
mod error;
pub mod loss;
pub mod retrieval;
mod saved;
pub mod tokenizer;
mod train;

pub use caption::{Caption, attribute_query};
pub use config::{TextConfig, TextConfigFile};
pub use error::TextError;
pub use saved::{TextEpoch, TextMeta, TextModel, TextVector, is_text_model};
pub use tokenizer::TextTokenizer;
pub use train::{Pairs, TextTraining, train_text};
