//! `lookbook recommend`: varied alternatives to a photo or an indexed item, each with the
//! part that brought it in.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use lookbook_imaging::draw::Tile;
use lookbook_query::QuerySpec;
use lookbook_query::text::{CAPTION_NAME_WIDTH, result_line, shorten};
use lookbook_recommend::{Matched, RecommendConfig};
use serde::Serialize;

use super::query::{QueryArgs, parse_filter};

#[derive(Args)]
pub struct RecommendArgs {
    #[command(flatten)]
    query: QueryArgs,
    /// How many recommendations.
    #[arg(short, default_value_t = 10)]
    k: usize,
    /// λ of maximal marginal relevance, 0..1: 0 = the nearest items, higher = more varied.
    #[arg(long, default_value_t = 0.5)]
    diversity: f32,
    /// Candidates per list (the whole picture and each part); 0 = max(5k, 50).
    #[arg(long, default_value_t = 0)]
    pool: usize,
    /// Also recommend other images of the query's own item.
    #[arg(long)]
    include_own_item: bool,
    #[command(flatten)]
    reach: ReachArgs,
    /// Only results whose attribute has this value (repeatable).
    #[arg(long, value_parser = parse_filter)]
    filter: Vec<(String, String)>,
    /// Also draw the query and the recommendations, each with its matched part's box (PNG).
    #[arg(long)]
    sheet: Option<PathBuf>,
}

/// How far from the query a recommendation may wander.
#[derive(Args, Clone, Copy)]
pub struct ReachArgs {
    /// Candidates further from the query than this many times a list's k-th nearest item's
    /// distance, in the whole picture and in their nearest parts, are dropped.
    #[arg(long, default_value_t = RecommendConfig::default().radius)]
    radius: f32,
    /// The weight relevance keeps at λ = 1 (it is 1 at λ = 0). A model whose index carries
    /// its label scores keeps them in the query's category instead (relevance floor 0, λ^0.2).
    #[arg(long, default_value_t = RecommendConfig::default().relevance_floor)]
    relevance_floor: f32,
    /// How much a candidate's nearest part stands in for the whole picture in its relevance
    /// at λ = 1 (0: the whole picture alone).
    #[arg(long, default_value_t = RecommendConfig::default().part_relevance)]
    part_relevance: f32,
    /// Candidates are among the ⌈k·(1 + rank_reach·λ)⌉ nearest items of a list.
    #[arg(long, default_value_t = RecommendConfig::default().rank_reach)]
    rank_reach: f32,
    /// With an index that carries label scores: candidates further from the query's label
    /// scores than this many times the label list's k-th distance are dropped.
    #[arg(long, default_value_t = RecommendConfig::default().label_gate)]
    label_gate: f32,
    /// With an index that carries label scores, λ acts as λ^p.
    #[arg(long, default_value_t = RecommendConfig::default().label_diversity_power)]
    label_diversity_power: f32,
}

impl ReachArgs {
    /// The default config with these limits.
    pub fn config(self) -> RecommendConfig {
        RecommendConfig {
            radius: self.radius,
            relevance_floor: self.relevance_floor,
            part_relevance: self.part_relevance,
            rank_reach: self.rank_reach,
            label_gate: self.label_gate,
            label_diversity_power: self.label_diversity_power,
            ..RecommendConfig::default()
        }
    }
}

#[derive(Serialize)]
struct Recommended {
    rank: usize,
    item_id: String,
    name: String,
    distance: f32,
    /// `whole`, or `{"part": t}`: the list it ranked best in.
    matched: Matched,
    matched_rank: usize,
    matched_distance: f32,
    /// The matched part's region `[x0, y0, x1, y1]` in the photo's pixels (the whole photo
    /// for the whole picture); absent without a seed model or when the photo is unreadable.
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<[f32; 4]>,
    /// Where the matched part sits on the garment (`upper left`, ...), with its region.
    #[serde(skip_serializing_if = "Option::is_none")]
    part_name: Option<String>,
    image: PathBuf,
    attributes: BTreeMap<String, String>,
}

pub fn run(args: RecommendArgs, _quiet: bool) -> Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.diversity) {
        bail!("--diversity is λ in 0..1, not {}", args.diversity);
    }
    let opened = args.query.open(true)?;
    let spec = QuerySpec {
        filter: args.filter.iter().cloned().collect(),
        recommend: RecommendConfig {
            pool: args.pool,
            include_own_item: args.include_own_item,
            ..args.reach.config()
        },
        search_mode: opened.mode,
        refuse_unknown_attributes: false,
        text: opened.text.clone(),
        ..QuerySpec::recommend(opened.source.clone(), args.k, args.diversity)
    };
    let answer = opened.engine.query(&spec)?;
    super::query::warn_unknown_words(&answer);
    let mut results = Vec::with_capacity(answer.results.len());
    let mut fractions = Vec::with_capacity(answer.results.len());
    for r in &answer.results {
        let (matched, step) = match r.part {
            None => (Matched::Whole, 0),
            Some(t) => (Matched::Part(t), t),
        };
        // The matched step's box (step 0: the whole photo), from the engine's cache.
        let boxes = r.image.key().and_then(|key| opened.engine.boxes_of(key));
        let part = boxes
            .as_ref()
            .and_then(|b| Some((b.steps.get(step)?, b.fraction(step)?)));
        // Step 0 is the whole photo: a frame around it says nothing.
        fractions.push(match part {
            Some((_, fraction)) if step > 0 => vec![fraction],
            _ => Vec::new(),
        });
        results.push(Recommended {
            rank: r.rank,
            item_id: r.item_id.clone(),
            name: r.name.clone(),
            distance: r.distance,
            matched,
            matched_rank: r.matched_rank.unwrap_or(r.rank),
            matched_distance: r.matched_distance.unwrap_or(r.distance),
            region: part.map(|((region, _), _)| *region),
            part_name: part.filter(|_| step > 0).map(|((_, name), _)| name.clone()),
            image: opened.image_path(&r.image)?,
            attributes: r.attributes.clone(),
        });
    }
    if let Some(sheet) = &args.sheet {
        let tiles = results.iter().zip(fractions).map(|(r, boxes)| {
            let matched = r.matched.describe(r.part_name.as_deref());
            Tile {
                image: r.image.clone(),
                caption: format!(
                    "{}. {}\n{matched} d={:.3}",
                    r.rank,
                    shorten(&r.name, CAPTION_NAME_WIDTH),
                    r.distance
                ),
                boxes,
            }
        });
        let query = answer.query.item_id.as_deref().unwrap_or("");
        let caption = format!("query (λ = {})\n{query}", args.diversity);
        opened.draw_sheet(sheet, &answer, caption, tiles.collect())?;
    }
    if args.query.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        for r in &results {
            let matched = format!("{} #{}", r.matched.describe(r.part_name.as_deref()), r.matched_rank);
            println!(
                "{}",
                result_line(r.rank, &r.item_id, r.distance, Some(&matched), &r.name, &r.attributes)
            );
        }
        if results.len() < args.k {
            eprintln!("{} results: fewer items than -k pass the filter", results.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}
