//! Letterboxing to the model's input size and normalisation to CHW floats.

use std::cell::RefCell;
use std::path::Path;

use fast_image_resize::images::{TypedImage, TypedImageRef};
use fast_image_resize::pixels::U8x3;
use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

use crate::decode::{DecodeLimits, decode, decode_file};
use crate::error::{BadImage, ImageError};
use crate::spec::{Fit, ImageSpec, ResizeFilter};

thread_local! {
    // The resizer keeps scratch buffers between calls; one per decoding thread.
    static RESIZER: RefCell<Resizer> = RefCell::new(Resizer::new());
}

/// Where an `src_w`×`src_h` image lands in a `dst_w`×`dst_h` letterbox:
/// `(width, height, left, top)` of the resized picture inside the canvas.
pub fn letterbox_geometry(src_w: u32, src_h: u32, dst_w: u32, dst_h: u32) -> (u32, u32, u32, u32) {
    let scale = f64::min(f64::from(dst_w) / f64::from(src_w), f64::from(dst_h) / f64::from(src_h));
    let w = ((f64::from(src_w) * scale).round() as u32).clamp(1, dst_w);
    let h = ((f64::from(src_h) * scale).round() as u32).clamp(1, dst_h);
    (w, h, (dst_w - w) / 2, (dst_h - h) / 2)
}

/// A box `[x0, y0, x1, y1]` in pixels of the `dst_w`×`dst_h` letterbox back in pixels of the
/// `src_w`×`src_h` image it was made from (bars cut off: the box is clamped to the photo).
pub fn unletterbox_box(bbox: [f32; 4], src_w: u32, src_h: u32, dst_w: u32, dst_h: u32) -> [f32; 4] {
    let (w, h, left, top) = letterbox_geometry(src_w, src_h, dst_w, dst_h);
    let (sx, sy) = (src_w as f32 / w as f32, src_h as f32 / h as f32);
    let x = |v: f32| ((v - left as f32) * sx).clamp(0.0, src_w as f32);
    let y = |v: f32| ((v - top as f32) * sy).clamp(0.0, src_h as f32);
    [x(bbox[0]), y(bbox[1]), x(bbox[2]), y(bbox[3])]
}

/// Resize `img` to fit `spec`'s H×W keeping its aspect ratio (antialiased bilinear,
/// as torchvision's `Resize`), centred on a canvas of `spec.pad`.
/// With `Fit::Stretch` the picture fills the canvas instead.
pub fn letterbox(img: &RgbImage, spec: &ImageSpec) -> RgbImage {
    let (src_w, src_h) = img.dimensions();
    let (w, h, left, top) = match spec.fit {
        Fit::Letterbox => letterbox_geometry(src_w, src_h, spec.width, spec.height),
        Fit::Stretch => (spec.width, spec.height, 0, 0),
    };
    let resized;
    let fitted: &[u8] = if (w, h) == (src_w, src_h) {
        img.as_raw()
    } else {
        resized = resize_rgb(img.as_raw(), src_w, src_h, w, h, spec.filter);
        &resized
    };
    if (w, h) == (spec.width, spec.height) {
        return RgbImage::from_raw(w, h, fitted.to_vec()).expect("buffer sized to the image");
    }
    let mut canvas = RgbImage::from_pixel(spec.width, spec.height, image::Rgb(spec.pad));
    let row_bytes = 3 * w as usize;
    let canvas_row = 3 * spec.width as usize;
    let buf: &mut [u8] = &mut canvas;
    for (y, row) in fitted.chunks_exact(row_bytes).enumerate() {
        let start = (top as usize + y) * canvas_row + 3 * left as usize;
        buf[start..start + row_bytes].copy_from_slice(row);
    }
    canvas
}

// Typed RGB views, not `Image` with a `PixelType`: the untyped `resize` dispatches at run
// time over all 13 pixel types, so every one's SIMD kernels were compiled into this crate —
// 60% of its code and most of its ~5 minutes of optimised build (cargo llvm-lines).
fn resize_rgb(src: &[u8], src_w: u32, src_h: u32, dst_w: u32, dst_h: u32, filter: ResizeFilter) -> Vec<u8> {
    let src = TypedImageRef::<U8x3>::from_buffer(src_w, src_h, src).expect("buffer sized to the image");
    let mut out = vec![0u8; dst_w as usize * dst_h as usize * 3];
    let mut dst = TypedImage::<U8x3>::from_buffer(dst_w, dst_h, &mut out).expect("buffer sized to the image");
    let filter = match filter {
        ResizeFilter::Bilinear => FilterType::Bilinear,
        ResizeFilter::Bicubic => FilterType::CatmullRom,
    };
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter));
    RESIZER
        .with_borrow_mut(|r| r.resize_typed(&src, &mut dst, &options))
        .expect("same pixel type on both sides");
    out
}

/// Write `img` (already `spec`-sized) into `out` as CHW floats, `(x/255 − mean)/std`.
pub fn normalise_into(img: &RgbImage, spec: &ImageSpec, out: &mut [f32]) {
    let plane = spec.height as usize * spec.width as usize;
    assert_eq!(
        img.dimensions(),
        (spec.width, spec.height),
        "image must be letterboxed first"
    );
    assert_eq!(out.len(), 3 * plane, "output must hold 3×H×W floats");
    // A 256-entry table per channel turns the arithmetic into one lookup per byte.
    let lut: [[f32; 256]; 3] =
        std::array::from_fn(|c| std::array::from_fn(|v| (v as f32 / 255.0 - spec.mean[c]) / spec.std[c]));
    let (r, rest) = out.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    for (i, px) in img.as_raw().chunks_exact(3).enumerate() {
        r[i] = lut[0][px[0] as usize];
        g[i] = lut[1][px[1] as usize];
        b[i] = lut[2][px[2] as usize];
    }
}

/// Decode + letterbox + normalise, with one spec and one set of limits.
#[derive(Debug, Clone, Copy, Default)]
pub struct Preprocessor {
    pub spec: ImageSpec,
    pub limits: DecodeLimits,
}

impl Preprocessor {
    pub fn new(spec: ImageSpec) -> Result<Self, ImageError> {
        spec.validate()?;
        Ok(Preprocessor {
            spec,
            limits: DecodeLimits::default(),
        })
    }

    /// DCT downscaling fits the photo's longer side; a stretch needs both sides, so it decodes in full.
    fn fit(&self) -> Option<(u32, u32)> {
        match self.spec.fit {
            Fit::Letterbox => Some((self.spec.height, self.spec.width)),
            Fit::Stretch => None,
        }
    }

    /// The upright photo, decoded no larger than needed to fill the letterbox.
    pub fn decode(&self, path: &Path) -> Result<RgbImage, BadImage> {
        decode_file(path, &self.limits, self.fit(), self.spec.pad).map_err(|error| BadImage {
            path: path.to_path_buf(),
            error,
        })
    }

    /// [`Preprocessor::decode`] for an image already in memory (an upload).
    pub fn decode_bytes(&self, bytes: &[u8]) -> Result<RgbImage, ImageError> {
        decode(bytes, &self.limits, self.fit(), self.spec.pad)
    }

    /// [`Preprocessor::load_into`] for an image already in memory (an upload).
    pub fn load_bytes_into(&self, bytes: &[u8], out: &mut [f32]) -> Result<(), ImageError> {
        normalise_into(&letterbox(&self.decode_bytes(bytes)?, &self.spec), &self.spec, out);
        Ok(())
    }

    /// The letterboxed H×W RGB picture the model will see.
    pub fn load_rgb(&self, path: &Path) -> Result<RgbImage, BadImage> {
        Ok(letterbox(&self.decode(path)?, &self.spec))
    }

    /// Load `path` into `out` (3×H×W floats).
    pub fn load_into(&self, path: &Path, out: &mut [f32]) -> Result<(), BadImage> {
        normalise_into(&self.load_rgb(path)?, &self.spec, out);
        Ok(())
    }

    /// [`Preprocessor::load_into`] followed by the photo's garment frame ([`FRAME_LEN`] floats)
    /// ([`crate::letterboxed_frame`]): `out` holds 3×H×W + 4 floats.
    pub fn load_framed_into(&self, path: &Path, out: &mut [f32]) -> Result<(), BadImage> {
        let photo = self.decode(path)?;
        self.framed_into(&photo, out);
        Ok(())
    }

    /// [`Preprocessor::load_framed_into`] for an image already in memory (an upload).
    pub fn load_bytes_framed_into(&self, bytes: &[u8], out: &mut [f32]) -> Result<(), ImageError> {
        let photo = self.decode_bytes(bytes)?;
        self.framed_into(&photo, out);
        Ok(())
    }

    /// A decoded photo → its normalised pixels, then its garment frame, into `out`.
    pub fn framed_into(&self, photo: &RgbImage, out: &mut [f32]) {
        let (pixels, frame) = out.split_at_mut(self.spec.tensor_len());
        normalise_into(&letterbox(photo, &self.spec), &self.spec, pixels);
        frame.copy_from_slice(&crate::letterboxed_frame(photo, &self.spec));
    }
}

/// Floats of a garment frame after an item's pixels ([`Preprocessor::load_framed_into`]) or
/// after its cached trunk output.
pub const FRAME_LEN: usize = 4;

/// `n` items of pixels (or trunk output) each followed by a [`FRAME_LEN`]-float frame →
/// (the pixels, `[n, 4]` frames).
pub fn split_frames(values: Vec<f32>, n: usize) -> (Vec<f32>, Vec<f32>) {
    let item = values.len() / n.max(1);
    let base = item - FRAME_LEN;
    let mut pixels = Vec::with_capacity(n * base);
    let mut frames = Vec::with_capacity(n * FRAME_LEN);
    for chunk in values.chunks_exact(item) {
        pixels.extend_from_slice(&chunk[..base]);
        frames.extend_from_slice(&chunk[base..]);
    }
    (pixels, frames)
}
