//! Bytes → upright 8-bit RGB, safely.

use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;

use image::error::ImageError as ImgError;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};
use serde::{Deserialize, Serialize};

use crate::error::ImageError;
use crate::integrity::check_complete;

/// Limits that keep a hostile file from exhausting memory or time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecodeLimits {
    pub max_file_bytes: u64,
    pub max_width: u32,
    pub max_height: u32,
    /// Most memory one decode may allocate.
    pub max_alloc_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_file_bytes: 64 << 20,
            // 16k per side covers any camera and any catalogue scan.
            max_width: 16_384,
            max_height: 16_384,
            max_alloc_bytes: 512 << 20,
        }
    }
}

impl DecodeLimits {
    fn check_dimensions(&self, width: u64, height: u64) -> Result<(), ImageError> {
        if width > u64::from(self.max_width) || height > u64::from(self.max_height) {
            return Err(ImageError::TooManyPixels {
                width,
                height,
                max_width: self.max_width,
                max_height: self.max_height,
            });
        }
        // RGB output plus the decoder's own buffer for up to 4 channels of 16 bits.
        if width * height * 8 > self.max_alloc_bytes {
            return Err(ImageError::TooMuchMemory {
                limit: self.max_alloc_bytes,
            });
        }
        Ok(())
    }

    fn to_image_limits(self) -> Limits {
        // Width and height are checked by `check_dimensions` right after the header is
        // read, which names the offending size; the decoder enforces the allocation cap.
        let mut limits = Limits::default();
        limits.max_image_width = None;
        limits.max_image_height = None;
        limits.max_alloc = Some(self.max_alloc_bytes);
        limits
    }
}

/// Read and decode an image file; see [`decode`].
pub fn decode_file(
    path: &Path,
    limits: &DecodeLimits,
    fit: Option<(u32, u32)>,
    background: [u8; 3],
) -> Result<RgbImage, ImageError> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    if len == 0 {
        return Err(ImageError::Empty);
    }
    if len > limits.max_file_bytes {
        return Err(ImageError::FileTooLarge {
            bytes: len,
            limit: limits.max_file_bytes,
        });
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // `take` guards against a file that grows while it is read.
    file.take(limits.max_file_bytes + 1).read_to_end(&mut bytes)?;
    decode(&bytes, limits, fit, background)
}

/// Decode `bytes` (format sniffed from the content, never the file name) to upright RGB.
///
/// * A file that ends before its format says it should (a download cut short) is
///   [`ImageError::Truncated`], even where the decoder would fill in the missing rows.
/// * EXIF orientation is applied, so the garment stands the way the photographer saw it.
/// * Transparent pixels are composited onto `background`; 16-bit and greyscale become 8-bit RGB.
/// * `fit = Some((height, width))` says the caller will shrink the image to fit that box:
///   a JPEG whose fitted size is at most half its own is then decoded at 1/2, 1/4 or
///   1/8 scale in the DCT domain (never below the fitted size), which is several times
///   cheaper than decoding every pixel and throwing most away.
pub fn decode(
    bytes: &[u8],
    limits: &DecodeLimits,
    fit: Option<(u32, u32)>,
    background: [u8; 3],
) -> Result<RgbImage, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    let format = image::guess_format(bytes).map_err(|e| ImageError::UnknownFormat(e.to_string()))?;
    // Decoders fill a cut-off picture with grey rather than fail: the framing decides.
    check_complete(bytes, format).map_err(ImageError::Truncated)?;
    if format == ImageFormat::Jpeg
        && let Some(fit) = fit
        && let Some(img) = decode_jpeg_scaled(bytes, limits, fit)?
    {
        return Ok(img);
    }
    decode_generic(bytes, format, limits, background)
}

fn decode_generic(
    bytes: &[u8],
    format: ImageFormat,
    limits: &DecodeLimits,
    background: [u8; 3],
) -> Result<RgbImage, ImageError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits.to_image_limits());
    let mut decoder = reader.into_decoder().map_err(map_image_error)?;
    let (w, h) = decoder.dimensions();
    limits.check_dimensions(u64::from(w), u64::from(h))?;
    // A broken EXIF block must not cost the picture: fall back to "as stored".
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(map_image_error)?;
    img.apply_orientation(orientation);
    Ok(to_rgb(img, background))
}

/// DCT-scaled JPEG decoding; `None` when scaling would not help (or the JPEG is CMYK,
/// which the general path converts) so the caller decodes at full size.
fn decode_jpeg_scaled(
    bytes: &[u8],
    limits: &DecodeLimits,
    (fit_h, fit_w): (u32, u32),
) -> Result<Option<RgbImage>, ImageError> {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    if decoder.read_info().is_err() {
        // Let the general decoder produce the error message for a broken header.
        return Ok(None);
    }
    let Some(info) = decoder.info() else {
        return Ok(None);
    };
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    limits.check_dimensions(u64::from(w), u64::from(h))?;
    if info.pixel_format == jpeg_decoder::PixelFormat::CMYK32 {
        return Ok(None);
    }
    let orientation = decoder
        .exif_data()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    // The fit box is in display orientation; the stored image may be rotated 90°.
    let rotated = matches!(
        orientation,
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH
    );
    let (box_w, box_h) = if rotated { (fit_h, fit_w) } else { (fit_w, fit_h) };
    let scale = f64::min(f64::from(box_w) / f64::from(w), f64::from(box_h) / f64::from(h));
    if scale > 0.5 {
        return Ok(None);
    }
    let need_w = (f64::from(w) * scale).ceil() as u16;
    let need_h = (f64::from(h) * scale).ceil() as u16;
    let (out_w, out_h) = decoder
        .scale(need_w.max(1), need_h.max(1))
        .map_err(|e| ImageError::Corrupt(e.to_string()))?;
    let pixels = decoder.decode().map_err(|e| ImageError::Corrupt(e.to_string()))?;
    let (out_w, out_h) = (u32::from(out_w), u32::from(out_h));
    let rgb = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => RgbImage::from_raw(out_w, out_h, pixels),
        jpeg_decoder::PixelFormat::L8 => {
            RgbImage::from_raw(out_w, out_h, pixels.iter().flat_map(|&l| [l, l, l]).collect())
        }
        jpeg_decoder::PixelFormat::L16 => RgbImage::from_raw(
            out_w,
            out_h,
            // Big-endian 16-bit samples: the high byte is the 8-bit value.
            pixels.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0]]).collect(),
        ),
        jpeg_decoder::PixelFormat::CMYK32 => None,
    };
    let Some(rgb) = rgb else {
        return Err(ImageError::Corrupt(
            "decoded JPEG has the wrong number of pixels".into(),
        ));
    };
    let mut img = DynamicImage::ImageRgb8(rgb);
    img.apply_orientation(orientation);
    Ok(Some(img.into_rgb8()))
}

/// 8-bit RGB, with any alpha composited onto `background`.
fn to_rgb(img: DynamicImage, background: [u8; 3]) -> RgbImage {
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let rgba = img.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = RgbImage::new(w, h);
    for (dst, src) in out.pixels_mut().zip(rgba.pixels()) {
        let a = u32::from(src[3]);
        for c in 0..3 {
            dst[c] = ((u32::from(src[c]) * a + u32::from(background[c]) * (255 - a) + 127) / 255) as u8;
        }
    }
    out
}

fn map_image_error(e: ImgError) -> ImageError {
    match e {
        ImgError::Limits(l) => ImageError::LimitExceeded(l.to_string()),
        ImgError::Unsupported(u) => ImageError::UnknownFormat(u.to_string()),
        ImgError::IoError(io) => ImageError::Corrupt(io.to_string()),
        other => ImageError::Corrupt(other.to_string()),
    }
}
