//! `lookbook search`: the nearest images to a photo, or to an item already in the index.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Args;
use lookbook_index::{IndexReader, VectorIndex};
use serde::Serialize;

use super::embedding::embedder_for;

#[derive(Args)]
pub struct SearchArgs {
    /// Index folder (from `lookbook index`).
    #[arg(long)]
    index: PathBuf,
    /// A photo to search with, or the item id of an image in the index.
    query: String,
    /// How many results.
    #[arg(short, default_value_t = 10)]
    k: usize,
    /// Only results whose attribute has this value, e.g. product_group_name=Trousers (repeatable).
    #[arg(long, value_parser = parse_filter)]
    filter: Vec<(String, String)>,
    /// The model to embed a photo query with (default: the one the index was built with).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn parse_filter(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(c, v)| (c.trim().to_string(), v.trim().to_string()))
        .ok_or_else(|| format!("`{text}`: expected COLUMN=VALUE"))
}

#[derive(Serialize)]
struct Result_ {
    rank: usize,
    item_id: String,
    distance: f32,
    image: PathBuf,
    attributes: std::collections::BTreeMap<String, String>,
}

pub fn run(args: SearchArgs, _quiet: bool) -> Result<ExitCode> {
    let contents =
        IndexReader::open(&args.index).with_context(|| format!("opening the index {}", args.index.display()))?;
    let dim = contents.info.dim;
    let path = PathBuf::from(&args.query);
    // An image query is embedded with the index's model; an item id takes the vector of
    // that item's first image (and leaves that image out of the results).
    let (query, exclude) = if path.is_file() {
        let model = args
            .model
            .clone()
            .unwrap_or_else(|| PathBuf::from(&contents.info.model));
        let (embedder, _) = embedder_for(&model)?;
        if embedder.dim() != dim {
            bail!("the model gives {}-d vectors; the index holds {dim}-d", embedder.dim());
        }
        let mut item = vec![0.0f32; embedder.item_len()];
        embedder
            .load_item(&path, &mut item)
            .map_err(|bad| anyhow::anyhow!("{bad}"))?;
        let embedder = Arc::clone(&embedder);
        (embedder.embed_batch(item, 1).0, None)
    } else {
        let Some(row) = contents.records.iter().position(|r| r.item_id == args.query) else {
            bail!(
                "`{}` is neither a readable image file nor an item id in the index",
                args.query
            );
        };
        (
            contents.vectors[row * dim..][..dim].to_vec(),
            Some(contents.records[row].key),
        )
    };
    let index = contents.exact_index()?;
    let accept = |key: u64| {
        if Some(key) == exclude {
            return false;
        }
        let Some(row) = contents.row_of(key) else { return false };
        let attributes = &contents.records[row].attributes;
        args.filter.iter().all(|(c, v)| attributes.get(c) == Some(v))
    };
    let hits = index.search(&query, args.k, Some(&accept))?;
    let results: Vec<Result_> = hits
        .iter()
        .enumerate()
        .map(|(i, hit)| {
            let record = &contents.records[contents.row_of(hit.key).expect("hits come from the index")];
            Result_ {
                rank: i + 1,
                item_id: record.item_id.clone(),
                distance: hit.distance,
                image: contents.info.catalog_root.join(&record.image),
                attributes: record.attributes.clone(),
            }
        })
        .collect();
    if args.json {
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
