//! A user's own catalogue with one photo per product (issue 25): training validation and the
//! demo rank by category instead of printing a table of zeros, product-code evaluation says
//! which protocols fit, and result lines lead with the product's name in 120 columns.

mod common;

use std::fs;
use std::path::Path;

use image::{Rgb, RgbImage};

/// 48 generated photos, one per product: stripes, checks and dots (the `pattern` column,
/// the only categorical one), each product with its own colour and a long `name`.
fn one_photo_per_product(root: &Path) {
    let mut csv = String::from("image,item_id,labels,pattern,name\n");
    for i in 0..48u32 {
        let pattern = ["striped", "checked", "dotted"][(i % 3) as usize];
        let img = RgbImage::from_fn(64, 96, |x, y| {
            let ink = match i % 3 {
                0 => (y / 8) % 2 == 0,
                1 => ((x / 8) + (y / 8)) % 2 == 0,
                _ => (x % 12 < 4) && (y % 12 < 4),
            };
            let shade = (i * 3) as u8;
            if ink {
                Rgb([30 + shade, 40, 60])
            } else {
                Rgb([220, 210 - shade, 200])
            }
        });
        img.save(root.join(format!("{i}.png"))).unwrap();
        let name =
            format!("Style {i} relaxed-fit {pattern} cotton-blend jersey top with long sleeves and a round neckline");
        csv.push_str(&format!("{i}.png,product{i},{pattern}|top,{pattern},{name}\n"));
    }
    fs::write(root.join("list.csv"), csv).unwrap();
}

#[test]
fn a_catalogue_with_one_photo_per_product_is_evaluated_by_category() {
    let dir = tempfile::tempdir().unwrap();
    let catalogue = dir.path().join("catalogue");
    fs::create_dir_all(&catalogue).unwrap();
    one_photo_per_product(&catalogue);
    let config = dir.path().join("tiny.toml");
    fs::write(&config, common::TINY_CONFIG.replace("epochs = 1", "epochs = 2")).unwrap();
    let run = dir.path().join("run");
    let (cat, run_arg) = (catalogue.to_str().unwrap(), run.to_str().unwrap());
    let out = common::lookbook_ok(&[
        "demo",
        "--catalog",
        cat,
        "--run",
        run_arg,
        "--config",
        config.to_str().unwrap(),
        "--no-serve",
    ]);
    let printed = format!("{}{}", common::stdout(&out), String::from_utf8_lossy(&out.stderr));

    // Training says once why validation ranks by pattern, and every epoch line counts queries.
    assert!(printed.contains("validation: no product has two photos"), "{printed}");
    let epochs: Vec<&str> = printed
        .lines()
        .filter(|l| l.starts_with("epoch ") && l.contains("val mAP"))
        .collect();
    assert_eq!(epochs.len(), 2, "{printed}");
    for line in &epochs {
        assert!(line.contains("by pattern"), "{line}");
        assert!(!line.contains("(0 queries)"), "{line}");
    }
    let metrics = fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert!(metrics.lines().nth(1).unwrap().contains(",pattern,"), "{metrics}");

    // The demo's table: by category, with queries and a non-zero hit rate.
    assert!(printed.contains("ranks by category"), "{printed}");
    assert!(printed.contains("--protocol category --attribute pattern"), "{printed}");
    let queries: usize = printed
        .lines()
        .find_map(|l| {
            l.split(" queries, gallery")
                .next()
                .filter(|_| l.contains(" queries, gallery"))
        })
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no query count in\n{printed}"));
    assert!(queries > 0, "{printed}");
    let top_k = printed
        .lines()
        .find(|l| l.starts_with("| top-k"))
        .unwrap_or_else(|| panic!("no top-k row in\n{printed}"));
    let rates: Vec<f64> = top_k.split('|').filter_map(|c| c.trim().parse().ok()).collect();
    assert!(!rates.is_empty() && rates.iter().all(|&r| r > 0.0), "{top_k}");
    assert!(
        !printed.contains("| 0.000 | 0.000 | 0.000 | 0.000 | 0.000 | 0.000 |"),
        "{printed}"
    );

    // product-code has no queries here: a clear error naming the protocols that fit.
    let refused = common::lookbook(&[
        "-q",
        "eval",
        "--model",
        run_arg,
        "--catalog",
        cat,
        "--protocol",
        "product-code",
    ]);
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("has two photos"), "{why}");
    assert!(why.contains("--protocol category --attribute pattern"), "{why}");
    assert!(
        why.contains("--protocol tag") && why.contains("--protocol recommend"),
        "{why}"
    );

    // Result lines: the product's name and key attributes, in 120 columns; JSON keeps everything.
    let index = run.join("index");
    let index = index.to_str().unwrap();
    for command in ["search", "recommend"] {
        let out = common::lookbook_ok(&[command, "--index", index, "product0", "-k", "5"]);
        let lines = common::stdout(&out);
        assert_eq!(lines.lines().count(), 5, "{lines}");
        for line in lines.lines() {
            assert!(line.chars().count() <= 120, "{} columns: {line}", line.chars().count());
            assert!(line.contains(" relaxed-fit "), "{line}");
        }
        let json: serde_json::Value = serde_json::from_slice(
            &common::lookbook_ok(&[command, "--index", index, "product0", "-k", "5", "--json"]).stdout,
        )
        .unwrap();
        let first = &json[0];
        let id = first["item_id"].as_str().unwrap().trim_start_matches("product");
        assert!(
            first["name"]
                .as_str()
                .unwrap()
                .starts_with(&format!("Style {id} relaxed-fit")),
            "{first}"
        );
        assert!(first["name"].as_str().unwrap().ends_with("round neckline"), "{first}");
        assert!(first["attributes"]["pattern"].is_string(), "{first}");
    }
}
