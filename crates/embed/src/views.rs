//! Test-time views (issue 19): each photo embedded as one or more views — itself, its
//! mirror image, its grey version — and the views' retrieval vectors averaged. A garment
//! mirrored is the same garment; a garment in grey is every colourway of it, which is what
//! "the same product in another colour" asks for. Each view costs a forward pass.

use std::path::Path;
use std::sync::Arc;

use lookbook_imaging::{BadImage, FRAME_LEN, ImageError, ImageSpec};

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

/// Turns the first `3 × height × width` floats of a loaded item (RGB planes normalised by
/// `spec`) grey in place: each pixel's luma — `image`'s, as training's grey photos
/// (`augment.greyscale`) — in all three channels. Letterbox bars are
/// grey already (`pad` is one value per channel in every spec we ship), so the result is
/// the grey photo letterboxed, to within a byte's rounding.
pub fn grey_item(item: &mut [f32], spec: &ImageSpec) {
    // `image`'s integer luma: (2126·R + 7152·G + 722·B) / 10000, truncated.
    const LUMA: [u32; 3] = [2126, 7152, 722];
    let plane = spec.height as usize * spec.width as usize;
    let (r, rest) = item[..3 * plane].split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    let byte = |v: f32, c: usize| ((v * spec.std[c] + spec.mean[c]) * 255.0).round().clamp(0.0, 255.0) as u32;
    let norm = |y: u32, c: usize| (y as f32 / 255.0 - spec.mean[c]) / spec.std[c];
    for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
        let luma = (LUMA[0] * byte(*r, 0) + LUMA[1] * byte(*g, 1) + LUMA[2] * byte(*b, 2)) / 10_000;
        (*r, *g, *b) = (norm(luma, 0), norm(luma, 1), norm(luma, 2));
    }
}

/// One way of showing a photo to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    /// As decoded.
    Photo,
    /// Mirrored left-right.
    Mirror,
    /// In grey.
    Grey,
}

impl View {
    /// `item` turned into this view in place; false when `embedder` cannot make it.
    fn apply(self, embedder: &dyn Embedder, item: &mut [f32]) -> bool {
        match self {
            View::Photo => true,
            View::Mirror => embedder.mirror(item),
            View::Grey => embedder.grey(item),
        }
    }
}

/// `inner` with each retrieval vector the mean of `views`' vectors, scaled back to the
/// first view's norm; the part vectors are the first view's.
pub struct ViewAveraged {
    inner: Arc<dyn Embedder>,
    views: Vec<View>,
}

impl ViewAveraged {
    /// `None` when `views` is empty or `inner` cannot make one of them (it says so by
    /// [`Embedder::mirror`] and [`Embedder::grey`]).
    pub fn new(inner: Arc<dyn Embedder>, views: &[View]) -> Option<Self> {
        let mut probe = vec![0.0; inner.item_len()];
        let makes_all = views.iter().all(|view| view.apply(inner.as_ref(), &mut probe));
        let mut distinct: Vec<View> = Vec::new();
        for &view in views {
            if !distinct.contains(&view) {
                distinct.push(view);
            }
        }
        let views = distinct;
        (makes_all && !views.is_empty()).then_some(ViewAveraged { inner, views })
    }

    /// What the views add to a model's name: "flip average", or "views grey+photo".
    pub fn label(&self) -> String {
        if self.views == [View::Photo, View::Mirror] {
            return "flip average".into();
        }
        let names: Vec<&str> = self.views.iter().map(|v| v.name()).collect();
        format!("views {}", names.join("+"))
    }

    /// The photo and its mirror (`--flip-average`).
    pub fn flip_average(inner: Arc<dyn Embedder>) -> Option<Self> {
        Self::new(inner, &[View::Photo, View::Mirror])
    }
}

impl Embedder for ViewAveraged {
    fn describe(&self) -> String {
        format!("{} + {}", self.inner.describe(), self.label())
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

    fn grey(&self, item: &mut [f32]) -> bool {
        self.inner.grey(item)
    }

    fn embed_batch(&self, items: &[f32], n: usize) -> (Vec<f32>, Vec<f32>) {
        let view_of = |view: View| -> (Vec<f32>, Vec<f32>) {
            if view == View::Photo {
                return self.inner.embed_batch(items, n);
            }
            let mut shown = items.to_vec();
            for item in shown.chunks_exact_mut(self.inner.item_len()) {
                view.apply(self.inner.as_ref(), item);
            }
            self.inner.embed_batch(&shown, n)
        };
        let (mut vectors, parts) = view_of(self.views[0]);
        if self.views.len() == 1 {
            return (vectors, parts);
        }
        // The mean, scaled back to the first view's norm: the embedders' vectors have a fixed
        // norm (unit, or one per normalised block), which distances are calibrated to.
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let own: Vec<f32> = vectors.chunks_exact(self.dim()).map(norm).collect();
        for &view in &self.views[1..] {
            let (other, _) = view_of(view);
            vectors.iter_mut().zip(other).for_each(|(v, o)| *v += o);
        }
        for (row, own) in vectors.chunks_exact_mut(self.dim()).zip(own) {
            let scale = own / norm(row).max(1e-12);
            row.iter_mut().for_each(|v| *v *= scale);
        }
        (vectors, parts)
    }
}

impl View {
    fn name(self) -> &'static str {
        match self {
            View::Photo => "photo",
            View::Mirror => "mirror",
            View::Grey => "grey",
        }
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

    #[test]
    fn grey_items_are_the_grey_photo_normalised() {
        // A 4×2 picture of saturated, mixed and grey pixels, normalised as the models' specs do.
        let spec = ImageSpec::with_size(2, 4);
        let colours = [
            [255, 0, 0],
            [0, 255, 0],
            [0, 0, 255],
            [200, 120, 30],
            [10, 10, 10],
            [0, 0, 0],
            [255, 255, 255],
            [37, 190, 201],
        ];
        let photo = image::RgbImage::from_fn(4, 2, |x, y| image::Rgb(colours[(y * 4 + x) as usize]));
        let mut item = vec![0.0; spec.tensor_len()];
        lookbook_imaging::normalise_into(&photo, &spec, &mut item);
        grey_item(&mut item, &spec);
        // Training's grey photo: `image`'s luma in all three channels (train::augment::greyscale).
        let luma = image::imageops::grayscale(&photo);
        let grey = image::RgbImage::from_fn(4, 2, |x, y| {
            let [v] = luma.get_pixel(x, y).0;
            image::Rgb([v, v, v])
        });
        let mut expected = vec![0.0; spec.tensor_len()];
        lookbook_imaging::normalise_into(&grey, &spec, &mut expected);
        let worst = item
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-5, "worst difference {worst}: {item:?} vs {expected:?}");
        // By hand: pure red's luma is ⌊0.2126 · 255⌋ = 54 in every channel.
        let red = (0..3).map(|c| item[c * 8]).collect::<Vec<_>>();
        let by_hand: Vec<f32> = (0..3).map(|c| (54.0 / 255.0 - spec.mean[c]) / spec.std[c]).collect();
        assert!(
            red.iter().zip(&by_hand).all(|(a, b)| (a - b).abs() < 1e-5),
            "{red:?} vs {by_hand:?}"
        );
    }

    /// One row of 4 pixels; its vector is the pixels themselves, its one part their sum; it
    /// mirrors them when it holds `true`, and makes them "grey" (each their mean) when it
    /// holds `true` in `.1`.
    struct Pixels(bool, bool);

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
        fn grey(&self, item: &mut [f32]) -> bool {
            if self.1 {
                let mean = item.iter().sum::<f32>() / item.len() as f32;
                item.iter_mut().for_each(|v| *v = mean);
            }
            self.1
        }
        fn embed_batch(&self, items: &[f32], _: usize) -> (Vec<f32>, Vec<f32>) {
            let parts = items.chunks_exact(4).map(|i| i.iter().sum()).collect();
            (items.to_vec(), parts)
        }
    }

    #[test]
    fn the_average_of_a_photo_and_its_mirror_keeps_the_photos_norm_and_parts() {
        let averaged = ViewAveraged::flip_average(Arc::new(Pixels(true, false))).expect("it mirrors");
        let (vectors, parts) = averaged.embed_batch(&[3.0, 0.0, 0.0, 0.0, 1.0, 2.0, 2.0, 1.0], 2);
        let h = 3.0 / 2f32.sqrt();
        let expected = [h, 0.0, 0.0, h, 1.0, 2.0, 2.0, 1.0];
        assert!(
            vectors.iter().zip(expected).all(|(v, e)| (v - e).abs() < 1e-5),
            "{vectors:?}"
        );
        assert_eq!(parts, vec![3.0, 6.0], "the photo's own parts");
        assert!(
            ViewAveraged::flip_average(Arc::new(Pixels(false, false))).is_none(),
            "nothing to mirror"
        );
    }

    #[test]
    fn views_are_averaged_in_order_and_the_first_gives_the_parts() {
        let items = [3.0, 0.0, 0.0, 0.0];
        // Grey alone: the grey item's vector and parts.
        let grey = ViewAveraged::new(Arc::new(Pixels(false, true)), &[View::Grey]).expect("it greys");
        assert_eq!(grey.embed_batch(&items, 1), (vec![0.75; 4], vec![3.0]));
        assert_eq!(grey.label(), "views grey");
        // Photo and grey: (3.75, 0.75, 0.75, 0.75) scaled back to the photo's norm 3.
        let both = ViewAveraged::new(Arc::new(Pixels(false, true)), &[View::Photo, View::Grey, View::Photo])
            .expect("it greys");
        let (vectors, parts) = both.embed_batch(&items, 1);
        let norm = (3.75f32 * 3.75 + 3.0 * 0.75 * 0.75).sqrt();
        let expected = [3.75, 0.75, 0.75, 0.75].map(|v| v * 3.0 / norm);
        assert!(
            vectors.iter().zip(expected).all(|(v, e)| (v - e).abs() < 1e-5),
            "{vectors:?}"
        );
        assert_eq!(parts, vec![3.0], "the photo's parts");
        assert_eq!(both.label(), "views photo+grey", "a repeated view counts once");
        assert!(
            ViewAveraged::new(Arc::new(Pixels(true, false)), &[View::Grey]).is_none(),
            "cannot grey"
        );
        assert!(
            ViewAveraged::new(Arc::new(Pixels(true, true)), &[]).is_none(),
            "no view"
        );
    }
}
