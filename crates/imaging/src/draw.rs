//! Pictures out: line charts (training curves, top-k curves) and contact sheets (a query and
//! its results), encoded as PNG and written atomically.
//!
//! plotters draws into an RGB buffer; its text goes through ab_glyph with a system TrueType
//! font (`LOOKBOOK_FONT`, else DejaVu/Liberation/Noto Sans where the OS keeps them). Without
//! any font a picture is drawn without text, not skipped.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use image::{Rgb, RgbImage};
use plotters::prelude::*;
use plotters::style::FontStyle;

/// The family name fonts are registered under.
pub const FONT_FAMILY: &str = "sans-serif";

const FONT_CANDIDATES: [&str; 5] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
];

/// Registers a font with plotters once per process; `false` when none could be read.
pub fn font_available() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        let mut candidates: Vec<PathBuf> = std::env::var_os("LOOKBOOK_FONT")
            .map(PathBuf::from)
            .into_iter()
            .collect();
        candidates.extend(FONT_CANDIDATES.iter().map(PathBuf::from));
        for path in candidates {
            if let Ok(bytes) = std::fs::read(&path) {
                // plotters keeps fonts for the whole process; one small leak, once.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        tracing::debug!("no TrueType font found; pictures are drawn without text");
        false
    })
}

/// Encodes `image` as PNG into `path` through a temporary file and a rename, so a reader
/// never sees half a picture.
pub fn write_png(path: &Path, image: &RgbImage) -> Result<(), String> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    image
        .save_with_format(&tmp, image::ImageFormat::Png)
        .map_err(|e| format!("encoding {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// One line of a [`line_chart`]: a label and its (x, y) points.
#[derive(Debug, Clone)]
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(200, 30, 30),
    RGBColor(30, 80, 200),
    RGBColor(30, 150, 60),
    RGBColor(150, 150, 150),
    RGBColor(180, 40, 180),
    RGBColor(230, 140, 20),
];

/// Lines over a shared x axis with y in [0, 1] (accuracies, precisions), with a legend.
pub fn line_chart(title: &str, x_label: &str, lines: &[Line], size: (u32, u32)) -> Result<RgbImage, String> {
    let (width, height) = size;
    let text = font_available();
    let mut pixels = vec![255u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        let x_max = lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.0))
            .fold(1.0f64, f64::max);
        let mut chart = ChartBuilder::on(&root);
        chart.margin(16).x_label_area_size(40).y_label_area_size(50);
        if text {
            chart.caption(title, (FONT_FAMILY, 20));
        }
        let mut chart = chart
            .build_cartesian_2d(0.0..x_max * 1.02, 0.0..1.0f64)
            .map_err(|e| e.to_string())?;
        let mut mesh = chart.configure_mesh();
        if text {
            mesh.x_desc(x_label).label_style((FONT_FAMILY, 14));
        } else {
            mesh.disable_x_mesh().disable_y_mesh().x_labels(0).y_labels(0);
        }
        mesh.draw().map_err(|e| e.to_string())?;
        for (line, colour) in lines.iter().zip(PALETTE.iter().cycle()) {
            let style = colour.stroke_width(2);
            let series = chart
                .draw_series(LineSeries::new(line.points.iter().copied(), style))
                .map_err(|e| e.to_string())?;
            if text {
                series
                    .label(line.label.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
            }
            chart
                .draw_series(line.points.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                .map_err(|e| e.to_string())?;
        }
        if text {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .label_font((FONT_FAMILY, 14))
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(RgbImage::from_raw(width, height, pixels).expect("buffer sized for the image"))
}

/// One picture of a contact sheet and the text under it.
#[derive(Debug, Clone)]
pub struct Tile {
    pub image: PathBuf,
    pub caption: String,
}

const TILE_WIDTH: u32 = 160;
const TILE_HEIGHT: u32 = 240;
const CAPTION_HEIGHT: u32 = 36;
const GAP: u32 = 8;

/// A grid of photos, `columns` wide, each fitted into a 160×240 cell with its caption
/// below. The first tile (the query) gets a red frame. A photo that cannot be read becomes
/// a grey cell that says so; the sheet is still drawn.
pub fn contact_sheet(tiles: &[Tile], columns: usize) -> Result<RgbImage, String> {
    let columns = columns.clamp(1, tiles.len().max(1)) as u32;
    let rows = (tiles.len() as u32).div_ceil(columns).max(1);
    let (cell_w, cell_h) = (TILE_WIDTH + GAP, TILE_HEIGHT + CAPTION_HEIGHT + GAP);
    let (width, height) = (columns * cell_w + GAP, rows * cell_h + GAP);
    let mut sheet = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    let mut unreadable = Vec::new();
    for (i, tile) in tiles.iter().enumerate() {
        let (x, y) = (GAP + (i as u32 % columns) * cell_w, GAP + (i as u32 / columns) * cell_h);
        match crate::decode_file(
            &tile.image,
            &crate::DecodeLimits::default(),
            Some((TILE_HEIGHT, TILE_WIDTH)),
            [255, 255, 255],
        ) {
            Ok(photo) => {
                let thumb = image::imageops::thumbnail(
                    &photo,
                    fit(photo.width(), photo.height()).0,
                    fit(photo.width(), photo.height()).1,
                );
                let (dx, dy) = ((TILE_WIDTH - thumb.width()) / 2, (TILE_HEIGHT - thumb.height()) / 2);
                image::imageops::overlay(&mut sheet, &thumb, (x + dx) as i64, (y + dy) as i64);
            }
            Err(_) => {
                for py in y..y + TILE_HEIGHT {
                    for px in x..x + TILE_WIDTH {
                        sheet.put_pixel(px, py, Rgb([200, 200, 200]));
                    }
                }
                unreadable.push(i);
            }
        }
        if i == 0 {
            for t in 0..3 {
                for px in x..x + TILE_WIDTH {
                    sheet.put_pixel(px, y + t, Rgb([200, 30, 30]));
                    sheet.put_pixel(px, y + TILE_HEIGHT - 1 - t, Rgb([200, 30, 30]));
                }
                for py in y..y + TILE_HEIGHT {
                    sheet.put_pixel(x + t, py, Rgb([200, 30, 30]));
                    sheet.put_pixel(x + TILE_WIDTH - 1 - t, py, Rgb([200, 30, 30]));
                }
            }
        }
    }
    if font_available() {
        let (w, h) = sheet.dimensions();
        let root = BitMapBackend::with_buffer(sheet.as_mut(), (w, h)).into_drawing_area();
        for (i, tile) in tiles.iter().enumerate() {
            let (x, y) = (GAP + (i as u32 % columns) * cell_w, GAP + (i as u32 / columns) * cell_h);
            let mut lines: Vec<String> = tile.caption.lines().map(str::to_string).collect();
            if unreadable.contains(&i) {
                lines.insert(0, "(unreadable)".into());
            }
            for (n, line) in lines.iter().take(2).enumerate() {
                let clipped: String = line.chars().take(24).collect();
                root.draw(&Text::new(
                    clipped,
                    (x as i32, (y + TILE_HEIGHT + 4 + 16 * n as u32) as i32),
                    (FONT_FAMILY, 13).into_font().color(&BLACK),
                ))
                .map_err(|e| e.to_string())?;
            }
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(sheet)
}

/// A photo's size scaled to fit one cell, aspect kept.
fn fit(width: u32, height: u32) -> (u32, u32) {
    let scale = (TILE_WIDTH as f64 / width.max(1) as f64).min(TILE_HEIGHT as f64 / height.max(1) as f64);
    (
        ((width as f64 * scale).round() as u32).clamp(1, TILE_WIDTH),
        ((height as f64 * scale).round() as u32).clamp(1, TILE_HEIGHT),
    )
}
