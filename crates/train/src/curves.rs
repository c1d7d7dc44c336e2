//! `curves.png`: the run's losses and validation metrics per epoch, redrawn after each epoch.
//!
//! plotters draws into an RGB buffer; text and encoding as `lookbook_imaging::draw` does them
//! (a system font, PNG through a temporary file). Without a font the chart has no text.

use std::path::{Path, PathBuf};

use lookbook_imaging::draw::{DrawError, FONT_FAMILY, font_available, write_png};
use plotters::prelude::*;

use crate::error::TrainError;
use crate::reports::EpochReport;

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 450;
type Series<'a> = (&'a str, RGBColor, fn(&EpochReport) -> f64);

/// One panel: a line (and points, so one epoch still shows) per series.
fn panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    title: &str,
    history: &[EpochReport],
    series: &[Series<'_>],
    text: bool,
) -> Result<(), String> {
    let last_epoch = history.last().map_or(1, |r| r.epoch).max(2) as f64;
    let first_epoch = history.first().map_or(1, |r| r.epoch) as f64;
    let top = series
        .iter()
        .flat_map(|(_, _, value)| history.iter().map(value))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        * 1.1;
    let top = if top > 0.0 { top } else { 1.0 };
    let mut builder = ChartBuilder::on(area);
    builder.margin(12);
    if text {
        builder
            .caption(title, (FONT_FAMILY, 20))
            .x_label_area_size(32)
            .y_label_area_size(56);
    }
    let mut chart = builder
        .build_cartesian_2d(first_epoch..last_epoch, 0.0..top)
        .map_err(|e| e.to_string())?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("epoch").label_style((FONT_FAMILY, 14));
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(|e| e.to_string())?;
    for &(name, colour, value) in series {
        let points: Vec<(f64, f64)> = history.iter().map(|r| (r.epoch as f64, value(r))).collect();
        let line = chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
            .map_err(|e| e.to_string())?;
        if text {
            line.label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
        }
        chart
            .draw_series(points.into_iter().map(|p| Circle::new(p, 3, colour.filled())))
            .map_err(|e| e.to_string())?;
    }
    if text {
        chart
            .configure_series_labels()
            .label_font((FONT_FAMILY, 14))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Draws `curves.png` in `run_dir` (temp file + rename, like every file of a run).
pub fn write_curves(run_dir: &Path, history: &[EpochReport]) -> Result<PathBuf, TrainError> {
    let path = run_dir.join("curves.png");
    let text = font_available();
    let mut pixels = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area();
        let (left, right) = root.split_horizontally(WIDTH / 2);
        let losses: [Series<'_>; 3] = [
            ("total loss", RED, |r| r.loss),
            ("classification", BLUE, |r| r.classification),
            ("localisation", GREEN, |r| r.localisation),
        ];
        let metrics: [Series<'_>; 5] = [
            ("val mAP", RED, |r| r.val_map),
            ("label-prior mAP", RGBColor(150, 150, 150), |r| r.val_prior_map),
            ("val top-1", BLUE, |r| r.val_top1),
            ("val top-5", MAGENTA, |r| r.val_top5),
            ("val top-10", GREEN, |r| r.val_top10),
        ];
        panel(&left, "training loss", history, &losses, text)
            .and_then(|()| panel(&right, "validation", history, &metrics, text))
            .and_then(|()| root.present().map_err(|e| e.to_string()))
            .map_err(DrawError::Plot)?;
    }
    let image = image::RgbImage::from_raw(WIDTH, HEIGHT, pixels).expect("buffer sized for the image");
    write_png(&path, &image)?;
    Ok(path)
}
