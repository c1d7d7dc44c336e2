//! Bad files become reasons in a report; good ones load; nothing panics.

use std::fs;
use std::path::{Path, PathBuf};

use image::{ImageBuffer, Luma, Rgb, RgbImage};
use jpeg_encoder::{ColorType, Encoder};
use lookbook_imaging::{BatchLoader, ImageError, ImageSpec, LoaderOptions, Preprocessor, decode_file};

fn jpeg_rgb(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    Encoder::new(&mut out, 90)
        .encode(img.as_raw(), img.width() as u16, img.height() as u16, ColorType::Rgb)
        .unwrap();
    out
}

/// A PNG whose header claims `w`×`h`, followed by a tiny IDAT and IEND.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(&crc.finalize().to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn gradient(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| Rgb([(x * 7) as u8, (y * 5) as u8, 128]))
}

struct Fixture {
    _dir: tempfile::TempDir,
    good: Vec<PathBuf>,
    bad: Vec<(PathBuf, &'static str)>,
}

fn hostile_folder() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let mut good = Vec::new();
    let mut bad = Vec::new();

    let full = jpeg_rgb(&gradient(64, 96));
    fs::write(p("truncated.jpg"), &full[..full.len() / 3]).unwrap();
    bad.push((p("truncated.jpg"), "truncated jpeg"));
    fs::write(p("empty.jpg"), b"").unwrap();
    bad.push((p("empty.jpg"), "empty"));
    fs::write(p("notes.jpg"), b"these are not the pixels you are looking for\n").unwrap();
    bad.push((p("notes.jpg"), "not a supported image"));
    fs::write(p("bomb.png"), png_claiming(100_000, 100_000)).unwrap();
    bad.push((p("bomb.png"), "100000x100000"));

    // CMYK JPEG: left half pure cyan ink, right half no ink.
    let cmyk: Vec<u8> = (0..48 * 32)
        .flat_map(|i| if i % 48 < 24 { [255, 0, 0, 0] } else { [0, 0, 0, 0] })
        .collect();
    let mut cmyk_jpeg = Vec::new();
    Encoder::new(&mut cmyk_jpeg, 95)
        .encode(&cmyk, 48, 32, ColorType::Cmyk)
        .unwrap();
    fs::write(p("cmyk.jpg"), cmyk_jpeg).unwrap();
    good.push(p("cmyk.jpg"));

    let deep: ImageBuffer<Rgb<u16>, Vec<u16>> =
        ImageBuffer::from_fn(30, 20, |x, y| Rgb([(x * 2000) as u16, (y * 3000) as u16, 65535]));
    deep.save(p("deep16.png")).unwrap();
    good.push(p("deep16.png"));
    RgbImage::from_pixel(1, 1, Rgb([10, 200, 30]))
        .save(p("one.png"))
        .unwrap();
    good.push(p("one.png"));
    let grey: ImageBuffer<Luma<u8>, Vec<u8>> = ImageBuffer::from_fn(40, 60, |x, _| Luma([(x * 6) as u8]));
    grey.save(p("grey.png")).unwrap();
    good.push(p("grey.png"));
    let mut grey_jpeg = Vec::new();
    Encoder::new(&mut grey_jpeg, 90)
        .encode(grey.as_raw(), 40, 60, ColorType::Luma)
        .unwrap();
    fs::write(p("grey.jpg"), grey_jpeg).unwrap();
    good.push(p("grey.jpg"));
    fs::write(p("fine.jpg"), &full).unwrap();
    good.push(p("fine.jpg"));
    Fixture { _dir: dir, good, bad }
}

#[test]
fn hostile_files_are_reported_and_good_ones_load() {
    let fx = hostile_folder();
    let mut paths: Vec<PathBuf> = fx.good.clone();
    paths.extend(fx.bad.iter().map(|(p, _)| p.clone()));
    paths.sort();
    let spec = ImageSpec::with_size(48, 32);
    let pre = Preprocessor::new(spec).unwrap();
    let options = LoaderOptions {
        batch_size: 4,
        prefetch: 1,
        threads: 2,
    };
    let mut loaded = Vec::new();
    let mut failed = Vec::new();
    for batch in BatchLoader::from_paths(paths.clone(), pre, options).unwrap() {
        assert_eq!(batch.pixels.len(), batch.len() * spec.tensor_len());
        for i in 0..batch.len() {
            assert!(batch.image(i).iter().all(|v| v.is_finite()));
        }
        loaded.extend(batch.items.iter().map(|&i| paths[i].clone()));
        failed.extend(batch.failures.into_iter().map(|(i, bad)| (paths[i].clone(), bad)));
    }
    loaded.sort();
    let mut want_good = fx.good.clone();
    want_good.sort();
    assert_eq!(loaded, want_good, "every good file loads");
    assert_eq!(failed.len(), fx.bad.len(), "every bad file is reported: {failed:?}");
    for (path, needle) in &fx.bad {
        let (_, bad) = failed.iter().find(|(p, _)| p == path).expect("reported");
        let message = bad.to_string();
        assert!(
            message.contains(&path.display().to_string()),
            "report names the file: {message}"
        );
        assert!(
            message.to_lowercase().contains(needle),
            "{message} should say `{needle}`"
        );
    }
}

#[test]
fn bomb_is_refused_before_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.png");
    fs::write(&path, png_claiming(100_000, 100_000)).unwrap();
    let err = decode_file(&path, &Default::default(), None, [255; 3]).unwrap_err();
    assert!(
        matches!(
            err,
            ImageError::TooManyPixels {
                width: 100_000,
                height: 100_000,
                ..
            }
        ),
        "{err}"
    );
    // Within the side limits but over the memory cap.
    fs::write(&path, png_claiming(16_000, 16_000)).unwrap();
    let err = decode_file(&path, &Default::default(), None, [255; 3]).unwrap_err();
    assert!(
        matches!(err, ImageError::TooMuchMemory { .. } | ImageError::LimitExceeded(_)),
        "{err}"
    );
}

#[test]
fn cmyk_jpeg_keeps_its_colours() {
    let fx = hostile_folder();
    let path = fx.good.iter().find(|p| p.ends_with("cmyk.jpg")).unwrap();
    let img = decode_file(path, &Default::default(), None, [255; 3]).unwrap();
    assert_eq!(img.dimensions(), (48, 32));
    let left = img.get_pixel(5, 16)[0] as i32;
    let right = img.get_pixel(42, 16)[0] as i32;
    assert!(
        (left - right).abs() > 100,
        "cyan ink must remove red: left {left}, right {right}"
    );
}

#[test]
fn sixteen_bit_and_grey_become_8_bit_rgb() {
    let fx = hostile_folder();
    let find = |name: &str| fx.good.iter().find(|p| p.ends_with(name)).unwrap().clone();
    let deep = decode_file(&find("deep16.png"), &Default::default(), None, [0; 3]).unwrap();
    // 16-bit samples are scaled to 8 bits with rounding: 20000·255/65535 = 77.8 → 78.
    let to8 = |v: f64| (v * 255.0 / 65535.0).round() as u8;
    assert_eq!(deep.get_pixel(10, 10).0, [to8(20_000.0), to8(30_000.0), 255]);
    let grey = decode_file(&find("grey.png"), &Default::default(), None, [0; 3]).unwrap();
    let px = grey.get_pixel(20, 5).0;
    assert_eq!(px, [120, 120, 120]);
    let one = decode_file(&find("one.png"), &Default::default(), None, [0; 3]).unwrap();
    assert_eq!(one.dimensions(), (1, 1));
}

#[test]
fn wrong_path_is_an_io_error_not_a_panic() {
    let err = decode_file(
        Path::new("/nonexistent/lookbook/x.jpg"),
        &Default::default(),
        None,
        [0; 3],
    )
    .unwrap_err();
    assert!(matches!(err, ImageError::Io(_)), "{err}");
}
