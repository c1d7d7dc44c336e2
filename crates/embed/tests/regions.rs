//! θ → a box in the photo's pixels, through the letterbox.

use lookbook_embed::region_box;
use lookbook_imaging::ImageSpec;
use lookbook_model::Theta;

#[test]
fn a_known_theta_gives_a_known_box() {
    let spec = ImageSpec::with_size(384, 256);
    // The centre half of an H&M packshot (360×540 fills 256×384 exactly).
    let half = Theta {
        sx: 0.5,
        sy: 0.5,
        tx: 0.0,
        ty: 0.0,
    };
    assert_eq!(region_box(&half, &spec, 360, 540), [90.0, 135.0, 270.0, 405.0]);
    // The identity is the whole photo.
    assert_eq!(region_box(&Theta::IDENTITY, &spec, 360, 540), [0.0, 0.0, 360.0, 540.0]);
    // A square photo sits between bars (256×256 at y 64..320): x 0.25..0.75 of the input
    // width, y over the middle half of the input height, mapped back at 400/256.
    let right = Theta {
        sx: 0.25,
        sy: 0.5,
        tx: 0.5,
        ty: 0.0,
    };
    assert_eq!(region_box(&right, &spec, 400, 400), [250.0, 50.0, 350.0, 350.0]);
    // A crop over the bars is cut to the photo; a negative scale is the same crop.
    let flipped = Theta {
        sx: -1.0,
        sy: -1.0,
        tx: 0.0,
        ty: 0.0,
    };
    assert_eq!(region_box(&flipped, &spec, 400, 400), [0.0, 0.0, 400.0, 400.0]);
}
