//! `lookbook search`: the nearest images to a photo, or to an item already in the index.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use lookbook_imaging::draw::Tile;
use lookbook_query::QuerySpec;
use lookbook_query::text::{CAPTION_NAME_WIDTH, result_line, shorten};
use serde::Serialize;

use super::query::{QueryArgs, parse_filter};

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

#[derive(Serialize)]
struct Found {
    rank: usize,
    item_id: String,
    name: String,
    distance: f32,
    image: PathBuf,
    attributes: BTreeMap<String, String>,
}

pub fn run(args: SearchArgs, _quiet: bool) -> Result<ExitCode> {
    // Boxes (the model on every result) only for a sheet to draw them on.
    let opened = args.query.open(args.sheet.is_some())?;
    let spec = QuerySpec {
        filter: args.filter.iter().cloned().collect(),
        boxes: args.sheet.is_some(),
        search_mode: opened.mode,
        refuse_unknown_attributes: false,
        text: opened.text.clone(),
        ..QuerySpec::search(opened.source.clone(), args.k)
    };
    let answer = opened.engine.query(&spec)?;
    super::query::warn_unknown_words(&answer);
    let results: Vec<Found> = answer
        .results
        .iter()
        .map(|r| {
            Ok(Found {
                rank: r.rank,
                item_id: r.item_id.clone(),
                name: r.name.clone(),
                distance: r.distance,
                image: opened.image_path(&r.image)?,
                attributes: r.attributes.clone(),
            })
        })
        .collect::<Result<_>>()?;
    if let Some(sheet) = &args.sheet {
        // Each result's box: the attention step whose part is nearest the query's.
        let tiles = results.iter().zip(&answer.results).map(|(found, r)| {
            let part = r.part_name.as_ref().map_or(String::new(), |name| format!(" {name}"));
            Tile {
                image: found.image.clone(),
                caption: format!(
                    "{}. {}\nd = {:.3}{part}",
                    found.rank,
                    shorten(&found.name, CAPTION_NAME_WIDTH),
                    found.distance
                ),
                boxes: r.part_box.iter().map(|b| [b[0], b[1], b[2], b[3]]).collect(),
            }
        });
        let caption = format!("query\n{}", answer.query.item_id.as_deref().unwrap_or(""));
        opened.draw_sheet(sheet, &answer, caption, tiles.collect())?;
    }
    if args.query.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        for r in &results {
            println!(
                "{}",
                result_line(r.rank, &r.item_id, r.distance, None, &r.name, &r.attributes)
            );
        }
        if results.len() < args.k {
            eprintln!("{} results: fewer images than -k pass the filter", results.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}
