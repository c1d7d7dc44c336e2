//! `lookbook eval --protocol attention`: do a model's attention steps land on distinct parts
//! of the garment? The table of `lookbook_eval::attention`, and a grid of explained photos.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use lookbook_catalog::Catalog;
use lookbook_embed::SeedEmbedder;
use lookbook_eval::attention::{AttentionStats, attention_stats};
use lookbook_imaging::draw::{contact_sheet, write_png};
use lookbook_query::attention::{AttentionRun, measure_attention};
use serde::Serialize;

/// Photos drawn in the grid.
const GRID_PHOTOS: usize = 24;

#[derive(Serialize)]
struct AttentionReport {
    protocol: &'static str,
    model: String,
    split: String,
    /// Photos that could not be read.
    skipped: usize,
    #[serde(flatten)]
    stats: AttentionStats,
}

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
    let AttentionRun { photos, tiles, skipped } = measure_attention(&seed, &listed, GRID_PHOTOS);
    if photos.is_empty() {
        bail!("no readable photos in the split");
    }
    let report = AttentionReport {
        protocol: "attention",
        model: model.display().to_string(),
        split: split.to_string(),
        skipped,
        stats: attention_stats(&photos),
    };
    let png = png.or_else(|| {
        model
            .is_dir()
            .then(|| model.join(format!("eval-attention-{split}.png")))
    });
    if let Some(png) = &png {
        match contact_sheet(&tiles, 6).and_then(|sheet| write_png(png, &sheet)) {
            Ok(()) => eprintln!("explained photos: {}", png.display()),
            Err(err) => eprintln!("could not draw {}: {err}", png.display()),
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let s = &report.stats;
        println!(
            "attention steps of {} on {} photos ({} with a garment mask, {} unreadable)",
            report.model, s.photos, s.photos_with_mask, report.skipped
        );
        println!("{s}");
        let collapsed = photos
            .iter()
            .filter(|p| p.pairwise_iou.is_some_and(|v| v > 0.5))
            .count();
        println!(
            "photos whose steps overlap (IoU > 0.5): {collapsed} of {}",
            photos.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
