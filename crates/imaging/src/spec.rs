use serde::{Deserialize, Serialize};

use crate::error::ImageError;

/// What the model sees: input size, padding colour and normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageSpec {
    pub height: u32,
    pub width: u32,
    /// Colour of letterbox bars and of transparent pixels. Product photos are shot on
    /// light backgrounds, so white bars read as more background, not as an edge.
    pub pad: [u8; 3],
    /// Per-channel mean and standard deviation on the 0..1 scale (ImageNet's by default).
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// How the photo is brought to H×W: kept whole in a letterbox, or stretched.
    pub fit: Fit,
    /// The resampling filter (antialiased when shrinking, as PIL's).
    pub filter: ResizeFilter,
}

/// Letterbox keeps the aspect ratio (bars of `pad`); stretch fills H×W exactly, as
/// ImageNet models' reference preprocessing (PIL `resize((W, H))`) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    #[default]
    Letterbox,
    Stretch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResizeFilter {
    /// torchvision's `Resize` default.
    #[default]
    Bilinear,
    /// PIL's `BICUBIC` (Catmull-Rom, a = −0.5).
    Bicubic,
}

impl Default for ImageSpec {
    /// The study's input: 384×256 (H×W), ImageNet normalisation.
    fn default() -> Self {
        ImageSpec {
            height: 384,
            width: 256,
            pad: [255, 255, 255],
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
            fit: Fit::Letterbox,
            filter: ResizeFilter::Bilinear,
        }
    }
}

impl ImageSpec {
    pub fn with_size(height: u32, width: u32) -> Self {
        ImageSpec {
            height,
            width,
            ..ImageSpec::default()
        }
    }

    /// Floats per image: 3 × H × W.
    pub fn tensor_len(&self) -> usize {
        3 * self.height as usize * self.width as usize
    }

    pub fn validate(&self) -> Result<(), ImageError> {
        if self.height == 0 || self.width == 0 || self.height > 8192 || self.width > 8192 {
            return Err(ImageError::BadSpec(format!(
                "size {}x{} must be within 1..=8192",
                self.height, self.width
            )));
        }
        if self.std.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            return Err(ImageError::BadSpec(format!("std {:?} must be positive", self.std)));
        }
        Ok(())
    }
}
