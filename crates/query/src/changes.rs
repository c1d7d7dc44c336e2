//! What a server needs to change the catalogue it answers from (issue 21's write routes): a
//! photo embedded as an index row (vector, parts and attention boxes from one forward pass),
//! and the engine over a committed index that shares this one's models.

use lookbook_embed::PhotoBoxes;
use lookbook_index::Gallery;

use crate::engine::Engine;
use crate::error::QueryError;

/// An uploaded photo as an index row: its retrieval vector, part vectors and boxes.
#[derive(Debug, Clone)]
pub struct EmbeddedPhoto {
    pub vector: Vec<f32>,
    pub parts: Vec<f32>,
    /// Each attention step's box (none for a model without steps).
    pub boxes: Option<PhotoBoxes>,
}

impl Engine {
    /// Embeds a photo to add to the index, with the index's model.
    pub fn embed_for_index(&self, bytes: &[u8]) -> Result<EmbeddedPhoto, QueryError> {
        let embedder = self.embedder.as_ref().ok_or_else(|| {
            QueryError::Unavailable(format!(
                "the index's model `{}` is not loaded: photos cannot be added",
                self.info().model
            ))
        })?;
        let (dim, parts) = (embedder.dim(), embedder.parts());
        let info = self.info();
        if (dim, parts) != (info.dim, (info.parts, info.part_dim)) {
            return Err(QueryError::Internal(format!(
                "the model gives {dim}-d vectors and {parts:?} parts; the index holds {}-d and ({}, {})",
                info.dim, info.parts, info.part_dim
            )));
        }
        let mut item = vec![0.0f32; embedder.item_len()];
        embedder.load_bytes(bytes, &mut item)?;
        let batch = embedder.embed_batch_boxed(&item, 1);
        Ok(EmbeddedPhoto {
            vector: batch.vectors,
            parts: batch.parts,
            boxes: batch.boxes.into_iter().next(),
        })
    }

    /// An engine over `gallery` (the index as just committed) with this one's models and
    /// limits, its items counted.
    pub fn reopened(&self, gallery: Box<dyn Gallery>) -> Result<Engine, QueryError> {
        let mut engine = Engine::new(gallery, self.embedder.clone(), self.seed.clone());
        engine.max_k = self.max_k;
        engine.text = self.text.clone();
        engine.browsable()
    }
}
