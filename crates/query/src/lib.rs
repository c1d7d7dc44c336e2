//! The query path, written once for the CLI and the server (issue 18): an [`Engine`] over an
//! opened index and its model turns a query — an uploaded photo, a photo file or an item id
//! ([`QuerySource`]) — into its vector and part vectors, and answers it: nearest images
//! (search), varied recommendations (`lookbook-recommend`), likely attribute values (tag),
//! each result with the attention box that matched. It knows nothing of HTTP: it returns
//! [`QueryError`], which the server maps to statuses and the CLI prints.
//!
//! ```text
//! QuerySource ─► Engine::resolve ─► (vector, parts, boxes) ─► search / recommend / tag ─► Answer
//!                  │ item id: the index's rows     │ photo: the model (OpenedModel)
//! ```

mod answer;
pub mod attention;
mod catalogue;
mod changes;
mod engine;
mod error;
mod models;
mod open;
mod regions;
pub mod text;
mod words;

pub use answer::{
    Answer, AttributeValues, ImageRef, ItemDetail, ItemPage, QueryInfo, RegionBox, ResultItem, Tagged, ValueCount,
};
pub use changes::EmbeddedPhoto;
pub use engine::{Engine, QuerySource, QuerySpec};
pub use error::QueryError;
pub use lookbook_embed::PhotoBoxes;
pub use lookbook_text::TextModel;
pub use models::{HISTOGRAM_MODEL, IMAGENET_PREFIX, ModelName, OpenedModel};
