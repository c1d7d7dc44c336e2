//! The baseline: a colour histogram, so the evaluation table has a floor to beat.

use std::path::Path;

use lookbook_imaging::{BadImage, ImageError, ImageSpec, Preprocessor};

use crate::Embedder;

/// Levels per RGB channel: 8 × 8 × 8 = 512 bins.
const LEVELS: usize = 8;
/// Pixels this bright on every channel are the studio background, not the garment.
const BACKGROUND: u8 = 245;

/// An 8×8×8 RGB histogram of the photo's non-background pixels, L2-normalised.
pub struct HistogramEmbedder {
    preprocessor: Preprocessor,
}

impl HistogramEmbedder {
    pub fn new() -> Self {
        // Small decodes: colour statistics need few pixels, and JPEG DCT scaling makes
        // them cheap.
        let spec = ImageSpec::with_size(96, 64);
        HistogramEmbedder {
            preprocessor: Preprocessor::new(spec).expect("a valid built-in spec"),
        }
    }
}

impl Default for HistogramEmbedder {
    fn default() -> Self {
        Self::new()
    }
}

/// The histogram of `pixels` (RGB bytes) into `out` (512 floats), L2-normalised.
pub fn rgb_histogram(pixels: &[u8], out: &mut [f32]) {
    out.fill(0.0);
    let bin = |v: u8| v as usize * LEVELS / 256;
    let mut counted = 0usize;
    for p in pixels.chunks_exact(3) {
        if p.iter().all(|&v| v >= BACKGROUND) {
            continue;
        }
        out[(bin(p[0]) * LEVELS + bin(p[1])) * LEVELS + bin(p[2])] += 1.0;
        counted += 1;
    }
    if counted == 0 {
        // An all-background picture: count it as white rather than leave a zero vector.
        out[LEVELS * LEVELS * LEVELS - 1] = 1.0;
    }
    let norm = out.iter().map(|v| v * v).sum::<f32>().sqrt();
    out.iter_mut().for_each(|v| *v /= norm);
}

impl Embedder for HistogramEmbedder {
    fn describe(&self) -> String {
        "RGB histogram 8x8x8 (baseline)".into()
    }

    fn dim(&self) -> usize {
        LEVELS * LEVELS * LEVELS
    }

    fn parts(&self) -> (usize, usize) {
        (0, 0)
    }

    fn item_len(&self) -> usize {
        self.dim()
    }

    fn load_item(&self, path: &Path, out: &mut [f32]) -> Result<(), BadImage> {
        let image = self.preprocessor.decode(path)?;
        rgb_histogram(image.as_raw(), out);
        Ok(())
    }

    fn load_bytes(&self, bytes: &[u8], out: &mut [f32]) -> Result<(), ImageError> {
        let image = self.preprocessor.decode_bytes(bytes)?;
        rgb_histogram(image.as_raw(), out);
        Ok(())
    }

    fn embed_batch(&self, items: &[f32], _n: usize) -> (Vec<f32>, Vec<f32>) {
        (items.to_vec(), Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::rgb_histogram;

    #[test]
    fn counts_garment_pixels_into_their_bins_and_skips_the_background() {
        // Two red pixels, one dark blue, three studio-white ones.
        let pixels = [
            250, 10, 10, 250, 10, 10, 0, 0, 100, 255, 255, 255, 250, 250, 250, 246, 247, 248,
        ];
        let mut out = vec![0.0f32; 512];
        rgb_histogram(&pixels, &mut out);
        let (red, blue) = ((7 * 8) * 8, 3);
        // Counts 2 and 1, L2-normalised: 2/√5 and 1/√5.
        assert!((out[red] - 2.0 / 5f32.sqrt()).abs() < 1e-6);
        assert!((out[blue] - 1.0 / 5f32.sqrt()).abs() < 1e-6);
        assert_eq!(
            out.iter().filter(|v| **v > 0.0).count(),
            2,
            "white pixels are not counted"
        );
        // A picture that is all background is white, not a zero vector.
        rgb_histogram(&[255; 12], &mut out);
        assert_eq!(out[511], 1.0);
    }
}
