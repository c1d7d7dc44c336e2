//! Flip test-time augmentation: a photo and its mirror image embedded, their retrieval
//! vectors averaged (issue 19). A garment mirrored is the same garment, so the average is
//! less tied to which way it faces; it costs a second forward pass.

use std::path::Path;
use std::sync::Arc;

use lookbook_imaging::{BadImage, FRAME_LEN, ImageError};

use crate::Embedder;

/// Mirrors one loaded item in place: `channels × height × width` pixels, then (when
/// `framed`) its garment frame θ = (sx, sy, tx, ty), whose horizontal centre flips sign.
pub fn mirror_item(item: &mut [f32], height: usize, width: usize, framed: bool) {
    let pixels = item.len() - if framed { FRAME_LEN } else { 0 };
    debug_assert_eq!(pixels % (height * width), 0, "whole channels");
    for row in item[..pixels].chunks_exact_mut(width) {
        row.reverse();
    }
    if framed {
        item[pixels + 2] = -item[pixels + 2];
    }
}

/// `inner` with each retrieval vector the mean of the photo's and its mirror's; the part
/// vectors stay the photo's own (their positions are the photo's).
pub struct FlipAveraged {
    inner: Arc<dyn Embedder>,
}

impl FlipAveraged {
    /// `None` when `inner` cannot mirror its items (it says so by [`Embedder::mirror`]).
    pub fn new(inner: Arc<dyn Embedder>) -> Option<Self> {
        let mut probe = vec![0.0; inner.item_len()];
        inner.mirror(&mut probe).then_some(FlipAveraged { inner })
    }
}

impl Embedder for FlipAveraged {
    fn describe(&self) -> String {
        format!("{} + flip average", self.inner.describe())
    }

    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn parts(&self) -> (usize, usize) {
        self.inner.parts()
    }

    fn item_len(&self) -> usize {
        self.inner.item_len()
    }

    fn load_item(&self, path: &Path, out: &mut [f32]) -> Result<(), BadImage> {
        self.inner.load_item(path, out)
    }

    fn load_bytes(&self, bytes: &[u8], out: &mut [f32]) -> Result<(), ImageError> {
        self.inner.load_bytes(bytes, out)
    }

    fn label_part(&self) -> bool {
        self.inner.label_part()
    }

    fn mirror(&self, item: &mut [f32]) -> bool {
        self.inner.mirror(item)
    }

    fn embed_batch(&self, items: &[f32], n: usize) -> (Vec<f32>, Vec<f32>) {
        let mut mirrored = items.to_vec();
        for item in mirrored.chunks_exact_mut(self.inner.item_len()) {
            self.inner.mirror(item);
        }
        let (mut vectors, parts) = self.inner.embed_batch(items, n);
        let (flipped, _) = self.inner.embed_batch(&mirrored, n);
        // The mean, scaled back to the photo's own norm: the embedders' vectors have a fixed
        // norm (unit, or one per normalised block), which distances are calibrated to.
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        for (row, mirror) in vectors
            .chunks_exact_mut(self.dim())
            .zip(flipped.chunks_exact(self.dim()))
        {
            let own = norm(row);
            row.iter_mut().zip(mirror).for_each(|(v, f)| *v = (*v + f) / 2.0);
            let scale = own / norm(row).max(1e-12);
            row.iter_mut().for_each(|v| *v *= scale);
        }
        (vectors, parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirroring_reverses_each_row_and_flips_the_frame_centre() {
        // 2 channels × 2 rows × 3 columns, then θ = (0.5, 0.6, 0.2, -0.1).
        let mut item: Vec<f32> = (0..12).map(|v| v as f32).chain([0.5, 0.6, 0.2, -0.1]).collect();
        mirror_item(&mut item, 2, 3, true);
        let expected: Vec<f32> = [2, 1, 0, 5, 4, 3, 8, 7, 6, 11, 10, 9]
            .map(|v| v as f32)
            .into_iter()
            .chain([0.5, 0.6, -0.2, -0.1])
            .collect();
        assert_eq!(item, expected);
        mirror_item(&mut item, 2, 3, true);
        assert_eq!(
            item[..12],
            (0..12).map(|v| v as f32).collect::<Vec<_>>()[..],
            "twice is the identity"
        );
    }

    /// One row of 4 pixels; its vector is the pixels themselves, its one part their sum; it
    /// mirrors them when it holds `true`.
    struct Pixels(bool);

    impl Embedder for Pixels {
        fn describe(&self) -> String {
            "pixels".into()
        }
        fn dim(&self) -> usize {
            4
        }
        fn parts(&self) -> (usize, usize) {
            (1, 1)
        }
        fn item_len(&self) -> usize {
            4
        }
        fn load_item(&self, _: &Path, _: &mut [f32]) -> Result<(), BadImage> {
            unreachable!()
        }
        fn load_bytes(&self, _: &[u8], _: &mut [f32]) -> Result<(), ImageError> {
            unreachable!()
        }
        fn mirror(&self, item: &mut [f32]) -> bool {
            if self.0 {
                mirror_item(item, 1, 4, false);
            }
            self.0
        }
        fn embed_batch(&self, items: &[f32], _: usize) -> (Vec<f32>, Vec<f32>) {
            let parts = items.chunks_exact(4).map(|i| i.iter().sum()).collect();
            (items.to_vec(), parts)
        }
    }

    #[test]
    fn the_average_of_a_photo_and_its_mirror_keeps_the_photos_norm_and_parts() {
        let averaged = FlipAveraged::new(Arc::new(Pixels(true))).expect("it mirrors");
        let (vectors, parts) = averaged.embed_batch(&[3.0, 0.0, 0.0, 0.0, 1.0, 2.0, 2.0, 1.0], 2);
        let h = 3.0 / 2f32.sqrt();
        let expected = [h, 0.0, 0.0, h, 1.0, 2.0, 2.0, 1.0];
        assert!(
            vectors.iter().zip(expected).all(|(v, e)| (v - e).abs() < 1e-5),
            "{vectors:?}"
        );
        assert_eq!(parts, vec![3.0, 6.0], "the photo's own parts");
        assert!(
            FlipAveraged::new(Arc::new(Pixels(false))).is_none(),
            "nothing to mirror"
        );
    }
}
