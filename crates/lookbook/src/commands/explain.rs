//! `lookbook explain`: what the model looked at in one photo — each attention step's box,
//! named by where it sits on the garment, the attention as a heat map, the labels it predicts.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use lookbook_embed::SeedEmbedder;
use lookbook_imaging::draw::write_png;
use serde::Serialize;

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

pub fn run(args: ExplainArgs, _quiet: bool) -> Result<ExitCode> {
    let seed = SeedEmbedder::from_run(&args.model)
        .with_context(|| format!("loading the model in {}", args.model.display()))?;
    let explanation = seed.explain(&args.image).map_err(|bad| anyhow::anyhow!("{bad}"))?;
    let picture = explanation
        .picture(&args.image, seed.spec(), args.top)
        .with_context(|| format!("drawing {}", args.image.display()))?;
    write_png(&args.out, &picture)?;
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
