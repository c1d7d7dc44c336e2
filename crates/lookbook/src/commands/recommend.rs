//! `lookbook recommend`: varied alternatives to a photo or an indexed item, each with the
//! part that brought it in; `lookbook explain`: what the model looked at in one photo.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use lookbook_embed::SeedEmbedder;
use lookbook_imaging::draw::{Annotation, Tile, annotate, contact_sheet, write_png};
use lookbook_imaging::{DecodeLimits, decode_file, letterbox_geometry};
use lookbook_recommend::{Matched, Query, RecommendConfig, recommend};
use serde::Serialize;

use super::embedding::{HISTOGRAM_MODEL, IMAGENET_PREFIX};
use super::search::{QueryArgs, parse_filter, record_of};

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
    /// The weight relevance keeps at λ = 1 (it is 1 at λ = 0).
    #[arg(long, default_value_t = RecommendConfig::default().relevance_floor)]
    relevance_floor: f32,
    /// How much a candidate's nearest part stands in for the whole picture in its relevance
    /// at λ = 1 (0: the whole picture alone).
    #[arg(long, default_value_t = RecommendConfig::default().part_relevance)]
    part_relevance: f32,
    /// Candidates are among the ⌈k·(1 + rank_reach·λ)⌉ nearest items of a list.
    #[arg(long, default_value_t = RecommendConfig::default().rank_reach)]
    rank_reach: f32,
}

impl ReachArgs {
    /// The default config with these limits.
    pub fn config(self) -> RecommendConfig {
        RecommendConfig {
            radius: self.radius,
            relevance_floor: self.relevance_floor,
            part_relevance: self.part_relevance,
            rank_reach: self.rank_reach,
            ..RecommendConfig::default()
        }
    }
}

#[derive(Serialize)]
struct Recommended {
    rank: usize,
    item_id: String,
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
    part_name: Option<&'static str>,
    image: PathBuf,
    attributes: BTreeMap<String, String>,
}

/// The seed model behind an index, when it has one that loads.
pub(crate) fn seed_model(model: &Path) -> Option<SeedEmbedder> {
    if model.as_os_str() == HISTOGRAM_MODEL || model.to_str().is_some_and(|m| m.starts_with(IMAGENET_PREFIX)) {
        return None;
    }
    match SeedEmbedder::from_run(model) {
        Ok(seed) => Some(seed),
        Err(err) => {
            eprintln!("no part boxes: {err}");
            None
        }
    }
}

pub fn run(args: RecommendArgs, _quiet: bool) -> Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.diversity) {
        bail!("--diversity is λ in 0..1, not {}", args.diversity);
    }
    let query = args.query.resolve()?;
    let contents = &query.contents;
    let accept = |key: u64| {
        let Some(row) = contents.row_of(key) else { return false };
        let Ok(record) = contents.records.get(row) else {
            return false;
        };
        args.filter.iter().all(|(c, v)| record.attributes.get(c) == Some(v))
    };
    let filter: Option<&(dyn Fn(u64) -> bool + Sync)> = if args.filter.is_empty() { None } else { Some(&accept) };
    let config = RecommendConfig {
        k: args.k,
        diversity: args.diversity,
        pool: args.pool,
        include_own_item: args.include_own_item,
        ..args.reach.config()
    };
    let picks = recommend(
        contents,
        &Query {
            vector: &query.vector,
            parts: &query.parts,
            item_id: query.own_item.as_deref(),
        },
        &config,
        filter,
    )?;
    let model = args
        .query
        .model
        .clone()
        .unwrap_or_else(|| PathBuf::from(&contents.info.model));
    let seed = seed_model(&model);
    let mut results = Vec::with_capacity(picks.len());
    let mut fractions = Vec::with_capacity(picks.len());
    for (i, pick) in picks.iter().enumerate() {
        let record = record_of(contents, pick.key)?;
        let image = contents.info.catalog_root.join(&record.image);
        let step = match pick.matched {
            Matched::Whole => 0,
            Matched::Part(t) => t,
        };
        let part = part_region(seed.as_ref(), &image, step);
        // Step 0 is the whole photo: a frame around it says nothing.
        fractions.push(match &part {
            Some(part) if step > 0 => vec![part.fraction],
            _ => Vec::new(),
        });
        results.push(Recommended {
            rank: i + 1,
            item_id: record.item_id,
            distance: pick.distance,
            matched: pick.matched,
            matched_rank: pick.matched_rank,
            matched_distance: pick.matched_distance,
            region: part.as_ref().map(|p| p.region),
            part_name: part.filter(|_| step > 0).map(|p| p.name),
            image,
            attributes: record.attributes,
        });
    }
    if let Some(sheet) = &args.sheet {
        let mut tiles = vec![Tile {
            image: query.image(&args.query)?,
            caption: format!(
                "query (λ = {})\n{}",
                args.diversity,
                query.own_item.as_deref().unwrap_or("")
            ),
            boxes: Vec::new(),
        }];
        tiles.extend(results.iter().zip(fractions).map(|(r, boxes)| Tile {
            image: r.image.clone(),
            caption: format!(
                "{}. {}\n{} d={:.3}",
                r.rank,
                r.item_id,
                matched_text(r.matched, r.part_name),
                r.distance
            ),
            boxes,
        }));
        let picture = contact_sheet(&tiles, 6).map_err(anyhow::Error::msg)?;
        write_png(sheet, &picture).map_err(anyhow::Error::msg)?;
        eprintln!("contact sheet: {}", sheet.display());
    }
    if args.query.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        for r in &results {
            let region = r.region.map_or(String::new(), |b| {
                format!(" [{:.0},{:.0},{:.0},{:.0}]", b[0], b[1], b[2], b[3])
            });
            println!(
                "{:>3}  {:<12} {:.4}  {} #{} d={:.4}{}  {}",
                r.rank,
                r.item_id,
                r.distance,
                matched_text(r.matched, r.part_name),
                r.matched_rank,
                r.matched_distance,
                region,
                r.image.display()
            );
        }
        if results.len() < args.k {
            eprintln!("{} results: fewer items than -k pass the filter", results.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// "whole", "texture" (step 0: the texture encoding of the whole map, as the web page
/// says), the matched part's name ("upper left"), or "part t" when it has none.
fn matched_text(matched: Matched, name: Option<&str>) -> String {
    match (matched, name) {
        (Matched::Whole, _) => "whole".into(),
        (Matched::Part(0), _) => "texture".into(),
        (Matched::Part(_), Some(name)) => name.into(),
        (Matched::Part(t), None) => format!("part {t}"),
    }
}

/// One step's region in a photo.
pub(crate) struct PartRegion {
    /// `[x0, y0, x1, y1]` in the photo's pixels.
    pub(crate) region: [f32; 4],
    /// The same as fractions of its size, for a sheet.
    pub(crate) fraction: [f32; 4],
    /// Where it sits on the garment.
    pub(crate) name: &'static str,
}

/// Step `step`'s region of `image` (step 0: the whole photo). Found by running the model on
/// the image again: boxes are not stored in the index (a few tens of ms per photo on a CPU).
pub(crate) fn part_region(seed: Option<&SeedEmbedder>, image: &Path, step: usize) -> Option<PartRegion> {
    let explanation = seed.and_then(|s| s.explain(image).ok())?;
    let region = explanation.regions.get(step)?;
    let r = region.bbox;
    let (w, h) = (explanation.width as f32, explanation.height as f32);
    Some(PartRegion {
        region: r,
        fraction: [r[0] / w, r[1] / h, r[2] / w, r[3] / h],
        name: region.name,
    })
}

#[derive(Args)]
pub struct ExplainArgs {
    /// Run folder (its latest checkpoint) or a checkpoint folder.
    #[arg(long)]
    model: PathBuf,
    /// The photo.
    image: PathBuf,
    /// Where to draw it (PNG).
    #[arg(long)]
    out: PathBuf,
    /// Predicted labels listed.
    #[arg(long, default_value_t = 8)]
    top: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Explained {
    image: PathBuf,
    width: u32,
    height: u32,
    /// Step 0 (the whole picture), then each attention step: θ and its box in the photo.
    regions: Vec<ExplainedRegion>,
    /// The garment's bounding box in the photo's pixels (absent when its background is not plain).
    garment: Option<[f32; 4]>,
    labels: Vec<(String, f32)>,
}

#[derive(Serialize)]
struct ExplainedRegion {
    step: usize,
    /// Where it sits on the garment ("upper left", ...; "whole picture" for step 0).
    name: &'static str,
    theta: [f32; 4],
    region: [f32; 4],
}

pub fn explain(args: ExplainArgs, _quiet: bool) -> Result<ExitCode> {
    let seed = SeedEmbedder::from_run(&args.model)
        .with_context(|| format!("loading the model in {}", args.model.display()))?;
    let explanation = seed.explain(&args.image).map_err(|bad| anyhow::anyhow!("{bad}"))?;
    // The photo at its own size (the boxes' frame), decoded without the model's downscaling.
    let spec = *seed.spec();
    let photo = decode_file(&args.image, &DecodeLimits::default(), None, [255, 255, 255])
        .map_err(|error| anyhow::anyhow!("{}: {error}", args.image.display()))?;
    let photo = if photo.dimensions() == (explanation.width, explanation.height) {
        photo
    } else {
        image::imageops::resize(
            &photo,
            explanation.width,
            explanation.height,
            image::imageops::FilterType::Triangle,
        )
    };
    // The attention of every step together (the max), normalised, as seen through the
    // letterbox: photo pixel → model-input pixel → feature cell.
    let (map_h, map_w) = explanation.map_size;
    let combined: Vec<f32> = (0..map_h * map_w)
        .map(|i| explanation.attention.iter().map(|a| a[i]).fold(0.0f32, f32::max))
        .collect();
    let peak = combined.iter().copied().fold(0.0f32, f32::max);
    let (w, h, left, top) = letterbox_geometry(explanation.width, explanation.height, spec.width, spec.height);
    let heat = |x: u32, y: u32| -> f32 {
        if map_h == 0 || peak <= 0.0 {
            return 0.0;
        }
        let lx = left as f32 + (x as f32 + 0.5) * w as f32 / explanation.width as f32;
        let ly = top as f32 + (y as f32 + 0.5) * h as f32 / explanation.height as f32;
        let col = ((lx / spec.width as f32 * map_w as f32) as usize).min(map_w - 1);
        let row = ((ly / spec.height as f32 * map_h as f32) as usize).min(map_h - 1);
        combined[row * map_w + col] / peak
    };
    let annotations: Vec<Annotation> = explanation
        .regions
        .iter()
        .skip(1)
        .map(|r| Annotation {
            bbox: r.bbox,
            label: format!("{} {}", r.step, r.name),
        })
        .collect();
    let mut notes = vec!["predicted labels (score):".to_string()];
    notes.extend(
        explanation
            .labels
            .iter()
            .take(args.top)
            .map(|(label, score)| format!("{score:.2}  {label}")),
    );
    let picture = annotate(&photo, &annotations, Some(&heat), &notes).map_err(anyhow::Error::msg)?;
    write_png(&args.out, &picture).map_err(anyhow::Error::msg)?;
    let report = Explained {
        image: args.image.clone(),
        width: explanation.width,
        height: explanation.height,
        regions: explanation
            .regions
            .iter()
            .map(|r| ExplainedRegion {
                step: r.step,
                name: r.name,
                theta: [r.theta.sx, r.theta.sy, r.theta.tx, r.theta.ty],
                region: r.bbox,
            })
            .collect(),
        garment: explanation.garment,
        labels: explanation.labels.iter().take(args.top).cloned().collect(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{} ({}×{}):", args.image.display(), report.width, report.height);
        for r in &report.regions {
            println!(
                "  step {}: [{:.0}, {:.0}, {:.0}, {:.0}] {}",
                r.step, r.region[0], r.region[1], r.region[2], r.region[3], r.name
            );
        }
        for (label, score) in &report.labels {
            println!("  {score:.3}  {label}");
        }
        eprintln!("picture: {}", args.out.display());
    }
    Ok(ExitCode::SUCCESS)
}
