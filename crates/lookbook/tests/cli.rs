//! The `lookbook` binary end to end on generated folders.

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;

use common::{TINY_CONFIG, labelled_catalogue, lookbook, lookbook_ok, stdout};
use image::{Rgb, RgbImage};

/// Two items with two photos each, plus one text file pretending to be a JPEG.
fn folder_catalogue(root: &Path) {
    for (item, n) in [("dress-1", 2), ("coat-7", 2)] {
        fs::create_dir_all(root.join(item)).unwrap();
        for i in 0..n {
            RgbImage::from_fn(36, 54, |x, y| Rgb([x as u8 * 7, y as u8 * 4, i * 90]))
                .save(root.join(item).join(format!("{i}.png")))
                .unwrap();
        }
    }
    fs::write(root.join("coat-7/broken.jpg"), "not an image").unwrap();
}

#[test]
fn inspect_reports_format_items_and_splits_as_json() {
    let dir = tempfile::tempdir().unwrap();
    folder_catalogue(dir.path());
    let out = lookbook(&["catalog", "inspect", dir.path().to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["format"], "folder");
    assert_eq!(report["images"], 5);
    assert_eq!(report["items"], 2);
    let splits: u64 = report["splits"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(splits, 5);
    let text = lookbook(&["catalog", "inspect", dir.path().to_str().unwrap()]);
    assert!(stdout(&text).contains("images       5"), "{}", stdout(&text));
}

#[test]
fn check_lists_bad_files_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    folder_catalogue(dir.path());
    let out = lookbook(&["catalog", "check", dir.path().to_str().unwrap(), "--size", "48x32"]);
    assert_eq!(out.status.code(), Some(1), "a bad image makes check fail");
    let text = stdout(&out);
    assert!(text.contains("4 decoded, 1 bad"), "{text}");
    assert!(text.contains("broken.jpg: not a supported image"), "{text}");

    let out = lookbook(&["-q", "catalog", "check", dir.path().to_str().unwrap(), "--json"]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["decoded"], 4);
    assert_eq!(report["bad"].as_array().unwrap().len(), 1);

    fs::remove_file(dir.path().join("coat-7/broken.jpg")).unwrap();
    let out = lookbook(&["catalog", "check", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stdout(&out));
}

#[test]
fn clear_errors_for_bad_arguments() {
    let out = lookbook(&["catalog", "inspect", "/nonexistent/catalogue"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/catalogue is not a folder"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let out = lookbook(&[
        "catalog",
        "inspect",
        dir.path().to_str().unwrap(),
        "--format",
        "parquet",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown catalogue format"));
    let out = lookbook(&["catalog", "check", dir.path().to_str().unwrap(), "--size", "384"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("HxW"));
    for sub in [
        &["--help"][..],
        &["catalog", "--help"],
        &["catalog", "inspect", "--help"],
        &["catalog", "check", "--help"],
    ] {
        let out = lookbook(sub);
        assert!(out.status.success() && stdout(&out).contains("Usage"), "{sub:?}");
    }
}

/// train → index → search (by photo and by item id) → eval, on a generated catalogue.
#[test]
fn train_index_search_and_eval_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let catalogue = dir.path().join("catalogue");
    fs::create_dir_all(&catalogue).unwrap();
    labelled_catalogue(&catalogue);
    let config = dir.path().join("tiny.toml");
    fs::write(&config, TINY_CONFIG).unwrap();
    let (cat, run, index) = (
        catalogue.to_str().unwrap(),
        dir.path().join("run"),
        dir.path().join("index"),
    );
    let (run, index) = (run.to_str().unwrap(), index.to_str().unwrap());

    let trained = lookbook(&[
        "-q",
        "train",
        "--catalog",
        cat,
        "--config",
        config.to_str().unwrap(),
        "--out",
        run,
    ]);
    assert!(trained.status.success(), "{}", String::from_utf8_lossy(&trained.stderr));
    assert!(Path::new(run).join("curves.png").is_file());

    let indexed = lookbook(&["-q", "index", "--model", run, "--catalog", cat, "--out", index]);
    assert!(indexed.status.success(), "{}", String::from_utf8_lossy(&indexed.stderr));
    assert!(
        stdout(&indexed).contains("16 images (16 embedded now, 0 skipped)"),
        "{}",
        stdout(&indexed)
    );
    // 256-d global feature + 3 steps × 16-d encodings.
    assert!(stdout(&indexed).contains("304-d euclidean"), "{}", stdout(&indexed));

    // A photo query is embedded with the index's model: its own image comes back first.
    let photo = catalogue.join("5.png");
    let by_photo = lookbook(&["search", "--index", index, photo.to_str().unwrap(), "-k", "3", "--json"]);
    assert!(
        by_photo.status.success(),
        "{}",
        String::from_utf8_lossy(&by_photo.stderr)
    );
    let hits: serde_json::Value = serde_json::from_str(&stdout(&by_photo)).unwrap();
    assert_eq!(hits.as_array().unwrap().len(), 3);
    assert_eq!(hits[0]["item_id"], "item2");
    assert!(hits[0]["image"].as_str().unwrap().ends_with("5.png"));
    assert!(hits[0]["distance"].as_f64().unwrap() < 1e-3);
    // An item id query leaves that item's images out: the answers are other items.
    let by_item = lookbook(&["search", "--index", index, "item2", "-k", "15", "--json"]);
    let hits: serde_json::Value = serde_json::from_str(&stdout(&by_item)).unwrap();
    assert_eq!(hits.as_array().unwrap().len(), 14, "every image of the other items");
    assert!(hits.as_array().unwrap().iter().all(|h| h["item_id"] != "item2"));
    // A filter no image passes gives no results and says why.
    let none = lookbook(&["search", "--index", index, "item2", "--filter", "colour=Teal"]);
    assert!(none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("fewer images"));

    // The table as embedded, then (--views) from each photo's grey version and itself,
    // averaged: the report names the views.
    let table = |views: &[&str]| -> serde_json::Value {
        let base = [
            "-q",
            "eval",
            "--model",
            run,
            "--catalog",
            cat,
            "--protocol",
            "product-code",
        ];
        let args = [&base[..], &["--split", "all", "--ks", "1,5,15", "--json"], views].concat();
        serde_json::from_str(&stdout(&lookbook_ok(&args))).unwrap()
    };
    for (report, views) in [(table(&[]), false), (table(&["--views", "grey,photo"]), true)] {
        let model = report["model"].as_str().unwrap();
        assert_eq!(model.ends_with(" + views grey+photo"), views, "{model}");
        assert_eq!(report["queries"], 16, "every image has a partner");
        assert_eq!(report["gallery"], 16);
        let values: Vec<f64> = report["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(values.len(), 3);
        assert!(
            values.windows(2).all(|w| w[0] <= w[1]),
            "top-k grows with k: {values:?}"
        );
        assert_eq!(values[2], 1.0, "with k = 15 every other image is retrieved");
    }

    recommend_and_explain(&catalogue, run, index, dir.path());
}

/// `recommend`, `explain` and `eval --protocol recommend` on the trained run of the
/// end-to-end test (3 parts: the whole map and 2 attention steps).
fn recommend_and_explain(catalogue: &Path, run: &str, index: &str, scratch: &Path) {
    let cat = catalogue.to_str().unwrap();
    let json_of = |o: &Output| -> serde_json::Value {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_str(&stdout(o)).unwrap()
    };
    // λ = 0: the nearest images, one per item — the first image of each new item in search.
    let plain = json_of(&lookbook(&[
        "recommend",
        "--index",
        index,
        "item2",
        "-k",
        "5",
        "--diversity",
        "0",
        "--json",
    ]));
    let plain = plain.as_array().unwrap();
    let searched = json_of(&lookbook(&["search", "--index", index, "item2", "-k", "15", "--json"]));
    let mut first_per_item: Vec<String> = Vec::new();
    for hit in searched.as_array().unwrap() {
        let item = hit["item_id"].as_str().unwrap().to_string();
        if !first_per_item.contains(&item) {
            first_per_item.push(item);
        }
    }
    let items: Vec<String> = plain
        .iter()
        .map(|r| r["item_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(items, first_per_item[..5]);
    // λ = 0.5: still five different items, never the query's; each says why, with a box
    // inside the 64×96 photo.
    let sheet = scratch.join("recommend.png");
    let varied = json_of(&lookbook(&[
        "recommend",
        "--index",
        index,
        "item2",
        "-k",
        "5",
        "--json",
        "--sheet",
        sheet.to_str().unwrap(),
    ]));
    let varied = varied.as_array().unwrap();
    let mut items: Vec<&str> = varied.iter().map(|r| r["item_id"].as_str().unwrap()).collect();
    items.sort();
    items.dedup();
    assert_eq!(items.len(), 5);
    assert!(!items.contains(&"item2"));
    for r in varied {
        assert!(r["matched"] == "whole" || r["matched"]["part"].is_u64(), "{r}");
        let region: Vec<f64> = r["region"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert!(
            region[0] >= 0.0 && region[2] <= 64.0 && region[1] >= 0.0 && region[3] <= 96.0,
            "{region:?}"
        );
        assert!(region[0] <= region[2] && region[1] <= region[3], "{region:?}");
    }
    assert!(image::open(&sheet).is_ok());
    let bad = lookbook(&["recommend", "--index", index, "item2", "--diversity", "1.5"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--diversity"));

    // explain: step 0 is the whole photo; every step's box lies inside it; labels scored.
    let picture = scratch.join("explain.png");
    let photo = catalogue.join("5.png");
    let explained = json_of(&lookbook(&[
        "explain",
        "--model",
        run,
        photo.to_str().unwrap(),
        "--out",
        picture.to_str().unwrap(),
        "--top",
        "3",
        "--json",
    ]));
    let regions = explained["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 3);
    assert_eq!(regions[0]["region"], serde_json::json!([0.0, 0.0, 64.0, 96.0]));
    assert_eq!(explained["labels"].as_array().unwrap().len(), 3);
    let drawn = image::open(&picture).unwrap();
    assert_eq!((drawn.width(), drawn.height()), (64 + 260, 96));

    // eval --protocol recommend: kNN and four λ, with k = 3 distinct items each.
    let report = json_of(&lookbook(&[
        "-q",
        "eval",
        "--model",
        run,
        "--catalog",
        cat,
        "--protocol",
        "recommend",
        "--split",
        "all",
        "--k",
        "3",
        "--png",
        scratch.join("tradeoff.png").to_str().unwrap(),
        "--json",
    ]));
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(report["queries"], 16);
    assert_eq!(rows.len(), 6, "kNN and λ = 0, .25, .5, .75, 1");
    assert_eq!(rows[0]["method"], "knn");
    assert!(rows[1..].iter().all(|r| r["distinct_items"] == 3.0), "{rows:?}");
    assert!(scratch.join("tradeoff.png").is_file());
}

#[test]
fn histogram_baseline_index_and_eval() {
    let dir = tempfile::tempdir().unwrap();
    folder_catalogue(dir.path());
    let index = dir.path().join("index");
    let out = lookbook(&[
        "-q",
        "index",
        "--baseline",
        "histogram",
        "--catalog",
        dir.path().to_str().unwrap(),
        "--out",
        index.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout(&out).contains("4 images (4 embedded now, 1 skipped)"),
        "{}",
        stdout(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("broken.jpg"),
        "the bad file is named"
    );
    // The two photos of an item differ only in blue: each one's nearest is its partner.
    let cat = dir.path().to_str().unwrap();
    let eval_args = |more: &[&'static str]| -> Vec<&str> {
        let base = [
            "eval",
            "--baseline",
            "histogram",
            "--catalog",
            cat,
            "--protocol",
            "product-code",
            "--split",
            "all",
        ];
        [&base[..], more].concat()
    };
    let eval = lookbook(&eval_args(&["-q", "--ks", "1", "--json"]));
    assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
    let report: serde_json::Value = serde_json::from_str(&stdout(&eval)).unwrap();
    assert_eq!(report["queries"], 4);
    assert_eq!(report["skipped"], 1);
    // A colour histogram has no grey view to make: a clear refusal, not a table.
    let grey = lookbook(&eval_args(&["--views", "grey"]));
    let said = String::from_utf8_lossy(&grey.stderr);
    assert_eq!(grey.status.code(), Some(2), "{said}");
    assert!(said.contains("--views"), "{said}");
    let missing = lookbook(&["search", "--index", dir.path().join("nowhere").to_str().unwrap(), "x"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nowhere"));
}

/// 16 generated packshots (64×96): a garment of one of four shapes (top with sleeves, dress,
/// trousers, skirt) in one of four colours, centred at a jittered place on a plain light
/// background, as catalogue photos are.
fn packshot_catalogue(root: &Path) {
    let mut csv = String::from("image,item_id,labels\n");
    for i in 0..16u32 {
        let (shape, colour) = (i % 4, i / 4);
        let (dx, dy) = ((i * 3 % 7) as i32 - 3, (i * 5 % 9) as i32 - 4);
        let ink = [[160, 30, 40], [30, 60, 150], [40, 120, 60], [60, 60, 60]][colour as usize];
        let img = RgbImage::from_fn(64, 96, |x, y| {
            let (x, y) = (x as i32 - dx, y as i32 - dy);
            let inside = match shape {
                // A top: a body and two sleeves.
                0 => {
                    ((20..44).contains(&x) && (20..70).contains(&y)) || ((10..54).contains(&x) && (20..36).contains(&y))
                }
                // A dress widening downwards.
                1 => (15..80).contains(&y) && (32 - (8 + (y - 15) / 4)..32 + (8 + (y - 15) / 4)).contains(&x),
                // Trousers: a waist and two legs.
                2 => {
                    ((18..46).contains(&x) && (12..30).contains(&y))
                        || (((18..30).contains(&x) || (34..46).contains(&x)) && (30..86).contains(&y))
                }
                // A skirt.
                _ => (30..70).contains(&y) && (32 - (10 + (y - 30) / 3)..32 + (10 + (y - 30) / 3)).contains(&x),
            };
            if inside { Rgb(ink) } else { Rgb([238, 238, 240]) }
        });
        img.save(root.join(format!("{i}.png"))).unwrap();
        let label = ["top", "dress", "trousers", "skirt"][shape as usize];
        csv.push_str(&format!("{i}.png,item{i},{label}\n"));
    }
    fs::write(root.join("list.csv"), csv).unwrap();
}

/// The attention steps of a model trained for two epochs land on different parts of the
/// garment (not one box, not the background), with names; `eval --protocol attention` says so.
#[test]
fn a_trained_tiny_model_finds_distinct_parts_of_the_garment() {
    let dir = tempfile::tempdir().unwrap();
    let catalogue = dir.path().join("packshots");
    fs::create_dir_all(&catalogue).unwrap();
    packshot_catalogue(&catalogue);
    let config = dir.path().join("tiny.toml");
    fs::write(
        &config,
        common::TINY_CONFIG
            .replace("steps = 2", "steps = 4")
            .replace("epochs = 1", "epochs = 2"),
    )
    .unwrap();
    let run = dir.path().join("run");
    common::train(&catalogue, &config, &run);
    let (cat, run_s) = (catalogue.to_str().unwrap(), run.to_str().unwrap());

    // The index stores each photo's boxes (issue 20); one built without them (as before) finds
    // them with the model.
    let (stored, fallback) = (dir.path().join("index"), dir.path().join("index-no-boxes"));
    for (index, extra) in [(&stored, None), (&fallback, Some("--no-boxes"))] {
        let mut args = vec![
            "-q",
            "index",
            "--model",
            run_s,
            "--catalog",
            cat,
            "--out",
            index.to_str().unwrap(),
        ];
        args.extend(extra);
        lookbook_ok(&args);
    }
    let stored_boxes = records_boxes(&stored);
    assert_eq!(stored_boxes.len(), 16, "every record has its boxes");
    assert!(records_boxes(&fallback).is_empty(), "--no-boxes stores none");

    let names = lookbook_imaging::PART_NAMES;
    for photo in ["0.png", "5.png", "10.png", "15.png"] {
        let out = lookbook_ok(&[
            "explain",
            "--model",
            run_s,
            catalogue.join(photo).to_str().unwrap(),
            "--out",
            dir.path().join("explain.png").to_str().unwrap(),
            "--json",
        ]);
        let explained: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let boxes: Vec<[f32; 4]> = explained["regions"].as_array().unwrap()[1..]
            .iter()
            .map(|r| {
                assert!(names.contains(&r["name"].as_str().unwrap()), "{r}");
                let v: Vec<f32> = r["region"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap() as f32)
                    .collect();
                [v[0], v[1], v[2], v[3]]
            })
            .collect();
        assert_eq!(boxes.len(), 4);
        let (size, kept) = &stored_boxes[photo];
        assert_eq!(
            [
                explained["width"].as_u64().unwrap(),
                explained["height"].as_u64().unwrap()
            ],
            size.map(u64::from)
        );
        for (step, ((bbox, name), r)) in kept
            .iter()
            .zip(&explained["regions"].as_array().unwrap()[1..])
            .enumerate()
        {
            let within = bbox.iter().zip(&boxes[step]).all(|(a, b)| (a - b).abs() <= 1.0);
            assert!(
                within,
                "{photo} step {}: stored {bbox:?}, explained {:?}",
                step + 1,
                boxes[step]
            );
            assert_eq!(name, r["name"].as_str().unwrap(), "{photo} step {}", step + 1);
        }
        assert!(
            explained["garment"].is_array(),
            "{photo}: a plain background gives a garment box"
        );
        for (i, a) in boxes.iter().enumerate() {
            for b in &boxes[i + 1..] {
                let iou = lookbook_eval::attention::iou(*a, *b);
                assert!(iou < 0.5, "{photo}: steps {a:?} and {b:?} overlap (IoU {iou})");
            }
        }
    }
    // Recommendations (λ = 1: matched parts) read the stored boxes, or find the same ones.
    let recommended = |index: &Path| -> serde_json::Value {
        let out = lookbook_ok(&[
            "-q",
            "recommend",
            "--index",
            index.to_str().unwrap(),
            "item0",
            "--diversity",
            "1",
            "--json",
        ]);
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    let (from_index, from_model) = (recommended(&stored), recommended(&fallback));
    let (a, b) = (from_index.as_array().unwrap(), from_model.as_array().unwrap());
    assert_eq!(a.len(), b.len());
    assert!(
        a.iter().any(|r| r["part_name"].is_string()),
        "some result matched a part: {from_index}"
    );
    for (a, b) in a.iter().zip(b) {
        assert_eq!((&a["item_id"], &a["part_name"]), (&b["item_id"], &b["part_name"]));
        let region = |r: &serde_json::Value| -> Vec<f64> {
            r["region"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        };
        let within = region(a).iter().zip(region(b)).all(|(x, y)| (x - y).abs() <= 1.0);
        assert!(within, "stored {a} against recomputed {b}");
    }

    let png = dir.path().join("attention.png");
    let out = lookbook_ok(&[
        "-q",
        "eval",
        "--model",
        run_s,
        "--catalog",
        cat,
        "--protocol",
        "attention",
        "--split",
        "all",
        "--png",
        png.to_str().unwrap(),
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    println!("{report}");
    assert_eq!(report["photos"], 16);
    assert_eq!(report["photos_with_mask"], 16);
    assert!(report["pairwise_iou"].as_f64().unwrap() < 0.3, "{report}");
    assert!(report["mostly_garment"].as_f64().unwrap() >= 0.5, "{report}");
    assert!(report["coverage"].as_f64().unwrap() >= 0.6, "{report}");
    assert!(image::open(&png).is_ok());
}

/// Each record's stored boxes in the index folder `index`, by image: the photo's size and each
/// step's box and part name (records without boxes left out).
#[allow(clippy::type_complexity)]
fn records_boxes(index: &Path) -> std::collections::HashMap<String, ([u32; 2], Vec<([f32; 4], String)>)> {
    let records = fs::read_dir(index)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with("records-"))
        .expect("a records file");
    fs::read_to_string(records)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let record: lookbook_index::Record = serde_json::from_str(line).unwrap();
            let boxes = record.boxes?;
            let steps = boxes.steps.into_iter().map(|s| (s.bbox, s.name)).collect();
            Some((record.image.to_string_lossy().into_owned(), (boxes.size, steps)))
        })
        .collect()
}

/// A real H&M photo cut at several points is reported bad by `catalog check` and skipped with
/// its reason by `index`; the whole photo, also with bytes after its end, stays good.
#[test]
fn truncated_photos_are_bad_everywhere_and_trailing_bytes_are_fine() {
    let Some(hm) = common::shared_data("hm") else { return };
    let whole = fs::read(hm.join("images/011/0111565001.jpg")).unwrap();
    let n = whole.len();
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    fs::create_dir_all(photos.join("whole")).unwrap();
    fs::create_dir_all(photos.join("cut")).unwrap();
    fs::write(photos.join("whole/intact.jpg"), &whole).unwrap();
    let mut garbage = whole.clone();
    garbage.extend_from_slice(b"bytes a proxy appended after the end-of-image marker");
    fs::write(photos.join("whole/trailing.jpg"), &garbage).unwrap();
    let cuts = [
        ("header", 300),
        ("first-scan", 2000),
        ("ninety", n * 9 / 10),
        ("one-short", n - 1),
    ];
    for (name, len) in cuts {
        fs::write(photos.join(format!("cut/{name}.jpg")), &whole[..len]).unwrap();
    }
    let root = photos.to_str().unwrap();
    let out = lookbook(&["-q", "catalog", "check", root, "--json"]);
    assert_eq!(out.status.code(), Some(1), "truncated photos make check fail");
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["decoded"], 2, "{report}");
    let bad = report["bad"].as_array().unwrap();
    assert_eq!(bad.len(), cuts.len(), "{report}");
    for (name, _) in cuts {
        let entry = bad
            .iter()
            .find(|b| b.to_string().contains(&format!("{name}.jpg")))
            .unwrap_or_else(|| panic!("{name} not reported: {report}"));
        assert!(entry.to_string().contains("truncated JPEG"), "{entry}");
    }
    let index = dir.path().join("index");
    let out = lookbook(&[
        "-q",
        "index",
        "--baseline",
        "histogram",
        "--catalog",
        root,
        "--out",
        index.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout(&out).contains("2 images (2 embedded now, 4 skipped)"),
        "{}",
        stdout(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    for (name, _) in cuts {
        assert!(
            stderr.contains(&format!("{name}.jpg")) && stderr.contains("truncated JPEG"),
            "{stderr}"
        );
    }
}
