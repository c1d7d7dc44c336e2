//! Training-time augmentation of a letterboxed picture: mirror and zoom-crop jitter.
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

/// Mirror and/or zoom `img` in place of the original; the size is unchanged.
pub fn augment(img: RgbImage, config: &AugmentSection, rng: &mut SmallRng) -> RgbImage {
    let (w, h) = img.dimensions();
    let mut img = if config.flip && rng.random_bool(0.5) {
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
        }
    }
    img
}
