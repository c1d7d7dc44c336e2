//! Do the attention steps find parts of the garment? (`lookbook eval --protocol attention`)
//!
//! For each photo: its garment mask (pixels unlike its plain background,
//! [`lookbook_imaging::GarmentMask`]) and the boxes of its attention steps 1..=K in its
//! pixels. A step box is *mostly garment* when more than half its pixels are garment; the
//! steps *cover* the garment by the share of garment pixels inside at least one box; and
//! they are *distinct parts* when their pairwise IoU is low (1 = every step the same box).
//! Boxes are clipped to the photo first: that is what a person sees.

use lookbook_imaging::GarmentMask;
use serde::Serialize;

/// One photo's measurements.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PhotoAttention {
    /// Step boxes more than half garment (of the photo's boxes), when it has a mask.
    pub mostly_garment: Option<f64>,
    /// Mean garment share inside its boxes, when it has a mask.
    pub garment_share: Option<f64>,
    /// Share of the garment inside at least one box, when it has a mask.
    pub coverage: Option<f64>,
    /// Mean IoU over pairs of step boxes (none with fewer than two steps).
    pub pairwise_iou: Option<f64>,
    /// Mean box area as a share of the photo.
    pub box_area: f64,
}

/// The protocol's table: means over photos (garment measures over photos with a mask).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct AttentionStats {
    pub photos: usize,
    /// Photos whose background was plain enough for a garment mask.
    pub photos_with_mask: usize,
    /// Step boxes more than half garment, of all step boxes of masked photos.
    pub mostly_garment: f64,
    /// Mean garment share inside a step box.
    pub garment_share: f64,
    /// Mean share of a photo's garment inside the union of its step boxes.
    pub coverage: f64,
    /// Mean pairwise IoU of a photo's step boxes.
    pub pairwise_iou: f64,
    /// Mean step box area, as a share of the photo.
    pub box_area: f64,
}

impl std::fmt::Display for AttentionStats {
    /// One markdown table row under its header.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "| step boxes mostly garment | garment share in a box | garment covered by the boxes | pairwise IoU | box area |"
        )?;
        writeln!(f, "|---|---|---|---|---|")?;
        write!(
            f,
            "| {:.1}% | {:.2} | {:.1}% | {:.2} | {:.1}% |",
            100.0 * self.mostly_garment,
            self.garment_share,
            100.0 * self.coverage,
            self.pairwise_iou,
            100.0 * self.box_area
        )
    }
}

/// `[x0, y0, x1, y1]` clipped to a `width`×`height` photo.
fn clip(b: [f32; 4], width: u32, height: u32) -> [f32; 4] {
    let (w, h) = (width as f32, height as f32);
    [
        b[0].clamp(0.0, w),
        b[1].clamp(0.0, h),
        b[2].clamp(0.0, w),
        b[3].clamp(0.0, h),
    ]
}

fn area(b: [f32; 4]) -> f32 {
    (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0)
}

/// Intersection over union of two boxes (0 when both are empty).
pub fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let inter = area([a[0].max(b[0]), a[1].max(b[1]), a[2].min(b[2]), a[3].min(b[3])]);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// The measurements of one `width`×`height` photo with step `boxes` (pixels) and its mask.
pub fn photo_attention(mask: Option<&GarmentMask>, boxes: &[[f32; 4]], width: u32, height: u32) -> PhotoAttention {
    let boxes: Vec<[f32; 4]> = boxes.iter().map(|&b| clip(b, width, height)).collect();
    let n = boxes.len().max(1) as f64;
    let photo_area = (width as f64 * height as f64).max(1.0);
    let mut pairs = 0usize;
    let mut iou_sum = 0.0f64;
    for (i, &a) in boxes.iter().enumerate() {
        for &b in &boxes[i + 1..] {
            iou_sum += f64::from(iou(a, b));
            pairs += 1;
        }
    }
    let (mostly, share, coverage) = match mask {
        Some(mask) => {
            let shares: Vec<f64> = boxes.iter().map(|&b| f64::from(mask.share_in(b))).collect();
            (
                Some(shares.iter().filter(|&&s| s > 0.5).count() as f64 / n),
                Some(shares.iter().sum::<f64>() / n),
                Some(f64::from(mask.covered_by(&boxes))),
            )
        }
        None => (None, None, None),
    };
    PhotoAttention {
        mostly_garment: mostly,
        garment_share: share,
        coverage,
        pairwise_iou: (pairs > 0).then(|| iou_sum / pairs as f64),
        box_area: boxes.iter().map(|&b| f64::from(area(b))).sum::<f64>() / n / photo_area,
    }
}

/// Means over `photos`.
pub fn attention_stats(photos: &[PhotoAttention]) -> AttentionStats {
    let mean = |values: Vec<f64>| {
        if values.is_empty() {
            0.0
        } else {
            values.iter().sum::<f64>() / values.len() as f64
        }
    };
    let masked: Vec<&PhotoAttention> = photos.iter().filter(|p| p.coverage.is_some()).collect();
    AttentionStats {
        photos: photos.len(),
        photos_with_mask: masked.len(),
        mostly_garment: mean(masked.iter().filter_map(|p| p.mostly_garment).collect()),
        garment_share: mean(masked.iter().filter_map(|p| p.garment_share).collect()),
        coverage: mean(masked.iter().filter_map(|p| p.coverage).collect()),
        pairwise_iou: mean(photos.iter().filter_map(|p| p.pairwise_iou).collect()),
        box_area: mean(photos.iter().map(|p| p.box_area).collect()),
    }
}
