//! `lookbook eval --protocol attention`: do a model's attention steps land on distinct parts
//! of the garment? The table of `lookbook_eval::attention`, and a grid of explained photos.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use lookbook_catalog::Catalog;
use lookbook_embed::SeedEmbedder;
use lookbook_eval::attention::{AttentionStats, attention_stats, photo_attention};
use lookbook_imaging::draw::{Tile, contact_sheet, write_png};
use lookbook_imaging::{DecodeLimits, GarmentMask, decode_file};
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
    let mut photos = Vec::with_capacity(entries.len());
    let mut tiles = Vec::new();
    let mut skipped = 0;
    // The grid samples the whole split evenly (a catalogue sorted by id starts with one kind).
    let stride = (entries.len() / GRID_PHOTOS).max(1);
    for (position, &entry) in entries.iter().enumerate() {
        let path = catalog.image_path(&catalog.entries[entry]);
        let Ok(explanation) = seed.explain(&path) else {
            skipped += 1;
            continue;
        };
        // The mask of the photo at its own size: the boxes' frame.
        let Ok(photo) = decode_file(&path, &DecodeLimits::default(), None, [255; 3]) else {
            skipped += 1;
            continue;
        };
        let mask = GarmentMask::of(&photo).filter(|m| m.dimensions() == (explanation.width, explanation.height));
        let boxes: Vec<[f32; 4]> = explanation.regions.iter().skip(1).map(|r| r.bbox).collect();
        let measured = photo_attention(mask.as_ref(), &boxes, explanation.width, explanation.height);
        if position % stride == 0 && tiles.len() < GRID_PHOTOS {
            let (w, h) = (explanation.width as f32, explanation.height as f32);
            tiles.push(Tile {
                image: path.clone(),
                caption: format!(
                    "{}  IoU {}\n{}",
                    catalog.entries[entry].item_id,
                    measured.pairwise_iou.map_or("-".into(), |v| format!("{v:.2}")),
                    measured
                        .garment_share
                        .map_or("no garment mask".into(), |v| format!("boxes {:.0}% garment", 100.0 * v)),
                ),
                boxes: boxes.iter().map(|b| [b[0] / w, b[1] / h, b[2] / w, b[3] / h]).collect(),
            });
        }
        photos.push(measured);
    }
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
