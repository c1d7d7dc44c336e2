//! Attention boxes of indexed photos: found by running the seed model again (boxes are not
//! stored in the index), kept per image so the model runs once per photo.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use lookbook_embed::{Explanation, SeedEmbedder};

use crate::answer::RegionBox;

/// Explained photos kept (boxes of every step per image: a few hundred bytes each).
const REGION_CACHE: usize = 100_000;

/// Each step's box in one photo (step 0 is the whole photo), in its pixels, with the photo's
/// size and where each box sits on the garment.
#[derive(Debug, Clone, PartialEq)]
pub struct PhotoBoxes {
    pub width: u32,
    pub height: u32,
    /// `([x0, y0, x1, y1]` in pixels, part name) per step.
    pub steps: Vec<([f32; 4], &'static str)>,
}

impl PhotoBoxes {
    pub fn of(explanation: &Explanation) -> Self {
        PhotoBoxes {
            width: explanation.width,
            height: explanation.height,
            steps: explanation.regions.iter().map(|r| (r.bbox, r.name)).collect(),
        }
    }

    /// Step `step`'s box as fractions of the photo's width and height.
    pub fn fraction(&self, step: usize) -> Option<[f32; 4]> {
        let (w, h) = (self.width.max(1) as f32, self.height.max(1) as f32);
        self.steps
            .get(step)
            .map(|(b, _)| [b[0] / w, b[1] / h, b[2] / w, b[3] / h])
    }

    /// The attention steps' boxes as the answer shows them (step 0, the whole photo, says
    /// nothing on a picture).
    pub fn region_boxes(&self) -> Vec<RegionBox> {
        (1..self.steps.len())
            .filter_map(|step| {
                Some(RegionBox {
                    step,
                    name: self.steps[step].1.to_string(),
                    part_box: self.fraction(step)?.to_vec(),
                })
            })
            .collect()
    }
}

/// Boxes by image key, computed on first use.
#[derive(Default)]
pub(crate) struct BoxCache(Mutex<HashMap<u64, Arc<PhotoBoxes>>>);

impl BoxCache {
    /// The boxes of the image `key` (its file `path`), explained by `seed` the first time.
    pub(crate) fn get(&self, seed: &SeedEmbedder, key: u64, path: &Path) -> Option<Arc<PhotoBoxes>> {
        if let Some(boxes) = self.0.lock().ok()?.get(&key) {
            return Some(Arc::clone(boxes));
        }
        let explanation = match seed.explain(path) {
            Ok(explanation) => explanation,
            Err(bad) => {
                tracing::warn!("no boxes for {bad}");
                return None;
            }
        };
        let boxes = Arc::new(PhotoBoxes::of(&explanation));
        let mut cache = self.0.lock().ok()?;
        if cache.len() >= REGION_CACHE {
            cache.clear();
        }
        cache.insert(key, Arc::clone(&boxes));
        Some(boxes)
    }
}
