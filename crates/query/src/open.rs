//! Opening an engine: for one command-line query (its model only when the query needs it) or
//! for a server (the model loaded once; a model that does not load leaves photo queries
//! refused, not the server down).

use std::path::{Path, PathBuf};

use lookbook_index::Gallery;

use crate::engine::{Engine, QuerySource, stores_boxes};
use crate::error::QueryError;
use crate::models::OpenedModel;

impl Engine {
    /// The engine one command-line query needs: `query` is a photo file (embedded by `model`)
    /// or an item id of the index; `boxes` loads the seed model behind `model` for attention
    /// boxes of an item-id query too (without one, answers carry no boxes: logged, not an error).
    pub fn for_query(
        gallery: Box<dyn Gallery>,
        model: &Path,
        query: &str,
        boxes: bool,
    ) -> Result<(Engine, QuerySource), QueryError> {
        let photo = PathBuf::from(query);
        let (embedder, seed) = match photo.is_file() {
            true => {
                let opened = OpenedModel::open(model).map_err(|error| QueryError::Model {
                    model: model.display().to_string(),
                    error,
                })?;
                (Some(opened.embedder), opened.seed)
            }
            // An index that stores its boxes needs no model for an item-id query.
            false if boxes && !stores_boxes(&*gallery) => match OpenedModel::open_seed(model) {
                Ok(seed) => (None, seed),
                Err(error) => {
                    tracing::warn!("no part boxes: {error}");
                    (None, None)
                }
            },
            false => (None, None),
        };
        let engine = Engine::new(gallery, embedder, seed);
        let source = match photo.is_file() {
            true => QuerySource::File(photo),
            false if engine.has_item(query)? => QuerySource::Item(query.to_string()),
            false => {
                return Err(QueryError::NotFound(format!(
                    "`{query}` is neither a readable image file nor an item id in the index"
                )));
            }
        };
        Ok((engine, source))
    }

    /// The engine a server answers with, its items read: `model` (default: the index's)
    /// loaded once as embedder and box source. A model that does not load leaves photo
    /// queries refused; its error comes back beside the engine.
    pub fn serving(
        gallery: Box<dyn Gallery>,
        model: Option<&Path>,
    ) -> Result<(Engine, Option<QueryError>), QueryError> {
        let model = model.map_or_else(|| PathBuf::from(&gallery.info().model), Path::to_path_buf);
        let (engine, unloaded) = match OpenedModel::open(&model) {
            Ok(opened) => (Engine::new(gallery, Some(opened.embedder), opened.seed), None),
            Err(error) => {
                let error = QueryError::Model {
                    model: model.display().to_string(),
                    error,
                };
                (Engine::new(gallery, None, None), Some(error))
            }
        };
        Ok((engine.browsable()?, unloaded))
    }
}
