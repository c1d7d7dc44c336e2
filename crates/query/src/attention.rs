//! The attention protocol's driver: a seed model explains each photo, its step boxes are
//! measured against the photo's garment mask (`lookbook_eval::attention`), and a grid of
//! explained photos is laid out for a person to look at.

use std::fmt;
use std::path::{Path, PathBuf};

use lookbook_embed::SeedEmbedder;
use lookbook_eval::attention::{AttentionStats, PhotoAttention, attention_stats, photo_attention};
use lookbook_imaging::draw::{DrawError, Tile, contact_sheet, write_png};
use lookbook_imaging::{DecodeLimits, GarmentMask, decode_file};
use serde::Serialize;

/// Every readable photo's measurement, the grid's tiles, and the photos that could not be read.
pub struct AttentionRun {
    pub photos: Vec<PhotoAttention>,
    pub tiles: Vec<Tile>,
    pub skipped: usize,
}

/// Explains and measures each of `photos` (path and item id); `grid` of them, sampled evenly
/// over the list (a catalogue sorted by id starts with one kind), become tiles with their boxes.
pub fn measure_attention(seed: &SeedEmbedder, photos: &[(PathBuf, String)], grid: usize) -> AttentionRun {
    let mut run = AttentionRun {
        photos: Vec::with_capacity(photos.len()),
        tiles: Vec::new(),
        skipped: 0,
    };
    let stride = (photos.len() / grid.max(1)).max(1);
    for (position, (path, item_id)) in photos.iter().enumerate() {
        let Ok(explanation) = seed.explain(path) else {
            run.skipped += 1;
            continue;
        };
        // The mask of the photo at its own size: the boxes' frame.
        let Ok(photo) = decode_file(path, &DecodeLimits::default(), None, [255; 3]) else {
            run.skipped += 1;
            continue;
        };
        let (width, height) = (explanation.width, explanation.height);
        let mask = GarmentMask::of(&photo).filter(|m| m.dimensions() == (width, height));
        let boxes: Vec<[f32; 4]> = explanation.regions.iter().skip(1).map(|r| r.bbox).collect();
        let measured = photo_attention(mask.as_ref(), &boxes, width, height);
        if position % stride == 0 && run.tiles.len() < grid {
            let (w, h) = (width as f32, height as f32);
            let iou = measured.pairwise_iou.map_or("-".into(), |v| format!("{v:.2}"));
            let share = measured
                .garment_share
                .map_or("no garment mask".into(), |v| format!("boxes {:.0}% garment", 100.0 * v));
            run.tiles.push(Tile {
                image: path.clone(),
                caption: format!("{item_id}  IoU {iou}\n{share}"),
                boxes: boxes.iter().map(|b| [b[0] / w, b[1] / h, b[2] / w, b[3] / h]).collect(),
            });
        }
        run.photos.push(measured);
    }
    run
}

/// What `eval --protocol attention` reports: the table, and how many photos' steps collapsed.
#[derive(Debug, Clone, Serialize)]
pub struct AttentionReport {
    pub protocol: &'static str,
    pub model: String,
    pub split: String,
    /// Photos that could not be read.
    pub skipped: usize,
    #[serde(flatten)]
    pub stats: AttentionStats,
    /// Photos whose steps overlap (pairwise IoU > 0.5).
    #[serde(skip)]
    pub collapsed: usize,
}

impl AttentionRun {
    /// The run's report for the model at `model` on `split` (`None` when no photo was read).
    pub fn report(&self, model: &Path, split: &str) -> Option<AttentionReport> {
        (!self.photos.is_empty()).then(|| AttentionReport {
            protocol: "attention",
            model: model.display().to_string(),
            split: split.to_string(),
            skipped: self.skipped,
            stats: attention_stats(&self.photos),
            collapsed: self
                .photos
                .iter()
                .filter(|p| p.pairwise_iou.is_some_and(|v| v > 0.5))
                .count(),
        })
    }

    /// The explained photos as a grid (PNG) at `png`.
    pub fn draw(&self, png: &Path) -> Result<(), DrawError> {
        write_png(png, &contact_sheet(&self.tiles, 6)?)
    }
}

impl fmt::Display for AttentionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        writeln!(
            f,
            "attention steps of {} on {} photos ({} with a garment mask, {} unreadable)",
            self.model, s.photos, s.photos_with_mask, self.skipped
        )?;
        writeln!(f, "{s}")?;
        write!(
            f,
            "photos whose steps overlap (IoU > 0.5): {} of {}",
            self.collapsed, s.photos
        )
    }
}
