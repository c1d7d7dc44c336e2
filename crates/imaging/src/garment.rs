//! Where the garment is in a product photo: the pixels that differ from a plain background.
//!
//! Catalogue photos show one garment on a plain, evenly lit background, so "garment" is
//! cheap to find: the background colour is the median colour of the photo's border, and a
//! pixel is garment when it differs from it by more than [`GarmentMask::THRESHOLD`] in any
//! channel. A photo whose border is not plain (a street scene, a textured studio wall, a
//! garment filling the frame) gets no mask rather than a wrong one: callers then use the
//! whole photo, as they would without this module.

use image::RgbImage;

/// Garment pixels of one photo.
#[derive(Debug, Clone, PartialEq)]
pub struct GarmentMask {
    width: u32,
    height: u32,
    /// Row-major, `true` = garment.
    garment: Vec<bool>,
    /// The border's median colour: what was taken for background.
    pub background: [u8; 3],
    /// Garment pixels in all.
    area: usize,
}

impl GarmentMask {
    /// A pixel is garment when one channel differs from the background by more than this.
    pub const THRESHOLD: u8 = 30;
    /// The border is plain when at least this share of its pixels is background-coloured.
    pub const PLAIN_BORDER: f32 = 0.8;
    /// Less garment than this share of the photo is taken as "nothing found".
    pub const MIN_AREA: f32 = 0.01;

    /// The mask of `img`, or `None` when its background is not plain (or no garment stands out).
    pub fn of(img: &RgbImage) -> Option<GarmentMask> {
        let (width, height) = img.dimensions();
        if width < 4 || height < 4 {
            return None;
        }
        let border = border_pixels(img);
        let background = median_colour(&border);
        let plain = border.iter().filter(|p| !differs(**p, background)).count();
        if (plain as f32) < Self::PLAIN_BORDER * border.len() as f32 {
            return None;
        }
        let garment: Vec<bool> = img.pixels().map(|p| differs(p.0, background)).collect();
        let area = garment.iter().filter(|&&g| g).count();
        if (area as f32) < Self::MIN_AREA * garment.len() as f32 {
            return None;
        }
        Some(GarmentMask {
            width,
            height,
            garment,
            background,
            area,
        })
    }

    pub fn dimensions(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Garment pixels in all.
    pub fn area(&self) -> usize {
        self.area
    }

    pub fn is_garment(&self, x: u32, y: u32) -> bool {
        self.garment[(y * self.width + x) as usize]
    }

    /// The garment's bounding box `[x0, y0, x1, y1]` as fractions of the photo, without
    /// the outermost 0.5% of garment pixels on each side (a speck of dust or a shadow's
    /// tip does not stretch it).
    pub fn bounds(&self) -> [f32; 4] {
        let (w, h) = (self.width as usize, self.height as usize);
        let mut columns = vec![0usize; w];
        let mut rows = vec![0usize; h];
        for (i, _) in self.garment.iter().enumerate().filter(|(_, g)| **g) {
            columns[i % w] += 1;
            rows[i / w] += 1;
        }
        let trim = self.area / 200;
        let (x0, x1) = trimmed_span(&columns, trim);
        let (y0, y1) = trimmed_span(&rows, trim);
        [
            x0 as f32 / w as f32,
            y0 as f32 / h as f32,
            (x1 + 1) as f32 / w as f32,
            (y1 + 1) as f32 / h as f32,
        ]
    }

    /// The garment pixels inside `bbox` (`[x0, y0, x1, y1]` in pixels, clamped to the photo).
    pub fn garment_in(&self, bbox: [f32; 4]) -> (usize, usize) {
        let [x0, y0, x1, y1] = self.pixel_span(bbox);
        let mut garment = 0;
        for y in y0..y1 {
            let row = &self.garment[y * self.width as usize..(y + 1) * self.width as usize];
            garment += row[x0..x1].iter().filter(|&&g| g).count();
        }
        (garment, (x1 - x0) * (y1 - y0))
    }

    /// Share of `bbox`'s pixels that are garment (0 for an empty box).
    pub fn share_in(&self, bbox: [f32; 4]) -> f32 {
        let (garment, pixels) = self.garment_in(bbox);
        if pixels == 0 {
            0.0
        } else {
            garment as f32 / pixels as f32
        }
    }

    /// Share of the garment's pixels inside at least one of `boxes` (pixels).
    pub fn covered_by(&self, boxes: &[[f32; 4]]) -> f32 {
        if self.area == 0 {
            return 0.0;
        }
        let mut covered = vec![false; self.garment.len()];
        for &bbox in boxes {
            let [x0, y0, x1, y1] = self.pixel_span(bbox);
            for y in y0..y1 {
                let start = y * self.width as usize;
                covered[start + x0..start + x1].iter_mut().for_each(|c| *c = true);
            }
        }
        let inside = self.garment.iter().zip(&covered).filter(|(g, c)| **g && **c).count();
        inside as f32 / self.area as f32
    }

    fn pixel_span(&self, [x0, y0, x1, y1]: [f32; 4]) -> [usize; 4] {
        let clamp = |v: f32, max: u32| (v.round().max(0.0) as usize).min(max as usize);
        let (a, b) = (clamp(x0, self.width), clamp(x1, self.width));
        let (c, d) = (clamp(y0, self.height), clamp(y1, self.height));
        [a, c, b.max(a), d.max(c)]
    }
}

/// The attention frame of a photo: the garment's bounding box in the model's normalised
/// coordinates ([−1, 1] over the picture) as θ = (sx, sy, tx, ty), the transform that maps
/// the whole picture onto the garment. The whole picture (θ = identity) when there is no mask.
pub fn garment_frame(img: &RgbImage) -> [f32; 4] {
    match GarmentMask::of(img) {
        Some(mask) => frame_of(mask.bounds()),
        None => [1.0, 1.0, 0.0, 0.0],
    }
}

/// `[x0, y0, x1, y1]` as fractions → θ = (sx, sy, tx, ty) over [−1, 1] coordinates.
pub fn frame_of([x0, y0, x1, y1]: [f32; 4]) -> [f32; 4] {
    [x1 - x0, y1 - y0, x0 + x1 - 1.0, y0 + y1 - 1.0]
}

fn differs(p: [u8; 3], background: [u8; 3]) -> bool {
    p.iter()
        .zip(background)
        .any(|(&a, b)| a.abs_diff(b) > GarmentMask::THRESHOLD)
}

/// The outermost two pixels on every side (each pixel once; the interior is not visited).
fn border_pixels(img: &RgbImage) -> Vec<[u8; 3]> {
    let (w, h) = img.dimensions();
    let mut out = Vec::with_capacity(4 * (w + h) as usize);
    for y in 0..h {
        if y < 2 || y + 2 >= h {
            out.extend((0..w).map(|x| img.get_pixel(x, y).0));
        } else {
            out.extend([0, 1, w - 2, w - 1].map(|x| img.get_pixel(x, y).0));
        }
    }
    out
}

fn median_colour(pixels: &[[u8; 3]]) -> [u8; 3] {
    std::array::from_fn(|c| {
        let mut histogram = [0usize; 256];
        for p in pixels {
            histogram[p[c] as usize] += 1;
        }
        let half = pixels.len() / 2;
        let mut seen = 0;
        for (value, count) in histogram.iter().enumerate() {
            seen += count;
            if seen > half {
                return value as u8;
            }
        }
        255
    })
}

/// First and last index of `counts` once `trim` counts are dropped from each end.
fn trimmed_span(counts: &[usize], trim: usize) -> (usize, usize) {
    let mut first = 0;
    let mut dropped = 0;
    while first + 1 < counts.len() && dropped + counts[first] <= trim {
        dropped += counts[first];
        first += 1;
    }
    let mut last = counts.len() - 1;
    dropped = 0;
    while last > first && dropped + counts[last] <= trim {
        dropped += counts[last];
        last -= 1;
    }
    (first, last)
}

/// [`garment_frame`] of `photo` as it lands in `spec`'s letterbox (bars are background):
/// θ in the coordinates of the model's input.
pub fn letterboxed_frame(photo: &RgbImage, spec: &crate::ImageSpec) -> [f32; 4] {
    let Some(mask) = GarmentMask::of(photo) else {
        return [1.0, 1.0, 0.0, 0.0];
    };
    let [x0, y0, x1, y1] = mask.bounds();
    let (w, h, left, top) = match spec.fit {
        crate::Fit::Letterbox => crate::letterbox_geometry(photo.width(), photo.height(), spec.width, spec.height),
        crate::Fit::Stretch => (spec.width, spec.height, 0, 0),
    };
    let x = |f: f32| (left as f32 + f * w as f32) / spec.width as f32;
    let y = |f: f32| (top as f32 + f * h as f32) / spec.height as f32;
    frame_of([x(x0), y(y0), x(x1), y(y1)])
}

/// Every name [`part_name`] gives: the garment's box in thirds each way, rows first, then
/// "whole garment".
pub const PART_NAMES: [&str; 10] = [
    "upper left",
    "upper centre",
    "upper right",
    "left",
    "centre",
    "right",
    "lower left",
    "lower centre",
    "lower right",
    "whole garment",
];

/// Where a part sits on the garment, in words: "upper left", "centre", "lower right", ...
/// from the centre of `part` within `garment` (both `[x0, y0, x1, y1]` in one frame, e.g.
/// pixels or fractions of the photo), in thirds of the garment's box each way; a part that
/// covers most of the garment is "whole garment". Left and right are as the photo shows them.
pub fn part_name(part: [f32; 4], garment: [f32; 4]) -> &'static str {
    let (gw, gh) = ((garment[2] - garment[0]).max(1e-6), (garment[3] - garment[1]).max(1e-6));
    let clipped = [
        part[0].max(garment[0]),
        part[1].max(garment[1]),
        part[2].min(garment[2]),
        part[3].min(garment[3]),
    ];
    let covered = ((clipped[2] - clipped[0]).max(0.0) * (clipped[3] - clipped[1]).max(0.0)) / (gw * gh);
    if covered > 0.7 {
        return PART_NAMES[9];
    }
    let cx = ((part[0] + part[2]) / 2.0 - garment[0]) / gw;
    let cy = ((part[1] + part[3]) / 2.0 - garment[1]) / gh;
    let third = |v: f32| {
        if v < 1.0 / 3.0 {
            0
        } else if v < 2.0 / 3.0 {
            1
        } else {
            2
        }
    };
    PART_NAMES[3 * third(cy) + third(cx)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn parts_are_named_by_where_they_sit_on_the_garment() {
        // A garment in the middle of a 100×200 photo: x 20..80, y 40..160.
        let garment = [20.0, 40.0, 80.0, 160.0];
        assert_eq!(part_name([20.0, 40.0, 50.0, 100.0], garment), "upper left");
        assert_eq!(part_name([50.0, 40.0, 80.0, 100.0], garment), "upper right");
        assert_eq!(part_name([40.0, 80.0, 60.0, 120.0], garment), "centre");
        assert_eq!(part_name([30.0, 130.0, 70.0, 160.0], garment), "lower centre");
        assert_eq!(part_name([60.0, 130.0, 80.0, 160.0], garment), "lower right");
        assert_eq!(part_name([15.0, 35.0, 85.0, 165.0], garment), "whole garment");
        // Names follow the garment, not the photo: against the whole photo the garment's
        // upper-left quarter sits in the photo's centre.
        assert_eq!(part_name([20.0, 40.0, 50.0, 100.0], [0.0, 0.0, 100.0, 200.0]), "centre");
    }

    #[test]
    fn trimmed_spans_drop_stray_pixels() {
        assert_eq!(trimmed_span(&[0, 0, 5, 5, 0, 1], 1), (2, 3));
        assert_eq!(trimmed_span(&[3, 0, 0], 0), (0, 0));
    }

    #[test]
    fn frames_map_boxes_to_normalised_transforms() {
        assert_eq!(frame_of([0.0, 0.0, 1.0, 1.0]), [1.0, 1.0, 0.0, 0.0]);
        assert_eq!(frame_of([0.5, 0.25, 1.0, 0.75]), [0.5, 0.5, 0.5, 0.0]);
    }

    #[test]
    fn a_square_photo_letterboxed_into_a_portrait_input_keeps_its_box() {
        // A 100×100 photo: garment in the left half, nearly full height; into a 96×64 input
        // it lands 64×64 with 16-pixel bars above and below (y 0.05..0.95 → 0.2..0.8).
        let photo = RgbImage::from_fn(100, 100, |x, y| {
            if (5..50).contains(&x) && (5..95).contains(&y) {
                Rgb([20, 30, 200])
            } else {
                Rgb([250; 3])
            }
        });
        let spec = crate::ImageSpec::with_size(96, 64);
        let [sx, sy, tx, ty] = letterboxed_frame(&photo, &spec);
        // x: 0.05..0.5 of the photo, which spans the whole input width.
        assert!((sx - 0.45).abs() < 0.02 && (tx + 0.45).abs() < 0.02, "{sx} {tx}");
        assert!((sy - 0.6).abs() < 0.02 && ty.abs() < 0.02, "{sy} {ty}");
    }
}
