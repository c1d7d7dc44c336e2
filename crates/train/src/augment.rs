//! Training-time augmentation of a letterboxed picture: mirror, zoom-crop jitter and grey
//! (with its brightness jittered by a gamma).
//!
//! Each image's randomness comes from (seed, epoch, item), so a run — and a resumed
//! run — sees exactly the same augmented pictures.

use image::RgbImage;
use image::imageops::{self, FilterType};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::config::AugmentSection;

/// A generator for one (seed, epoch, item).
pub fn rng_for(seed: u64, epoch: usize, item: usize) -> SmallRng {
    // SplitMix-style mixing keeps nearby (epoch, item) pairs far apart.
    let mut z =
        seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (item as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    SmallRng::seed_from_u64(z ^ (z >> 31))
}

/// Mirror and/or zoom `img` in place of the original; the size is unchanged. `frame`, the
/// garment's box as θ = (sx, sy, tx, ty) over the picture, moves with the pixels.
pub fn augment(img: RgbImage, frame: &mut [f32; 4], config: &AugmentSection, rng: &mut SmallRng) -> RgbImage {
    let (w, h) = img.dimensions();
    let mut img = if config.flip && rng.random_bool(0.5) {
        frame[2] = -frame[2];
        imageops::flip_horizontal(&img)
    } else {
        img
    };
    if config.scale_jitter > 0.0 {
        let zoom = 1.0 + rng.random_range(0.0..=config.scale_jitter);
        let (zw, zh) = ((w as f32 * zoom).round() as u32, (h as f32 * zoom).round() as u32);
        if zw > w || zh > h {
            let zoomed = imageops::resize(&img, zw, zh, FilterType::Triangle);
            let x = rng.random_range(0..=zw - w);
            let y = rng.random_range(0..=zh - h);
            img = imageops::crop_imm(&zoomed, x, y, w, h).to_image();
            *frame = zoomed_frame(*frame, [w, h], [zw, zh], [x, y]);
        }
    }
    // Drawn last (and only when on), so runs without it see the pictures they saw before.
    if config.greyscale > 0.0 && rng.random_bool(config.greyscale as f64) {
        img = grey_view(&img, config.grey_gamma, rng);
    }
    img
}

/// `img` as a grey training photo: [`greyscale`], then, when `max_gamma` > 1, its tones
/// raised to a gamma drawn log-uniformly in [1/max_gamma, max_gamma] (from `rng`).
pub fn grey_view(img: &RgbImage, max_gamma: f32, rng: &mut SmallRng) -> RgbImage {
    let grey = greyscale(img);
    if max_gamma <= 1.0 {
        return grey;
    }
    let gamma = max_gamma.powf(rng.random_range(-1.0f32..=1.0));
    with_gamma(grey, gamma)
}

/// `img` with each channel v ↦ 255·(v/255)^gamma: black and white stay put (a product
/// photo's backdrop keeps its white), the tones between move — gamma < 1 lightens.
pub fn with_gamma(mut img: RgbImage, gamma: f32) -> RgbImage {
    let table: Vec<u8> = (0..=255u32)
        .map(|v| (255.0 * (v as f32 / 255.0).powf(gamma)).round() as u8)
        .collect();
    for value in img.iter_mut() {
        *value = table[*value as usize];
    }
    img
}

/// `img` in grey: each pixel's luma (`image`'s: sRGB / Rec. 709 weights) in all three
/// channels, so the network's input keeps its shape.
pub fn greyscale(img: &RgbImage) -> RgbImage {
    let luma = imageops::grayscale(img);
    RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let [v] = luma.get_pixel(x, y).0;
        image::Rgb([v, v, v])
    })
}

/// `frame` of a `size` picture after zooming it to `zoomed` and cropping `size` at
/// `offset`, clipped to the crop.
fn zoomed_frame(frame: [f32; 4], size: [u32; 2], zoomed: [u32; 2], offset: [u32; 2]) -> [f32; 4] {
    // One axis: normalised u → pixel (u + 1)/2·size → zoomed and shifted → normalised.
    let axis = |s: f32, t: f32, i: usize| {
        let map = |u: f32| ((u + 1.0) * zoomed[i] as f32 - 2.0 * offset[i] as f32) / size[i] as f32 - 1.0;
        let (lo, hi) = (map(t - s).max(-1.0), map(t + s).min(1.0));
        let hi = hi.max(lo);
        ((hi - lo) / 2.0, (hi + lo) / 2.0)
    };
    let (sx, tx) = axis(frame[0], frame[2], 0);
    let (sy, ty) = axis(frame[1], frame[3], 1);
    [sx, sy, tx, ty]
}

#[cfg(test)]
mod tests {
    use super::{grey_view, greyscale, rng_for, with_gamma, zoomed_frame};

    #[test]
    fn grey_keeps_the_size_and_brightness_and_drops_the_hue() {
        // Pure red, green and blue of one luma-weighted brightness each, and white.
        let img = image::RgbImage::from_fn(4, 1, |x, _| {
            image::Rgb(match x {
                0 => [255, 0, 0],
                1 => [0, 255, 0],
                2 => [0, 0, 255],
                _ => [255, 255, 255],
            })
        });
        let grey = greyscale(&img);
        assert_eq!(grey.dimensions(), (4, 1));
        let values: Vec<[u8; 3]> = grey.pixels().map(|p| p.0).collect();
        for [r, g, b] in &values {
            assert!(r == g && g == b, "{values:?}");
        }
        // Rec. 709: 0.2126 R + 0.7152 G + 0.0722 B (±1 for rounding).
        for (got, want) in values.iter().zip([54i32, 182, 18, 255]) {
            assert!((got[0] as i32 - want).abs() <= 1, "{values:?}");
        }
    }

    #[test]
    fn gamma_moves_the_tones_between_black_and_white() {
        let img = image::RgbImage::from_fn(3, 1, |x, _| image::Rgb([[0, 64, 255][x as usize]; 3]));
        let tones = |img: &image::RgbImage| img.pixels().map(|p| p.0[0]).collect::<Vec<u8>>();
        // 255·(64/255)^0.5 = 127.75, 255·(64/255)^2 = 16.06: lightened and darkened; the ends stay.
        assert_eq!(tones(&with_gamma(img.clone(), 0.5)), [0, 128, 255]);
        assert_eq!(tones(&with_gamma(img.clone(), 2.0)), [0, 16, 255]);
        assert_eq!(tones(&with_gamma(img.clone(), 1.0)), [0, 64, 255]);
        // Off (1): plain grey, and no draw from the generator.
        let mut rng = rng_for(7, 0, 3);
        assert_eq!(grey_view(&img, 1.0, &mut rng), greyscale(&img));
        // On: every draw within [1/3, 3], so the mid tone lands within 255·(64/255)^3 and ^(1/3).
        let (lo, hi) = (
            (255.0 * (64.0f32 / 255.0).powf(3.0)).floor() as u8,
            (255.0 * (64.0f32 / 255.0).powf(1.0 / 3.0)).ceil() as u8,
        );
        let mut seen = Vec::new();
        for item in 0..200 {
            let mid = tones(&grey_view(&img, 3.0, &mut rng_for(7, 0, item)));
            assert!(mid[0] == 0 && mid[2] == 255 && (lo..=hi).contains(&mid[1]), "{mid:?}");
            seen.push(mid[1]);
        }
        // Both lighter and darker than plain grey occur.
        assert!(seen.iter().any(|&v| v > 70) && seen.iter().any(|&v| v < 58), "{seen:?}");
    }

    #[test]
    fn frames_follow_a_zoom_and_crop() {
        // The whole picture, zoomed ×2 and cropped at its centre: still the whole crop.
        assert_eq!(
            zoomed_frame([1.0, 1.0, 0.0, 0.0], [10, 20], [20, 40], [5, 10]),
            [1.0, 1.0, 0.0, 0.0]
        );
        // The left half, zoomed ×2, crop from the left edge: the whole crop.
        let [sx, _, tx, _] = zoomed_frame([0.5, 1.0, -0.5, 0.0], [10, 20], [20, 40], [0, 0]);
        assert!((sx - 1.0).abs() < 1e-6 && tx.abs() < 1e-6, "{sx} {tx}");
        // No zoom: unchanged.
        let same = zoomed_frame([0.25, 0.5, 0.1, -0.2], [10, 20], [10, 20], [0, 0]);
        for (got, want) in same.iter().zip([0.25, 0.5, 0.1, -0.2]) {
            assert!((got - want).abs() < 1e-6, "{same:?}");
        }
    }
}
