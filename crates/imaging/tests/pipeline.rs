//! Orientation, formats, letterboxing, normalisation, DCT scaling and the batch loader.

use std::fs;
use std::path::PathBuf;

use image::{ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use jpeg_encoder::{ColorType, Encoder};
use lookbook_imaging::{
    BatchLoader, Fit, ImageSpec, LoaderOptions, Preprocessor, ResizeFilter, decode, decode_file, letterbox,
    letterbox_geometry, normalise_into, unletterbox_box,
};

const RED: [u8; 3] = [230, 20, 20];
const BLUE: [u8; 3] = [20, 20, 230];

/// Left half red, right half blue.
fn halves(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, _| Rgb(if x < w / 2 { RED } else { BLUE }))
}

/// A JPEG of `img` carrying an EXIF block with the given orientation tag.
fn jpeg_with_orientation(img: &RgbImage, orientation: u16) -> Vec<u8> {
    let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01".to_vec();
    exif.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0, 0, 0, 1]); // tag 0x0112, SHORT, count 1
    exif.extend_from_slice(&orientation.to_be_bytes());
    exif.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // value padding, no next IFD
    let mut out = Vec::new();
    let mut enc = Encoder::new(&mut out, 95);
    enc.add_app_segment(1, exif).unwrap();
    enc.encode(img.as_raw(), img.width() as u16, img.height() as u16, ColorType::Rgb)
        .unwrap();
    out
}

fn close(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| (*x as i32 - y as i32).abs() < 40)
}

#[test]
fn exif_orientation_is_honoured_on_both_decode_paths() {
    // Stored 64 wide × 32 high; orientation 6 = rotate 90° clockwise to display,
    // so the stored left (red) column becomes the top row.
    let bytes = jpeg_with_orientation(&halves(64, 32), 6);
    let full = decode(&bytes, &Default::default(), None, [255; 3]).unwrap();
    assert_eq!(full.dimensions(), (32, 64));
    assert!(
        close(full.get_pixel(16, 4).0, RED),
        "top is red: {:?}",
        full.get_pixel(16, 4)
    );
    assert!(close(full.get_pixel(16, 60).0, BLUE), "bottom is blue");
    // A 16×8 (H×W) target lets the JPEG be decoded at 1/4 scale.
    let scaled = decode(&bytes, &Default::default(), Some((16, 8)), [255; 3]).unwrap();
    assert_eq!(scaled.dimensions(), (8, 16), "decoded at 1/4 scale, upright");
    assert!(close(scaled.get_pixel(4, 1).0, RED));
    assert!(close(scaled.get_pixel(4, 14).0, BLUE));
}

#[test]
fn dct_scaled_decode_matches_full_decode_then_resize() {
    // A smooth photo-like picture; the two paths may differ by filtering, not content.
    let img = RgbImage::from_fn(360, 540, |x, y| {
        let v = ((x as f32 / 20.0).sin() * 60.0 + (y as f32 / 35.0).cos() * 60.0 + 128.0) as u8;
        Rgb([v, 255 - v, (x / 2) as u8])
    });
    let mut bytes = Vec::new();
    Encoder::new(&mut bytes, 92)
        .encode(img.as_raw(), 360, 540, ColorType::Rgb)
        .unwrap();
    let spec = ImageSpec::with_size(96, 64);
    let fast = letterbox(
        &decode(&bytes, &Default::default(), Some((96, 64)), [255; 3]).unwrap(),
        &spec,
    );
    let slow = letterbox(&decode(&bytes, &Default::default(), None, [255; 3]).unwrap(), &spec);
    let mad: f64 = fast
        .as_raw()
        .iter()
        .zip(slow.as_raw())
        .map(|(a, b)| (*a as f64 - *b as f64).abs())
        .sum::<f64>()
        / fast.as_raw().len() as f64;
    assert!(mad < 3.0, "mean absolute difference {mad:.2} grey levels");
}

#[test]
fn transparent_pixels_take_the_background() {
    let img = RgbaImage::from_fn(4, 4, |x, _| {
        if x < 2 {
            Rgba([0, 0, 0, 0])
        } else {
            Rgba([0, 0, 0, 255])
        }
    });
    let mut bytes = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut bytes), ImageFormat::Png)
        .unwrap();
    let rgb = decode(&bytes, &Default::default(), None, [255, 255, 255]).unwrap();
    assert_eq!(rgb.get_pixel(0, 0).0, [255, 255, 255]);
    assert_eq!(rgb.get_pixel(3, 0).0, [0, 0, 0]);
}

#[test]
fn webp_bmp_gif_and_tiff_decode() {
    let img = halves(20, 10);
    for format in [ImageFormat::WebP, ImageFormat::Bmp, ImageFormat::Gif, ImageFormat::Tiff] {
        let mut bytes = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut bytes), format).unwrap();
        let out = decode(&bytes, &Default::default(), None, [0; 3]).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!(out.dimensions(), (20, 10), "{format:?}");
        assert!(close(out.get_pixel(2, 5).0, RED), "{format:?} left is red");
        assert!(close(out.get_pixel(17, 5).0, BLUE), "{format:?} right is blue");
    }
}

#[test]
fn format_comes_from_content_not_extension() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("really_a_png.jpg");
    halves(8, 8).save_with_format(&path, ImageFormat::Png).unwrap();
    assert_eq!(
        decode_file(&path, &Default::default(), None, [0; 3])
            .unwrap()
            .dimensions(),
        (8, 8)
    );
}

#[test]
fn a_box_in_the_letterbox_maps_back_to_the_photo() {
    // 400×400 in 256×384: scaled by 0.64 to 256×256, 64 px bars above and below.
    assert_eq!(
        unletterbox_box([0.0, 64.0, 256.0, 320.0], 400, 400, 256, 384),
        [0.0, 0.0, 400.0, 400.0]
    );
    assert_eq!(
        unletterbox_box([64.0, 128.0, 128.0, 192.0], 400, 400, 256, 384),
        [100.0, 100.0, 200.0, 200.0]
    );
    // The whole letterbox: the bars are cut off, the photo is the box.
    assert_eq!(
        unletterbox_box([0.0, 0.0, 256.0, 384.0], 400, 400, 256, 384),
        [0.0, 0.0, 400.0, 400.0]
    );
    // An H&M packshot (360×540) fills 256×384 exactly: a plain rescale by 360/256.
    assert_eq!(
        unletterbox_box([128.0, 0.0, 256.0, 192.0], 360, 540, 256, 384),
        [180.0, 0.0, 360.0, 270.0]
    );
}

#[test]
fn letterbox_keeps_aspect_and_centres() {
    assert_eq!(letterbox_geometry(360, 540, 256, 384), (256, 384, 0, 0));
    assert_eq!(letterbox_geometry(400, 400, 256, 384), (256, 256, 0, 64));
    assert_eq!(letterbox_geometry(800, 200, 256, 384), (256, 64, 0, 160));
    let spec = ImageSpec {
        pad: [1, 2, 3],
        ..ImageSpec::with_size(384, 256)
    };
    let boxed = letterbox(&RgbImage::from_pixel(400, 400, Rgb([200, 100, 50])), &spec);
    assert_eq!(boxed.dimensions(), (256, 384));
    assert_eq!(boxed.get_pixel(128, 10).0, [1, 2, 3], "bar above");
    assert_eq!(boxed.get_pixel(128, 63).0, [1, 2, 3]);
    assert_eq!(boxed.get_pixel(128, 64).0, [200, 100, 50], "picture starts at row 64");
    assert_eq!(boxed.get_pixel(128, 319).0, [200, 100, 50]);
    assert_eq!(boxed.get_pixel(128, 320).0, [1, 2, 3], "bar below");
}

#[test]
fn stretch_fills_the_canvas_with_either_filter() {
    // Left half red, right half blue: stretched, the boundary stays in the middle and no bars appear.
    let img = RgbImage::from_fn(40, 10, |x, _| if x < 20 { Rgb([255, 0, 0]) } else { Rgb([0, 0, 255]) });
    for filter in [ResizeFilter::Bilinear, ResizeFilter::Bicubic] {
        let spec = ImageSpec {
            fit: Fit::Stretch,
            filter,
            ..ImageSpec::with_size(20, 20)
        };
        let out = letterbox(&img, &spec);
        assert_eq!(out.dimensions(), (20, 20));
        assert_eq!(
            out.get_pixel(2, 0).0,
            [255, 0, 0],
            "{filter:?}: top row is picture, not a bar"
        );
        assert_eq!(out.get_pixel(17, 19).0, [0, 0, 255], "{filter:?}");
    }
}

#[test]
fn normalisation_is_chw_with_mean_and_std() {
    let spec = ImageSpec::with_size(2, 3);
    let img = RgbImage::from_fn(3, 2, |x, y| Rgb([(x * 100) as u8, (y * 255) as u8, 51]));
    let mut out = vec![0.0; spec.tensor_len()];
    normalise_into(&img, &spec, &mut out);
    let at = |c: usize, y: usize, x: usize| out[c * 6 + y * 3 + x];
    let expect = |c: usize, v: f32| (v / 255.0 - spec.mean[c]) / spec.std[c];
    assert!((at(0, 0, 2) - expect(0, 200.0)).abs() < 1e-6);
    assert!((at(1, 1, 0) - expect(1, 255.0)).abs() < 1e-6);
    assert!((at(2, 1, 1) - expect(2, 51.0)).abs() < 1e-6);
}

#[test]
fn loader_keeps_order_and_packs_around_failures() {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for i in 0..23u8 {
        let path = dir.path().join(format!("{i:02}.png"));
        if i % 7 == 3 {
            fs::write(&path, b"broken").unwrap();
        } else {
            RgbImage::from_pixel(5, 5, Rgb([i * 10, 0, 0])).save(&path).unwrap();
        }
        paths.push(path);
    }
    let spec = ImageSpec {
        mean: [0.0; 3],
        std: [1.0; 3],
        ..ImageSpec::with_size(5, 5)
    };
    let pre = Preprocessor::new(spec).unwrap();
    let order: Vec<usize> = (0..23).rev().collect();
    let paths_for_loader: Vec<PathBuf> = paths.clone();
    let loader = BatchLoader::spawn(
        order.clone(),
        spec.tensor_len(),
        LoaderOptions {
            batch_size: 5,
            prefetch: 1,
            threads: 2,
        },
        move |i, out| pre.load_into(&paths_for_loader[i], out),
    )
    .unwrap();
    assert_eq!(loader.batches(), 5);
    let mut seen = Vec::new();
    let mut failed = Vec::new();
    for batch in loader {
        for (k, &item) in batch.items.iter().enumerate() {
            // The red plane of item i is i*10/255 everywhere.
            let red = batch.image(k)[0];
            assert!(
                (red - item as f32 * 10.0 / 255.0).abs() < 1e-6,
                "item {item} landed in its own slot"
            );
        }
        seen.extend(batch.items);
        failed.extend(batch.failures.into_iter().map(|(i, _)| i));
    }
    let want: Vec<usize> = order.iter().copied().filter(|i| i % 7 != 3).collect();
    assert_eq!(seen, want, "order preserved, failures removed");
    failed.sort();
    assert_eq!(failed, vec![3, 10, 17]);
}

#[test]
fn dropping_a_loader_early_stops_its_producer() {
    let loader = BatchLoader::spawn(
        (0..10_000).collect(),
        4,
        LoaderOptions {
            batch_size: 2,
            prefetch: 1,
            threads: 1,
        },
        |_, out| {
            out.fill(1.0);
            Ok(())
        },
    )
    .unwrap();
    let first: Vec<_> = loader.take(3).collect();
    assert_eq!(first.len(), 3);
    // Reaching here (the loader was dropped by `take`) means the producer was unblocked and joined.
}

#[test]
fn a_loader_without_prefetch_keeps_two_batch_buffers_going_round() {
    // `lookbook index` and `eval` load this way (issue 20: memory bounded by the batch): the
    // producer decodes the next batch while the consumer holds one, and reuses the buffer the
    // consumer hands back. A third buffer (a batch waiting in the channel) would show up as a
    // third distinct allocation.
    let mut loader = BatchLoader::spawn(
        (0..40).collect(),
        1000,
        LoaderOptions {
            batch_size: 4,
            prefetch: 0,
            threads: 1,
        },
        |i, out| {
            out.fill(i as f32);
            Ok(())
        },
    )
    .unwrap();
    let mut buffers = std::collections::HashSet::new();
    let mut seen = Vec::new();
    while let Some(batch) = loader.next() {
        buffers.insert(batch.pixels.as_ptr() as usize);
        for (k, &item) in batch.items.iter().enumerate() {
            assert!(
                batch.image(k).iter().all(|&v| v == item as f32),
                "item {item} in its slot"
            );
        }
        seen.extend_from_slice(&batch.items);
        std::thread::sleep(std::time::Duration::from_millis(2));
        loader.recycle(batch);
    }
    assert_eq!(seen, (0..40).collect::<Vec<_>>(), "every item, in order");
    assert!(buffers.len() <= 2, "{} batch buffers in use", buffers.len());
}
