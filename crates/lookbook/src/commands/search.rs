//! `lookbook search`: the nearest images to a photo, or to an item already in the index;
//! `lookbook tag`: a photo's likely attribute values from its nearest catalogue images.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Args;
use lookbook_eval::knn_probabilities;
use lookbook_imaging::draw::{Tile, contact_sheet, write_png};
use lookbook_index::{Hit, IndexContents, Predicate, Record, SearchMode};
use serde::Serialize;

use super::embedding::embedder_for;
use super::location::IndexLocation;
use super::recommend::{part_region, seed_model};

/// What `search` and `tag` share: the index and how to turn the query into a vector.
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

#[derive(Args)]
pub struct SearchArgs {
    #[command(flatten)]
    query: QueryArgs,
    /// How many results.
    #[arg(short, default_value_t = 10)]
    k: usize,
    /// Only results whose attribute has this value, e.g. product_group_name=Trousers (repeatable).
    #[arg(long, value_parser = parse_filter)]
    filter: Vec<(String, String)>,
    /// Also draw the query and its results as a contact sheet (PNG).
    #[arg(long)]
    sheet: Option<PathBuf>,
}

#[derive(Args)]
pub struct TagArgs {
    #[command(flatten)]
    query: QueryArgs,
    /// Neighbours that vote (K).
    #[arg(short, default_value_t = 10)]
    k: usize,
    /// Values shown per attribute.
    #[arg(long, default_value_t = 3)]
    top: usize,
}

pub fn parse_filter(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(c, v)| (c.trim().to_string(), v.trim().to_string()))
        .ok_or_else(|| format!("`{text}`: expected COLUMN=VALUE"))
}

/// The opened index, the query vector, and the query's own item when it came from the index
/// (whose images are then left out of the answers).
pub(crate) struct Query {
    pub(crate) contents: IndexContents,
    pub(crate) vector: Vec<f32>,
    /// Its part vectors (`parts × part_dim`; empty when the model has none).
    pub(crate) parts: Vec<f32>,
    pub(crate) own_item: Option<String>,
    pub(crate) mode: SearchMode,
}

impl QueryArgs {
    pub(crate) fn resolve(&self) -> Result<Query> {
        let mut contents = self.index.open()?;
        if let Some(ef) = self.ef {
            contents.set_expansion_search(ef);
        }
        if let Some(probes) = self.probes {
            contents.set_probes(probes);
        }
        let dim = contents.info.dim;
        let path = PathBuf::from(&self.query);
        let (vector, parts, own_item) = if path.is_file() {
            let model = self
                .model
                .clone()
                .unwrap_or_else(|| PathBuf::from(&contents.info.model));
            let (vector, parts) = embed_photo(&model, &path, dim)?;
            (vector, parts, None)
        } else {
            let Some(row) = contents.records.find_item(&self.query)? else {
                bail!(
                    "`{}` is neither a readable image file nor an item id in the index",
                    self.query
                );
            };
            (
                contents.vector_of(row).to_vec(),
                contents.parts_of(row).to_vec(),
                Some(self.query.clone()),
            )
        };
        let mode = if self.exact {
            SearchMode::Exact
        } else {
            SearchMode::Auto
        };
        Ok(Query {
            contents,
            vector,
            parts,
            own_item,
            mode,
        })
    }
}

/// One photo through the model: its retrieval vector and its part vectors.
fn embed_photo(model: &Path, photo: &Path, dim: usize) -> Result<(Vec<f32>, Vec<f32>)> {
    let (embedder, _) = embedder_for(model)?;
    if embedder.dim() != dim {
        bail!("the model gives {}-d vectors; the index holds {dim}-d", embedder.dim());
    }
    let mut item = vec![0.0f32; embedder.item_len()];
    embedder
        .load_item(photo, &mut item)
        .map_err(|bad| anyhow::anyhow!("{bad}"))?;
    Ok(Arc::clone(&embedder).embed_batch(item, 1))
}

impl Query {
    /// The query's photo: the file given, or the first image of the item asked about.
    pub(crate) fn image(&self, args: &QueryArgs) -> Result<PathBuf> {
        Ok(match &self.own_item {
            Some(item) => {
                let row = self.contents.records.find_item(item)?.expect("resolved from it");
                self.contents
                    .info
                    .catalog_root
                    .join(&self.contents.records.get(row)?.image)
            }
            None => PathBuf::from(&args.query),
        })
    }

    /// The k nearest images passing `filters`, other than the query item's own.
    fn nearest(&self, k: usize, filters: &[(String, String)]) -> Result<Vec<Hit>> {
        // A predicate rather than a closure: an index in PostgreSQL evaluates it in SQL.
        let predicate = Predicate {
            attributes: filters.to_vec(),
            exclude_item: self.own_item.clone(),
        };
        Ok(self.contents.search_matching(&self.vector, k, &predicate, self.mode)?)
    }
}

/// The record of a key a search returned.
pub(crate) fn record_of(contents: &IndexContents, key: u64) -> Result<Record> {
    let row = contents
        .row_of(key)
        .with_context(|| format!("key {key} came back from a search but has no record"))?;
    Ok(contents.records.get(row)?.into_owned())
}

#[derive(Serialize)]
struct Found {
    rank: usize,
    item_id: String,
    distance: f32,
    image: PathBuf,
    attributes: BTreeMap<String, String>,
}

pub fn run(args: SearchArgs, _quiet: bool) -> Result<ExitCode> {
    let query = args.query.resolve()?;
    let hits = query.nearest(args.k, &args.filter)?;
    let contents = &query.contents;
    let results: Vec<Found> = hits
        .iter()
        .enumerate()
        .map(|(i, hit)| {
            let record = record_of(contents, hit.key)?;
            Ok(Found {
                rank: i + 1,
                item_id: record.item_id,
                distance: hit.distance,
                image: contents.info.catalog_root.join(&record.image),
                attributes: record.attributes,
            })
        })
        .collect::<Result<_>>()?;
    if let Some(sheet) = &args.sheet {
        let mut tiles = vec![Tile {
            image: query.image(&args.query)?,
            caption: format!("query\n{}", query.own_item.as_deref().unwrap_or("")),
            boxes: Vec::new(),
        }];
        // Each result's box: the attention step whose part is nearest the query's.
        let model = args
            .query
            .model
            .clone()
            .unwrap_or_else(|| PathBuf::from(&contents.info.model));
        let seed = match contents.info.parts > 1 && query.parts.len() == contents.info.parts * contents.info.part_dim {
            true => seed_model(&model),
            false => None,
        };
        for (r, hit) in results.iter().zip(&hits) {
            let step = contents
                .row_of(hit.key)
                .map_or(0, |row| lookbook_recommend::nearest_step(contents, &query.parts, row));
            let part = match (&seed, step) {
                (Some(seed), 1..) => part_region(Some(seed), &r.image, step),
                _ => None,
            };
            let boxes = part.as_ref().map(|p| vec![p.fraction]).unwrap_or_default();
            let part = part.map_or(String::new(), |p| format!(" {}", p.name));
            tiles.push(Tile {
                image: r.image.clone(),
                caption: format!("{}. {}\nd = {:.3}{part}", r.rank, r.item_id, r.distance),
                boxes,
            });
        }
        let picture = contact_sheet(&tiles, 6).map_err(anyhow::Error::msg)?;
        write_png(sheet, &picture).map_err(anyhow::Error::msg)?;
        eprintln!("contact sheet: {}", sheet.display());
    }
    if args.query.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        for r in &results {
            let attributes: Vec<String> = r.attributes.iter().map(|(c, v)| format!("{c}={v}")).collect();
            println!(
                "{:>3}  {:<12} {:.4}  {}  {}",
                r.rank,
                r.item_id,
                r.distance,
                r.image.display(),
                attributes.join(" ")
            );
        }
        if results.len() < args.k {
            eprintln!("{} results: fewer images than -k pass the filter", results.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct Tagged {
    attribute: String,
    /// Most probable first: (value, P(value | the K nearest)).
    values: Vec<(String, f64)>,
}

pub fn tag(args: TagArgs, _quiet: bool) -> Result<ExitCode> {
    if args.k == 0 {
        bail!("-k must be at least 1");
    }
    let query = args.query.resolve()?;
    let hits = query.nearest(args.k, &[])?;
    let contents = &query.contents;
    let neighbours: Vec<BTreeMap<String, String>> = hits
        .iter()
        .map(|h| record_of(contents, h.key).map(|r| r.attributes))
        .collect::<Result<_>>()?;
    let tags: Vec<Tagged> = contents
        .info
        .columns
        .iter()
        .map(|column| {
            let values = neighbours.iter().map(|a| a.get(column).map_or("", String::as_str));
            let mut values = knn_probabilities(values, hits.len());
            values.truncate(args.top);
            Tagged {
                attribute: column.clone(),
                values,
            }
        })
        .filter(|t| !t.values.is_empty())
        .collect();
    if args.query.json {
        println!("{}", serde_json::to_string_pretty(&tags)?);
    } else {
        println!("from the {} nearest images:", hits.len());
        for t in &tags {
            let values: Vec<String> = t.values.iter().map(|(v, p)| format!("{v} {p:.2}")).collect();
            println!("{:<30} {}", t.attribute, values.join(", "));
        }
    }
    Ok(ExitCode::SUCCESS)
}
