//! What `search`, `recommend` and `tag` share: the index, the query, and the engine
//! (`lookbook-query`, the same one the server answers with) over them.

use std::path::{Path, PathBuf};

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Args;
use lookbook_imaging::draw::{Tile, contact_sheet, write_png};
use lookbook_index::SearchMode;
use lookbook_query::{Answer, Engine, ImageRef, OpenedModel, QuerySource, TextModel};

use lookbook_pgvector::IndexLocation;

#[derive(Args)]
pub struct QueryArgs {
    /// Index folder (from `lookbook index`), or postgres://user@host:port/db?table=NAME.
    #[arg(long)]
    pub(crate) index: IndexLocation,
    /// A photo, or the item id of an image in the index (or neither, with --text).
    #[arg(required_unless_present = "text")]
    pub(crate) query: Option<String>,
    /// Words to search for ("black ribbed jumper"); with a photo or item, mixed into its vector
    /// ("like this, but red"). Needs a text model (`lookbook text train`).
    #[arg(long)]
    pub(crate) text: Option<String>,
    /// The words' weight when mixed into a photo or item query (0..1).
    #[arg(long, default_value_t = 0.5)]
    text_weight: f32,
    /// The text model (default: `text` in the index's model run folder).
    #[arg(long)]
    text_model: Option<PathBuf>,
    /// The model to embed a photo query with (default: the one the index was built with).
    #[arg(long)]
    pub(crate) model: Option<PathBuf>,
    /// Search every vector instead of the HNSW graph or IVF lists.
    #[arg(long)]
    exact: bool,
    /// Graph candidates per query (speed against recall; default: the index's).
    #[arg(long)]
    ef: Option<usize>,
    /// IVF lists scanned per query (speed against recall; default: the index's).
    #[arg(long)]
    probes: Option<usize>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

pub fn parse_filter(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(c, v)| (c.trim().to_string(), v.trim().to_string()))
        .ok_or_else(|| format!("`{text}`: expected COLUMN=VALUE"))
}

/// The engine over the opened index, and the query as it names it.
pub(crate) struct Opened {
    pub(crate) engine: Engine,
    pub(crate) source: QuerySource,
    pub(crate) mode: SearchMode,
    /// Words mixed into a photo or item query, with their weight.
    pub(crate) text: Option<(String, f32)>,
}

impl QueryArgs {
    /// Opens the index and, for a photo query, its model; with `boxes`, the seed model for
    /// attention boxes even when the query is an item id.
    pub(crate) fn open(&self, boxes: bool) -> Result<Opened> {
        // A table answers each question in SQL: a one-off query reads a few rows, not all.
        let gallery = self.index.open_tuned(self.ef, self.probes)?;
        let model = self
            .model
            .clone()
            .unwrap_or_else(|| PathBuf::from(&gallery.info().model));
        let (mut engine, source) = match (&self.query, &self.text) {
            (Some(query), _) => Engine::for_query(gallery, &model, query, boxes)?,
            (None, Some(text)) => (Engine::new(gallery, None, None), QuerySource::Text(text.clone())),
            (None, None) => bail!("give a photo, an item id or --text"),
        };
        if self.text.is_some() {
            let Some(path) = super::text::text_model_path(self.text_model.as_deref(), &engine.info().model) else {
                bail!("--text needs a text model: `lookbook text train`, or give --text-model");
            };
            let text = TextModel::open(&path).with_context(|| format!("opening the text model {}", path.display()))?;
            engine = engine.with_text(Arc::new(text))?;
        }
        let mode = if self.exact {
            SearchMode::Exact
        } else {
            SearchMode::Auto
        };
        let text = match source {
            QuerySource::Text(_) => None,
            _ => self.text.clone().map(|text| (text, self.text_weight)),
        };
        Ok(Opened {
            engine,
            source,
            mode,
            text,
        })
    }
}

impl Opened {
    /// The query's photo: the file given, or the first image of the item asked about.
    pub(crate) fn photo(&self, image: Option<&ImageRef>) -> Option<PathBuf> {
        match &self.source {
            QuerySource::File(path) => Some(path.clone()),
            _ => self.engine.image_path(image?.key()?),
        }
    }

    /// Draws the query's photo (captioned `query_caption`) beside `results` as a contact
    /// sheet (PNG) at `path`.
    pub(crate) fn draw_sheet(
        &self,
        path: &Path,
        answer: &Answer,
        query_caption: String,
        results: Vec<Tile>,
    ) -> Result<()> {
        // A query by words alone gets a cell with its words instead of a photo.
        let words = answer.query.text.as_ref().map(|text| Tile {
            image: PathBuf::new(),
            caption: format!("words:\n\u{201c}{text}\u{201d}"),
            boxes: Vec::new(),
        });
        let query = self
            .photo(answer.query.image.as_ref())
            .map(|image| Tile {
                image,
                caption: query_caption,
                boxes: Vec::new(),
            })
            .or(words);
        let tiles: Vec<Tile> = query.into_iter().chain(results).collect();
        write_png(path, &contact_sheet(&tiles, 6)?)?;
        eprintln!("contact sheet: {}", path.display());
        Ok(())
    }

    /// The photo file of a result.
    pub(crate) fn image_path(&self, image: &ImageRef) -> Result<PathBuf> {
        image
            .key()
            .and_then(|key| self.engine.image_path(key))
            .with_context(|| format!("image {} came back from a search but has no record", image.id))
    }
}

/// Says which words of a text query the text model never saw (they weigh little).
pub(crate) fn warn_unknown_words(answer: &Answer) {
    if !answer.query.unknown_words.is_empty() {
        eprintln!(
            "words not in the catalogue's text (they weigh little): {}",
            answer.query.unknown_words.join(", ")
        );
    }
}

/// The model an index names (or `--model`), with what went wrong in words.
pub fn open_model(model: &Path) -> Result<OpenedModel> {
    OpenedModel::open(model).with_context(|| format!("loading the model in {}", model.display()))
}
