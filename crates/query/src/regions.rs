//! Attention boxes of indexed photos: stored in the index by the build that embedded them
//! (issue 20), or — for indexes built before that — found by running the seed model again,
//! kept per image so the model runs once per photo.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use lookbook_embed::{PhotoBoxes, SeedEmbedder};
use lookbook_index::StepBoxes;

use crate::answer::RegionBox;

/// Explained photos kept (boxes of every step per image: a few hundred bytes each).
const REGION_CACHE: usize = 100_000;

/// The boxes an index stored for an image at build time (issue 20), in the form answers use.
pub fn stored(boxes: &StepBoxes) -> PhotoBoxes {
    let [width, height] = boxes.size;
    let whole = ([0.0, 0.0, width as f32, height as f32], "whole picture".to_string());
    PhotoBoxes {
        width,
        height,
        steps: std::iter::once(whole)
            .chain(boxes.steps.iter().map(|s| (s.bbox, s.name.clone())))
            .collect(),
    }
}

/// The attention steps' boxes as the answer shows them (step 0, the whole photo, says
/// nothing on a picture).
pub fn region_boxes(boxes: &PhotoBoxes) -> Vec<RegionBox> {
    (1..boxes.steps.len())
        .filter_map(|step| {
            Some(RegionBox {
                step,
                name: boxes.steps[step].1.clone(),
                part_box: boxes.fraction(step)?.to_vec(),
            })
        })
        .collect()
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
