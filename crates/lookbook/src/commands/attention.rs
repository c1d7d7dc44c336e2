//! `lookbook eval --protocol attention`: do a model's attention steps land on distinct parts
//! of the garment? The table of `lookbook_eval::attention`, and a grid of explained photos.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use lookbook_catalog::Catalog;
use lookbook_embed::SeedEmbedder;
use lookbook_query::attention::measure_attention;

/// Photos drawn in the grid.
const GRID_PHOTOS: usize = 24;

/// Explains every photo of `entries` with the run `model`, measures its step boxes against
/// its garment mask, prints the table and draws the first photos as a grid at `png`.
pub fn attention_report(
    catalog: &Catalog,
    entries: &[usize],
    model: &Path,
    split: &str,
    png: Option<PathBuf>,
    json: bool,
) -> Result<ExitCode> {
    let seed = SeedEmbedder::from_run(model)
        .with_context(|| format!("--protocol attention needs a run folder: {}", model.display()))?;
    if seed.checkpoint().meta.seed_config().steps == 0 {
        bail!("the model in {} has no attention steps", model.display());
    }
    let listed: Vec<(PathBuf, String)> = entries
        .iter()
        .map(|&e| {
            (
                catalog.image_path(&catalog.entries[e]),
                catalog.entries[e].item_id.clone(),
            )
        })
        .collect();
    let run = measure_attention(&seed, &listed, GRID_PHOTOS);
    let report = run.report(model, split).context("no readable photos in the split")?;
    let png = png.or_else(|| {
        model
            .is_dir()
            .then(|| model.join(format!("eval-attention-{split}.png")))
    });
    if let Some(png) = &png {
        match run.draw(png) {
            Ok(()) => eprintln!("explained photos: {}", png.display()),
            Err(err) => eprintln!("could not draw {}: {err}", png.display()),
        }
    }
    match json {
        true => println!("{}", serde_json::to_string_pretty(&report)?),
        false => println!("{report}"),
    }
    Ok(ExitCode::SUCCESS)
}
