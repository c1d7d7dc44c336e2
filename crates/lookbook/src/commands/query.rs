//! What `search`, `recommend` and `tag` share: the index, the query, and the engine
//! (`lookbook-query`, the same one the server answers with) over them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use lookbook_catalog::key_attributes;
use lookbook_imaging::draw::{Tile, contact_sheet, write_png};
use lookbook_index::SearchMode;
use lookbook_query::{Answer, Engine, ImageRef, OpenedModel, QuerySource};

use lookbook_pgvector::IndexLocation;

#[derive(Args)]
pub struct QueryArgs {
    /// Index folder (from `lookbook index`), or postgres://user@host:port/db?table=NAME.
    #[arg(long)]
    pub(crate) index: IndexLocation,
    /// A photo, or the item id of an image in the index.
    pub(crate) query: String,
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

/// The widest result line: a terminal's usual width, with room to spare.
pub const RESULT_LINE_WIDTH: usize = 120;

/// One result as a person reads it: rank, item id, distance, `matched` (recommend: why it
/// came), the product's name and up to three key attributes' values, in at most
/// [`RESULT_LINE_WIDTH`] characters (the name, then the attributes, shortened with `…`).
/// `--json` keeps everything.
pub fn result_line(
    rank: usize,
    item_id: &str,
    distance: f32,
    matched: Option<&str>,
    name: &str,
    attributes: &BTreeMap<String, String>,
) -> String {
    let mut line = format!("{rank:>3}  {item_id:<12} {distance:.4}  ");
    if let Some(matched) = matched {
        line.push_str(&format!("{matched:<16} "));
    }
    let keys: Vec<&str> = key_attributes(attributes, 3).into_iter().map(|(_, v)| v).collect();
    let keys = keys.join(" · ");
    let room = RESULT_LINE_WIDTH.saturating_sub(line.chars().count());
    // The name gets what the attributes leave, but never less than half the room.
    let keys_room = keys.chars().count().min(room / 2);
    let name_room = room.saturating_sub(keys_room + usize::from(keys_room > 0) * 2);
    line.push_str(&shorten(name, name_room));
    if keys_room > 0 {
        line.push_str("  ");
        line.push_str(&shorten(&keys, RESULT_LINE_WIDTH.saturating_sub(line.chars().count())));
    }
    line
}

/// `text` in at most `width` characters, ending in `…` when cut.
fn shorten(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    if width > 0 {
        cut.push('…');
    }
    cut
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
}

impl QueryArgs {
    /// Opens the index and, for a photo query, its model; with `boxes`, the seed model for
    /// attention boxes even when the query is an item id.
    pub(crate) fn open(&self, boxes: bool) -> Result<Opened> {
        let mut contents = self.index.open()?;
        if let Some(ef) = self.ef {
            contents.set_expansion_search(ef);
        }
        if let Some(probes) = self.probes {
            contents.set_probes(probes);
        }
        let model = self
            .model
            .clone()
            .unwrap_or_else(|| PathBuf::from(&contents.info.model));
        let (engine, source) = Engine::for_query(contents, &model, &self.query, boxes)?;
        let mode = if self.exact {
            SearchMode::Exact
        } else {
            SearchMode::Auto
        };
        Ok(Opened { engine, source, mode })
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
        let query = self.photo(answer.query.image.as_ref()).map(|image| Tile {
            image,
            caption: query_caption,
            boxes: Vec::new(),
        });
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

/// The model an index names (or `--model`), with what went wrong in words.
pub fn open_model(model: &Path) -> Result<OpenedModel> {
    OpenedModel::open(model).with_context(|| format!("loading the model in {}", model.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_line_fits_120_columns_with_its_name_first() {
        let attributes = BTreeMap::from([
            ("articleType".to_string(), "Shirts".to_string()),
            ("baseColour".to_string(), "Navy Blue".to_string()),
            ("usage".to_string(), "Casual".to_string()),
            ("season".to_string(), "Fall".to_string()),
        ]);
        let name = "Indigo Nation Men Navy Blue and White Checked Slim Fit Casual Shirt with a very long name indeed";
        let line = result_line(1, "15970", 0.1234, Some("upper left #2"), name, &attributes);
        assert!(
            line.chars().count() <= RESULT_LINE_WIDTH,
            "{} columns: {line}",
            line.chars().count()
        );
        assert!(line.contains("Indigo Nation Men Navy Blue"), "{line}");
        assert!(line.contains("Shirts · Navy Blue"), "{line}");
        assert!(!line.contains("Fall"), "season is not a key attribute: {line}");
        let short = result_line(10, "0108775015", 1.5, None, "Strap top", &BTreeMap::new());
        assert_eq!(short, " 10  0108775015   1.5000  Strap top");
    }
}
