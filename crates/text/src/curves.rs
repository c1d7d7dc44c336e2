//! `curves.png` of a text model folder: the contrastive loss and validation recall per epoch,
//! drawn as `lookbook_imaging::draw` draws the image runs' charts.

use std::path::{Path, PathBuf};

use image::RgbImage;
use image::imageops::overlay;
use lookbook_imaging::draw::{Line, line_chart, write_png};

use crate::TextError;
use crate::saved::TextEpoch;

const PANEL: (u32, u32) = (600, 400);

/// Draws `curves.png` in `out` (temp file + rename).
pub fn write_curves(out: &Path, history: &[TextEpoch]) -> Result<PathBuf, TextError> {
    let line = |label: &str, value: fn(&TextEpoch) -> f64| Line {
        label: label.to_string(),
        points: history.iter().map(|e| (e.epoch as f64, value(e))).collect(),
    };
    let failed = |e: lookbook_imaging::draw::DrawError| TextError::Data(format!("drawing curves.png: {e}"));
    let loss = line_chart("training loss (InfoNCE)", "epoch", &[line("loss", |e| e.loss)], PANEL).map_err(failed)?;
    let recall = line_chart(
        "validation: caption → its photo",
        "epoch",
        &[line("R@1", |e| e.val_recall_1), line("R@10", |e| e.val_recall_10)],
        PANEL,
    )
    .map_err(failed)?;
    let mut both = RgbImage::new(PANEL.0 * 2, PANEL.1);
    overlay(&mut both, &loss, 0, 0);
    overlay(&mut both, &recall, PANEL.0 as i64, 0);
    let path = out.join("curves.png");
    write_png(&path, &both).map_err(failed)?;
    Ok(path)
}
