//! `curves.png`: drawn from the epoch history, a real PNG with the series in it.

use lookbook_train::EpochReport;
use lookbook_train::curves::write_curves;

fn report(epoch: usize, loss: f64, val_map: f64) -> EpochReport {
    EpochReport {
        epoch,
        train_images: 100,
        bad_images: 0,
        loss,
        classification: loss * 0.9,
        diversity: 0.1,
        localisation: 0.05,
        scale: 0.0,
        anchor: 0.5,
        positive: 0.0,
        identity: 0.0,
        val_images: 20,
        val_map,
        val_prior_map: 0.03,
        val_queries: 10,
        val_top1: 0.1,
        val_top5: 0.2,
        val_top10: 0.3,
        val_by: None,
        val_precision10: None,
        seconds: 1.0,
    }
}

#[test]
fn curves_png_shows_every_series() {
    let dir = tempfile::tempdir().unwrap();
    for history in [
        vec![report(1, 5.0, 0.05)],
        vec![report(1, 5.0, 0.05), report(2, 4.0, 0.07), report(3, 3.5, 0.08)],
    ] {
        let path = write_curves(dir.path(), &history).unwrap();
        assert_eq!(path, dir.path().join("curves.png"));
        assert!(
            !dir.path().join("curves.png.tmp").exists(),
            "the temp file is renamed away"
        );
        let image = image::open(&path).unwrap().to_rgb8();
        assert_eq!(image.dimensions(), (1200, 450));
        // The loss panel (left) has the red total-loss series, the metrics panel (right) its
        // green top-10 series: pure-ish series colours appear on each side.
        let count = |x0: u32, x1: u32, want: fn(&image::Rgb<u8>) -> bool| {
            (x0..x1)
                .flat_map(|x| (0..450).map(move |y| (x, y)))
                .filter(|&(x, y)| want(image.get_pixel(x, y)))
                .count()
        };
        let red = |p: &image::Rgb<u8>| p[0] > 200 && p[1] < 60 && p[2] < 60;
        let green = |p: &image::Rgb<u8>| p[1] > 100 && p[0] < 60 && p[2] < 60;
        assert!(count(0, 600, red) > 20, "total loss drawn on the left");
        assert!(count(600, 1200, green) > 20, "top-10 drawn on the right");
    }
}
