//! A photo cut short is reported as truncated wherever the cut falls; a whole one (even
//! with bytes after its end) still decodes.

use std::path::{Path, PathBuf};

use image::{ImageFormat, Rgb, RgbImage};
use lookbook_imaging::{DecodeLimits, ImageError, check_complete, decode};

/// A real H&M photo (360×540 baseline JPEG) when the shared data is here; otherwise a
/// generated JPEG of the same size. In CI the data must be here.
fn real_jpeg() -> (Vec<u8>, String) {
    let root = std::env::var_os("LOOKBOOK_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let photo = root.join("hm/images/011/0111565001.jpg");
    if let Ok(bytes) = std::fs::read(&photo) {
        return (bytes, photo.display().to_string());
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must provide the shared data at {}",
        root.display()
    );
    eprintln!("no shared data at {}: a generated JPEG stands in", root.display());
    let img = RgbImage::from_fn(360, 540, |x, y| {
        Rgb([(x % 251) as u8, (y % 241) as u8, ((x * y) % 239) as u8])
    });
    let mut bytes = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut bytes), ImageFormat::Jpeg)
        .unwrap();
    (bytes, "a generated 360×540 JPEG".into())
}

fn png_bytes() -> Vec<u8> {
    let img = RgbImage::from_fn(120, 180, |x, y| {
        Rgb([(x * 2) as u8, (y * 3 % 256) as u8, ((x ^ y) % 256) as u8])
    });
    let mut bytes = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut bytes), ImageFormat::Png)
        .unwrap();
    bytes
}

fn decodes(bytes: &[u8]) -> Result<(u32, u32), ImageError> {
    decode(bytes, &DecodeLimits::default(), None, [255; 3]).map(|img| img.dimensions())
}

fn assert_truncated(bytes: &[u8], what: &str, format: &str) {
    match decodes(bytes) {
        Err(ImageError::Truncated(reason)) => {
            assert!(reason.starts_with(&format!("truncated {format}")), "{what}: {reason}");
            println!("{what}: {reason}");
        }
        // A cut inside the first bytes can leave too little to recognise the format.
        Err(other) if what.contains("header") => println!("{what}: {other}"),
        other => panic!("{what}: expected a truncation error, got {other:?}"),
    }
}

#[test]
fn a_jpeg_cut_anywhere_is_truncated_and_trailing_bytes_are_fine() {
    let (whole, name) = real_jpeg();
    let n = whole.len();
    assert_eq!(decodes(&whole).unwrap(), (360, 540), "{name} decodes whole");
    assert_eq!(
        &whole[n - 2..],
        &[0xFF, 0xD9],
        "{name} ends with its end-of-image marker"
    );
    let cuts = [
        ("inside the header", 300),
        ("2,000 bytes, in the first scan", 2000),
        ("a third", n / 3),
        ("half", n / 2),
        ("three quarters", n * 3 / 4),
        ("four fifths", n * 4 / 5),
        ("90%", n * 9 / 10),
        ("one byte short of the end-of-image marker", n - 1),
        ("without the end-of-image marker", n - 2),
    ];
    for (what, len) in cuts {
        assert_truncated(&whole[..len], what, "JPEG");
    }
    let err = check_complete(&whole[..2000], ImageFormat::Jpeg).unwrap_err();
    assert!(err.contains("byte 2,000") && err.contains("scan 1"), "{err}");

    let mut garbage = whole.clone();
    garbage.extend_from_slice(b"\0\0 some bytes a server appended \xFF\xD8 junk");
    assert_eq!(
        decodes(&garbage).unwrap(),
        (360, 540),
        "trailing bytes after EOI are ignored"
    );
}

#[test]
fn a_png_cut_anywhere_is_truncated_and_trailing_bytes_are_fine() {
    let whole = png_bytes();
    let n = whole.len();
    assert_eq!(decodes(&whole).unwrap(), (120, 180));
    for (what, len) in [
        ("inside the header", 20),
        ("inside the image data", n / 2),
        ("90%", n * 9 / 10),
        ("without IEND", n - 12),
        ("one byte short of the end", n - 1),
    ] {
        assert_truncated(&whole[..len], what, "PNG");
    }
    let mut garbage = whole.clone();
    garbage.extend_from_slice(b"trailing");
    assert_eq!(decodes(&garbage).unwrap(), (120, 180));
}

#[test]
fn gif_and_webp_cut_short_are_truncated() {
    let img = RgbImage::from_fn(40, 30, |x, y| Rgb([(x * 6) as u8, (y * 8) as u8, 90]));
    for (format, name) in [(ImageFormat::Gif, "GIF"), (ImageFormat::WebP, "WebP")] {
        let mut whole = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut whole), format).unwrap();
        assert_eq!(decodes(&whole).unwrap(), (40, 30), "{name} whole");
        assert_truncated(&whole[..whole.len() - 1], &format!("{name} one byte short"), name);
        assert_truncated(&whole[..whole.len() * 2 / 3], &format!("{name} two thirds"), name);
    }
}
