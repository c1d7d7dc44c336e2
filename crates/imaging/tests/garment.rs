//! The garment mask on generated photos: an object on a plain background is found with its
//! box; a textured background, or nothing on a plain one, gives no mask rather than a wrong one.

use image::{Rgb, RgbImage};
use lookbook_imaging::{GarmentMask, frame_of, garment_frame};

/// A 120×180 photo: a dark-red "dress" (a trapezoid) on a light grey studio background with
/// a little noise, as JPEG-compressed packshots have.
fn packshot() -> RgbImage {
    RgbImage::from_fn(120, 180, |x, y| {
        let noise = ((x * 7 + y * 13) % 5) as u8;
        // Rows 30..170; half-width grows from 20 to 40 about the centre column 60.
        let inside = (30..170).contains(&y) && {
            let half = 20 + (y - 30) * 20 / 140;
            (60 - half..60 + half).contains(&x)
        };
        if inside {
            Rgb([150 + noise, 20, 30])
        } else {
            Rgb([236 + noise, 236 + noise, 238])
        }
    })
}

#[test]
fn an_object_on_a_plain_background_is_found_with_its_box() {
    let photo = packshot();
    let mask = GarmentMask::of(&photo).expect("a plain background");
    assert!(
        mask.background[0] >= 236 && mask.background[0] <= 240,
        "{:?}",
        mask.background
    );
    // The trapezoid's area: 140 rows, widths 40..80.
    let expected: usize = (30..170u32).map(|y| 2 * (20 + (y - 30) * 20 / 140) as usize).sum();
    assert_eq!(mask.area(), expected);
    let [x0, y0, x1, y1] = mask.bounds();
    let close = |got: f32, want: f32| (got - want).abs() < 0.03;
    assert!(close(x0, 20.0 / 120.0) && close(x1, 100.0 / 120.0), "x {x0} {x1}");
    assert!(close(y0, 30.0 / 180.0) && close(y1, 170.0 / 180.0), "y {y0} {y1}");
    // Inside the garment's box, most pixels are garment; a background corner has none.
    assert!(mask.share_in([40.0, 60.0, 80.0, 160.0]) > 0.95);
    assert_eq!(mask.share_in([0.0, 0.0, 15.0, 25.0]), 0.0);
    assert!((mask.covered_by(&[[0.0, 0.0, 120.0, 180.0]]) - 1.0).abs() < 1e-6);
    assert!((mask.covered_by(&[[0.0, 0.0, 60.0, 180.0]]) - 0.5).abs() < 0.01);
    // Its frame: the box in [−1, 1] coordinates (the widest rows are few, so trimming the
    // outermost 0.5% of garment pixels narrows it a little below 80/120).
    let [sx, sy, tx, ty] = garment_frame(&photo);
    assert_eq!([sx, sy, tx, ty], frame_of(mask.bounds()));
    assert!((sx - 80.0 / 120.0).abs() < 0.06 && close(tx, 0.0), "{sx} {tx}");
    assert!(close(sy, 140.0 / 180.0) && close(ty, 200.0 / 180.0 - 1.0), "{sy} {ty}");
}

#[test]
fn a_textured_background_gives_no_mask_and_the_whole_picture() {
    // The same dress in front of a brick-like pattern: the border is not one colour.
    let dress = packshot();
    let photo = RgbImage::from_fn(120, 180, |x, y| {
        let p = dress.get_pixel(x, y);
        if p[1] == 20 {
            *p
        } else if (x / 6 + y / 4) % 2 == 0 {
            Rgb([170, 90, 60])
        } else {
            Rgb([230, 220, 200])
        }
    });
    assert!(GarmentMask::of(&photo).is_none());
    assert_eq!(garment_frame(&photo), [1.0, 1.0, 0.0, 0.0]);
}

#[test]
fn an_empty_plain_photo_gives_no_mask() {
    let blank = RgbImage::from_pixel(80, 120, Rgb([250, 250, 250]));
    assert!(GarmentMask::of(&blank).is_none());
    assert_eq!(garment_frame(&blank), [1.0, 1.0, 0.0, 0.0]);
}
