//! `lookbook explain`: what the model looked at in one photo — each attention step's box,
//! named by where it sits on the garment, the attention as a heat map, the labels it predicts.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use lookbook_embed::SeedEmbedder;
use lookbook_imaging::draw::write_png;

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

pub fn run(args: ExplainArgs, _quiet: bool) -> Result<ExitCode> {
    let seed = SeedEmbedder::from_run(&args.model)
        .with_context(|| format!("loading the model in {}", args.model.display()))?;
    let explanation = seed.explain(&args.image).map_err(|bad| anyhow::anyhow!("{bad}"))?;
    let picture = explanation
        .picture(&args.image, seed.spec(), args.top)
        .with_context(|| format!("drawing {}", args.image.display()))?;
    write_png(&args.out, &picture)?;
    let report = explanation.report(&args.image, args.top);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
        eprintln!("picture: {}", args.out.display());
    }
    Ok(ExitCode::SUCCESS)
}
