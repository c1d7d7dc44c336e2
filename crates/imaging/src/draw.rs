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

/// A picture that could not be drawn or written.
#[derive(Debug, thiserror::Error)]
pub enum DrawError {
    /// The plotting library failed (a font, a backend).
    #[error("drawing: {0}")]
    Plot(String),
    #[error("writing {path}: {message}")]
    Write { path: PathBuf, message: String },
}

impl DrawError {
    fn plot(error: impl std::fmt::Display) -> Self {
        DrawError::Plot(error.to_string())
    }
}

/// Encodes `image` as PNG into `path` through a temporary file and a rename, so a reader
/// never sees half a picture.
pub fn write_png(path: &Path, image: &RgbImage) -> Result<(), DrawError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    image
        .save_with_format(&tmp, image::ImageFormat::Png)
        .map_err(|e| DrawError::Write {
            path: tmp.clone(),
            message: e.to_string(),
        })?;
    std::fs::rename(&tmp, path).map_err(|e| DrawError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
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

/// Lines over a shared x axis with a legend; y in [0, 1] for accuracies and shares (up to
/// the data's maximum when it is small or above 1).
pub fn line_chart(title: &str, x_label: &str, lines: &[Line], size: (u32, u32)) -> Result<RgbImage, DrawError> {
    let (width, height) = size;
    let text = font_available();
    let mut pixels = vec![255u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        let x_max = lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.0))
            .fold(0.0f64, f64::max);
        let x_max = if x_max > 0.0 { x_max } else { 1.0 };
        // Shares and accuracies keep the whole [0, 1]; small quantities (distances) get an
        // axis that shows them.
        let y_max = lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .fold(0.0f64, f64::max);
        let y_top = if y_max > 0.5 || y_max <= 0.0 {
            y_max.max(1.0)
        } else {
            y_max * 1.1
        };
        let mut chart = ChartBuilder::on(&root);
        chart.margin(16).x_label_area_size(40).y_label_area_size(50);
        if text {
            chart.caption(title, (FONT_FAMILY, 20));
        }
        let mut chart = chart
            .build_cartesian_2d(0.0..x_max * 1.02, 0.0..y_top)
            .map_err(DrawError::plot)?;
        let mut mesh = chart.configure_mesh();
        if text {
            mesh.x_desc(x_label).label_style((FONT_FAMILY, 14));
        } else {
            mesh.disable_x_mesh().disable_y_mesh().x_labels(0).y_labels(0);
        }
        mesh.draw().map_err(DrawError::plot)?;
        for (line, colour) in lines.iter().zip(PALETTE.iter().cycle()) {
            let style = colour.stroke_width(2);
            let series = chart
                .draw_series(LineSeries::new(line.points.iter().copied(), style))
                .map_err(DrawError::plot)?;
            if text {
                series
                    .label(line.label.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
            }
            chart
                .draw_series(line.points.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                .map_err(DrawError::plot)?;
        }
        if text {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .label_font((FONT_FAMILY, 14))
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(DrawError::plot)?;
        }
        root.present().map_err(DrawError::plot)?;
    }
    Ok(RgbImage::from_raw(width, height, pixels).expect("buffer sized for the image"))
}

/// One picture of a contact sheet and the text under it.
#[derive(Debug, Clone)]
pub struct Tile {
    /// The photo; an empty path makes a words cell (a text query), its caption written inside.
    pub image: PathBuf,
    pub caption: String,
    /// Boxes to draw on the photo, as fractions of its width and height
    /// `[x0, y0, x1, y1]` (e.g. the part a recommendation matched).
    pub boxes: Vec<[f32; 4]>,
}

const TILE_WIDTH: u32 = 160;
const TILE_HEIGHT: u32 = 240;
const CAPTION_HEIGHT: u32 = 36;
const GAP: u32 = 8;

/// A grid of photos, `columns` wide, each fitted into a 160×240 cell with its caption
/// below. The first tile (the query) gets a red frame. A photo that cannot be read becomes
/// a grey cell that says so; the sheet is still drawn.
pub fn contact_sheet(tiles: &[Tile], columns: usize) -> Result<RgbImage, DrawError> {
    let columns = columns.clamp(1, tiles.len().max(1)) as u32;
    let rows = (tiles.len() as u32).div_ceil(columns).max(1);
    let (cell_w, cell_h) = (TILE_WIDTH + GAP, TILE_HEIGHT + CAPTION_HEIGHT + GAP);
    let (width, height) = (columns * cell_w + GAP, rows * cell_h + GAP);
    let mut sheet = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    let mut unreadable = Vec::new();
    // Where each photo landed in its cell: (dx, dy, width, height); dx = MAX when unreadable.
    let mut placed: Vec<(u32, u32, u32, u32)> = Vec::with_capacity(tiles.len());
    for (i, tile) in tiles.iter().enumerate() {
        let (x, y) = (GAP + (i as u32 % columns) * cell_w, GAP + (i as u32 / columns) * cell_h);
        if tile.image.as_os_str().is_empty() {
            // A words cell (a text query): its caption is written inside, below.
            placed.push((u32::MAX, 0, 0, 0));
        } else {
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
                    placed.push((dx, dy, thumb.width(), thumb.height()));
                }
                Err(_) => {
                    placed.push((u32::MAX, 0, 0, 0));
                    for py in y..y + TILE_HEIGHT {
                        for px in x..x + TILE_WIDTH {
                            sheet.put_pixel(px, py, Rgb([200, 200, 200]));
                        }
                    }
                    unreadable.push(i);
                }
            }
        }
        if let Some(&(dx, dy, tw, th)) = placed.last().filter(|p| p.0 != u32::MAX) {
            for fraction in &tile.boxes {
                let pixels = [
                    fraction[0] * tw as f32,
                    fraction[1] * th as f32,
                    fraction[2] * tw as f32,
                    fraction[3] * th as f32,
                ];
                draw_box(&mut sheet, (x + dx, y + dy), pixels, Rgb([30, 90, 220]), 2);
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
            if tile.image.as_os_str().is_empty() {
                for (n, line) in wrap(&tile.caption, 22).iter().take(12).enumerate() {
                    root.draw(&Text::new(
                        line.clone(),
                        ((x + 10) as i32, (y + 16 + 18 * n as u32) as i32),
                        (FONT_FAMILY, 15).into_font().color(&BLACK),
                    ))
                    .map_err(DrawError::plot)?;
                }
                continue;
            }
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
                .map_err(DrawError::plot)?;
            }
        }
        root.present().map_err(DrawError::plot)?;
    }
    Ok(sheet)
}

/// `text` in lines of at most `width` characters, broken between words (and at its own line
/// breaks).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines
}

/// A photo's size scaled to fit one cell, aspect kept.
fn fit(width: u32, height: u32) -> (u32, u32) {
    let scale = (TILE_WIDTH as f64 / width.max(1) as f64).min(TILE_HEIGHT as f64 / height.max(1) as f64);
    (
        ((width as f64 * scale).round() as u32).clamp(1, TILE_WIDTH),
        ((height as f64 * scale).round() as u32).clamp(1, TILE_HEIGHT),
    )
}

/// A rectangle outline `[x0, y0, x1, y1]` (pixels, relative to `origin`), clipped to `image`.
pub fn draw_box(image: &mut RgbImage, origin: (u32, u32), bbox: [f32; 4], colour: Rgb<u8>, thickness: u32) {
    let (w, h) = image.dimensions();
    let clamp =
        |v: f32, offset: u32, max: u32| ((offset as f32 + v).round().max(0.0) as u32).min(max.saturating_sub(1));
    let (x0, x1) = (clamp(bbox[0], origin.0, w), clamp(bbox[2], origin.0, w));
    let (y0, y1) = (clamp(bbox[1], origin.1, h), clamp(bbox[3], origin.1, h));
    for t in 0..thickness {
        for x in x0..=x1 {
            image.put_pixel(x, (y0 + t).min(y1), colour);
            image.put_pixel(x, y1.saturating_sub(t).max(y0), colour);
        }
        for y in y0..=y1 {
            image.put_pixel((x0 + t).min(x1), y, colour);
            image.put_pixel(x1.saturating_sub(t).max(x0), y, colour);
        }
    }
}

/// One labelled box of an [`annotate`]d picture, in the photo's pixels.
#[derive(Debug, Clone)]
pub struct Annotation {
    pub bbox: [f32; 4],
    pub label: String,
}

/// Colours of annotated boxes, one per step (cycled).
const BOX_COLOURS: [Rgb<u8>; 6] = [
    Rgb([30, 90, 220]),
    Rgb([220, 40, 40]),
    Rgb([20, 160, 60]),
    Rgb([230, 140, 0]),
    Rgb([150, 40, 190]),
    Rgb([0, 160, 170]),
];

/// `photo` with a heat overlay (`heat(x, y)` in 0..=1, red where high), each annotation's box
/// in its own colour with its label, and `notes` (e.g. predicted labels) in a panel on the
/// right. Without a font the boxes and heat are drawn, the text is not.
pub fn annotate(
    photo: &RgbImage,
    annotations: &[Annotation],
    heat: Option<&dyn Fn(u32, u32) -> f32>,
    notes: &[String],
) -> Result<RgbImage, DrawError> {
    const PANEL: u32 = 260;
    let notes: Vec<String> = notes.iter().flat_map(|note| wrapped(note, NOTE_CHARS)).collect();
    let (pw, ph) = photo.dimensions();
    let height = ph.max(24 + 18 * notes.len() as u32);
    let mut picture = RgbImage::from_pixel(pw + PANEL, height, Rgb([255, 255, 255]));
    for (x, y, pixel) in photo.enumerate_pixels() {
        let mut rgb = pixel.0;
        if let Some(heat) = heat {
            let alpha = 0.55 * heat(x, y).clamp(0.0, 1.0);
            let red = [230.0, 30.0, 30.0];
            for c in 0..3 {
                rgb[c] = (rgb[c] as f32 * (1.0 - alpha) + red[c] * alpha).round() as u8;
            }
        }
        picture.put_pixel(x, y, Rgb(rgb));
    }
    for (annotation, colour) in annotations.iter().zip(BOX_COLOURS.iter().cycle()) {
        draw_box(&mut picture, (0, 0), annotation.bbox, *colour, 3);
    }
    if font_available() {
        let (w, h) = picture.dimensions();
        let root = BitMapBackend::with_buffer(picture.as_mut(), (w, h)).into_drawing_area();
        for (annotation, colour) in annotations.iter().zip(BOX_COLOURS.iter().cycle()) {
            let (x, y) = (
                annotation.bbox[0].max(0.0) as i32 + 4,
                annotation.bbox[1].max(0.0) as i32 + 4,
            );
            let colour = RGBColor(colour.0[0], colour.0[1], colour.0[2]);
            root.draw(&Text::new(
                annotation.label.clone(),
                (x, y),
                (FONT_FAMILY, 16).into_font().color(&colour),
            ))
            .map_err(DrawError::plot)?;
        }
        for (i, note) in notes.iter().enumerate() {
            root.draw(&Text::new(
                note.as_str(),
                (pw as i32 + 10, 10 + 18 * i as i32),
                (FONT_FAMILY, 14).into_font().color(&BLACK),
            ))
            .map_err(DrawError::plot)?;
        }
        root.present().map_err(DrawError::plot)?;
    }
    Ok(picture)
}

/// Characters of a note that fit the panel's width at 14 px.
const NOTE_CHARS: usize = 34;

/// `note` as lines of at most `width` characters, continued lines indented, broken after an
/// `=` or a space where one falls late enough (a label's value stays whole) — the end of a
/// long label is what tells it from its neighbours, so it is wrapped rather than clipped.
fn wrapped(note: &str, width: usize) -> Vec<String> {
    const INDENT: &str = "    ";
    let mut lines = Vec::new();
    let mut rest: Vec<char> = note.chars().collect();
    let mut room = width;
    while rest.len() > room {
        let cut = (room / 2..room)
            .rev()
            .find(|&i| rest[i] == '=' || rest[i] == ' ')
            .map_or(room, |i| i + 1);
        let line: String = rest.drain(..cut).collect();
        lines.push(line.trim_end().to_string());
        room = width - INDENT.len();
    }
    let last: String = rest.into_iter().collect();
    lines.push(last);
    // Every line after the first is a continuation.
    for line in lines.iter_mut().skip(1) {
        line.insert_str(0, INDENT);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::wrapped;

    #[test]
    fn a_long_note_wraps_after_its_equals_sign_and_loses_nothing() {
        assert_eq!(
            wrapped("3.11  product_type_name=T-shirt", 34),
            ["3.11  product_type_name=T-shirt"]
        );
        assert_eq!(
            wrapped("3.58  graphical_appearance_name=Stripe", 34),
            ["3.58  graphical_appearance_name=", "    Stripe"]
        );
        // No place to break: cut at the width; every line fits.
        let long = "x".repeat(75);
        let lines = wrapped(&long, 34);
        assert_eq!(
            lines,
            [
                "x".repeat(34),
                format!("    {}", "x".repeat(30)),
                format!("    {}", "x".repeat(11))
            ]
        );
        assert!(lines.iter().all(|l| l.chars().count() <= 34));
    }
}
