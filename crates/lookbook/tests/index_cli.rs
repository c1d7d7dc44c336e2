//! `lookbook index` (resume after a kill, add, remove, verify, HNSW), `search --sheet`, `tag`
//! and `eval --protocol inshop | tag`, on a DeepFashion In-shop fixture in the official
//! layout, with the histogram baseline (no training needed, and its answers are known).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use image::{Rgb, RgbImage};

fn lookbook(args: &[&str]) -> Output {
    lookbook_env(args, &[])
}

fn lookbook_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lookbook"));
    command.args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// Four items, each photographed five times (two train, one query, two gallery):
/// id_1 and id_2 are red dresses, id_3 and id_4 blue shirts. Within a category the two
/// items share one colour and differ in a second one, so an item's nearest *other* item is
/// always the one of its own category.
const ITEMS: [(&str, &str, [u8; 3], [u8; 3]); 4] = [
    ("id_00000001", "Dresses", [250, 10, 10], [250, 10, 10]),
    ("id_00000002", "Dresses", [250, 10, 10], [250, 90, 10]),
    ("id_00000003", "Shirts", [10, 10, 250], [10, 10, 250]),
    ("id_00000004", "Shirts", [10, 10, 250], [10, 90, 250]),
];

fn inshop_fixture(root: &Path) {
    let mut rows = Vec::new();
    for (item, category, top, bottom) in ITEMS {
        let folder = format!("img/WOMEN/{category}/{item}");
        fs::create_dir_all(root.join("Img").join(&folder)).unwrap();
        for (n, status) in ["train", "train", "query", "gallery", "gallery"].iter().enumerate() {
            let name = format!("{folder}/{n:02}_front.png");
            RgbImage::from_fn(40, 60, |_, y| Rgb(if y < 30 { top } else { bottom }))
                .save(root.join("Img").join(&name))
                .unwrap();
            rows.push(format!("{name} {item} {status}"));
        }
    }
    fs::create_dir_all(root.join("Eval")).unwrap();
    let text = format!(
        "{}\nimage_name item_id evaluation_status\n{}\n",
        rows.len(),
        rows.join("\n")
    );
    fs::write(root.join("Eval/list_eval_partition.txt"), text).unwrap();
}

/// A temporary folder with the In-shop fixture in `inshop/` and room for `index/`.
fn fixture() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("inshop");
    inshop_fixture(&catalog);
    let index = dir.path().join("index");
    (dir, catalog, index)
}

/// `lookbook -q index --baseline histogram --catalog CATALOG --out INDEX EXTRA...`.
fn histogram_args(catalog: &Path, index: &Path, extra: &[&str]) -> Vec<String> {
    let base = ["-q", "index", "--baseline", "histogram", "--catalog"];
    let paths = [catalog.to_str().unwrap(), "--out", index.to_str().unwrap()];
    base.iter().chain(&paths).chain(extra).map(|a| a.to_string()).collect()
}

fn histogram_index(catalog: &Path, index: &Path, extra: &[&str]) -> Output {
    let args = histogram_args(catalog, index, extra);
    lookbook(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// `lookbook -q eval --catalog CAT --protocol inshop --ks 1,2 --json EXTRA...`.
fn inshop_eval(cat: &str, extra: &[&str]) -> Output {
    let base = [
        "-q",
        "eval",
        "--catalog",
        cat,
        "--protocol",
        "inshop",
        "--ks",
        "1,2",
        "--json",
    ];
    lookbook(&[&base[..], extra].concat())
}

#[test]
fn inshop_eval_and_knn_tagging_on_the_official_layout() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("inshop");
    inshop_fixture(&catalog);
    let cat = catalog.to_str().unwrap();
    let png = dir.path().join("inshop.png");
    let report = json(&inshop_eval(
        cat,
        &["--baseline", "histogram", "--png", png.to_str().unwrap()],
    ));
    // Queries: the four query photos; gallery: the eight gallery photos (train left out).
    assert_eq!(report["queries"], 4);
    assert_eq!(report["gallery"], 8);
    assert_eq!(report["images"], 12);
    assert_eq!(report["values"], serde_json::json!([1.0, 1.0]));
    let curve = image::open(&png).unwrap();
    assert_eq!((curve.width(), curve.height()), (800, 500));

    // kNN tagging of the query photos from the other splits, their own item left out.
    let report = json(&lookbook(&[
        "-q",
        "eval",
        "--baseline",
        "histogram",
        "--catalog",
        cat,
        "--protocol",
        "tag",
        "--split",
        "query",
        "--k",
        "2",
        "--json",
    ]));
    assert_eq!(
        (report["queries"].as_u64(), report["gallery"].as_u64()),
        (Some(4), Some(16))
    );
    let attributes = report["attributes"].as_array().unwrap();
    let category = attributes.iter().find(|a| a["attribute"] == "category").unwrap();
    assert_eq!(category["accuracy"], 1.0, "{category}");
    assert_eq!(category["majority"], "Dresses", "a tie, broken by value");
    assert_eq!(category["prior"], 0.5);
    let gender = attributes.iter().find(|a| a["attribute"] == "gender").unwrap();
    assert_eq!(
        (gender["accuracy"].as_f64(), gender["prior"].as_f64()),
        (Some(1.0), Some(1.0))
    );

    // `lookbook tag` on a new photo: a blue-shirt-like picture.
    let index = dir.path().join("index");
    let built = histogram_index(&catalog, &index, &[]);
    assert!(built.status.success(), "{}", stderr(&built));
    let photo = dir.path().join("new.png");
    RgbImage::from_fn(40, 60, |_, y| Rgb(if y < 30 { [10, 10, 250] } else { [10, 90, 250] }))
        .save(&photo)
        .unwrap();
    // The category values `lookbook tag QUERY -k K` gives.
    let category = |query: &str, k: &str| {
        let tags = json(&lookbook(&[
            "tag",
            "--index",
            index.to_str().unwrap(),
            query,
            "-k",
            k,
            "--json",
        ]));
        let found = tags
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["attribute"] == "category")
            .cloned();
        found.unwrap()["values"].clone()
    };
    // The 5 id_4 photos (identical), then the 5 id_3 photos: all Shirts.
    assert_eq!(
        category(photo.to_str().unwrap(), "10"),
        serde_json::json!([["Shirts", 1.0]])
    );
    // An indexed item is tagged from other items: id_1 from id_2 (Dresses), never itself.
    assert_eq!(category("id_00000001", "5"), serde_json::json!([["Dresses", 1.0]]));
    let text = lookbook(&["tag", "--index", index.to_str().unwrap(), photo.to_str().unwrap()]);
    assert!(stdout(&text).contains("Shirts 1.00"), "{}", stdout(&text));
}

/// `eval --catalog CAT --index IDX`: the index's vectors with the catalogue's splits give the
/// table embedding the catalogue gives; re-ranking runs on them; a catalogue the index was not
/// built from, and a protocol with no use for its vectors, are refused.
#[test]
fn an_index_evaluated_with_its_catalogue_matches_embedding_it_and_reranks() {
    let (dir, catalog, index) = fixture();
    let (cat, idx) = (catalog.to_str().unwrap(), index.to_str().unwrap());
    let built = histogram_index(&catalog, &index, &[]);
    assert!(built.status.success(), "{}", stderr(&built));
    let eval = |source: &[&str], extra: &[&str]| inshop_eval(cat, &[source, extra].concat());
    let embedded = json(&eval(&["--baseline", "histogram"], &[]));
    let indexed = json(&eval(&["--index", idx], &[]));
    for field in ["queries", "gallery", "images", "values", "skipped"] {
        assert_eq!(indexed[field], embedded[field], "{field}: {indexed} vs {embedded}");
    }
    assert!(indexed["model"].as_str().unwrap().contains("(index "), "{indexed}");
    // Re-ranked: the same queries and gallery; every query's own item is still first here.
    let reranked = json(&eval(&["--index", idx], &["--rerank", "3,2,0.3"]));
    assert_eq!(
        (reranked["queries"].as_u64(), reranked["gallery"].as_u64()),
        (Some(4), Some(8))
    );
    assert_eq!(reranked["values"], serde_json::json!([1.0, 1.0]));
    // Photos the index lacks are counted as skipped and named.
    let removed = lookbook(&["-q", "index", "remove", "--index", idx, "--item", "id_00000004"]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    let partial = eval(&["--index", idx], &[]);
    assert!(stderr(&partial).contains("not in the index"), "{}", stderr(&partial));
    let partial = json(&partial);
    assert_eq!(
        (partial["images"].as_u64(), partial["skipped"].as_u64()),
        (Some(9), Some(3))
    );
    // Another folder with the same files is not the index's catalogue.
    let elsewhere = dir.path().join("copy");
    copy_dir(&catalog, &elsewhere);
    let copy = elsewhere.to_str().unwrap();
    // Each refusal: its arguments after `eval`, and what its message must say.
    let refusals: [(&[&str], &str); 5] = [
        (
            &["--catalog", copy, "--index", idx, "--protocol", "inshop"],
            "was built from",
        ),
        (
            &["--index", idx, "--protocol", "product-code", "--gallery", "all"],
            "needs --catalog",
        ),
        (
            &["--catalog", cat, "--index", idx, "--protocol", "tag"],
            "--catalog and --index together are for",
        ),
        (
            &[
                "--catalog",
                cat,
                "--baseline",
                "histogram",
                "--protocol",
                "tag",
                "--rerank",
                "3,2,0.3",
            ],
            "--rerank apply to",
        ),
        (
            &[
                "--catalog",
                cat,
                "--index",
                idx,
                "--protocol",
                "inshop",
                "--rerank",
                "3,9,0.3",
            ],
            "at most K1 + 1",
        ),
    ];
    for (args, why) in refusals {
        let refused = lookbook(&[&["eval"], args].concat());
        assert_eq!(refused.status.code(), Some(2), "{args:?}: {}", stderr(&refused));
        assert!(stderr(&refused).contains(why), "{args:?}: {}", stderr(&refused));
    }
}

#[test]
fn a_killed_build_resumes_and_add_remove_verify_keep_the_index_whole() {
    let (_dir, catalog, index) = fixture();
    let idx = index.to_str().unwrap();
    // Chunks of 6 images, a commit after each: the process dies right after the first.
    let killed = lookbook_env(
        &[
            "-q",
            "index",
            "--baseline",
            "histogram",
            "--catalog",
            catalog.to_str().unwrap(),
            "--out",
            idx,
            "--chunk",
            "6",
            "--commit-every",
            "0",
        ],
        &[("LOOKBOOK_ABORT_AFTER_COMMIT", "1")],
    );
    assert!(!killed.status.success(), "the hook aborts the process");
    let verified = lookbook(&["index", "verify", "--index", idx]);
    assert!(verified.status.success(), "{}", stderr(&verified));
    assert!(stdout(&verified).contains(": ok — 6 images"), "{}", stdout(&verified));

    let resumed = histogram_index(&catalog, &index, &["--chunk", "6"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(
        stderr(&resumed).contains("6 images already indexed"),
        "{}",
        stderr(&resumed)
    );
    assert!(
        stdout(&resumed).contains("20 images (14 embedded now, 0 skipped)"),
        "{}",
        stdout(&resumed)
    );
    // Nothing left to do the second time.
    let again = histogram_index(&catalog, &index, &[]);
    assert!(
        stdout(&again).contains("20 images (0 embedded now"),
        "{}",
        stdout(&again)
    );

    // Remove one item and one image; search no longer finds them.
    let removed = lookbook(&["index", "remove", "--index", idx, "--item", "id_00000003"]);
    assert!(
        stdout(&removed).contains("5 images removed; 15 left"),
        "{}",
        stdout(&removed)
    );
    let one = catalog.join("Img/img/WOMEN/Shirts/id_00000004/00_front.png");
    let removed = lookbook(&["index", "remove", "--index", idx, "--image", one.to_str().unwrap()]);
    assert!(
        stdout(&removed).contains("1 images removed; 14 left"),
        "{}",
        stdout(&removed)
    );
    let hits = json(&lookbook(&[
        "search",
        "--index",
        idx,
        one.to_str().unwrap(),
        "-k",
        "20",
        "--json",
    ]));
    let hits = hits.as_array().unwrap();
    assert_eq!(hits.len(), 14);
    assert!(hits.iter().all(|h| h["item_id"] != "id_00000003"));
    assert!(
        hits.iter()
            .all(|h| !h["image"].as_str().unwrap().ends_with("id_00000004/00_front.png"))
    );
    // Add the one image back by path, then everything missing from the catalogue.
    let added = lookbook(&["-q", "index", "add", "--index", idx, one.to_str().unwrap()]);
    assert!(
        stdout(&added).contains("1 images embedded (1 new"),
        "{}",
        stdout(&added)
    );
    let added = lookbook(&["-q", "index", "add", "--index", idx]);
    assert!(
        stdout(&added).contains("5 images embedded (5 new, 0 skipped); 20 in all"),
        "{}",
        stdout(&added)
    );
    // A remove that matches nothing changes nothing; one with no criteria is refused.
    let nothing = lookbook(&["index", "remove", "--index", idx, "--filter", "category=Coats"]);
    assert!(stdout(&nothing).contains("0 images removed; 20 left"));
    let vague = lookbook(&["index", "remove", "--index", idx]);
    assert_eq!(vague.status.code(), Some(2));
    // A damaged file is caught by verify.
    let vectors = fs::read_dir(&index)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("vectors-"))
        .unwrap()
        .path();
    let mut bytes = fs::read(&vectors).unwrap();
    bytes[7] ^= 0x10;
    fs::write(&vectors, bytes).unwrap();
    let damaged = lookbook(&["index", "verify", "--index", idx]);
    assert_eq!(damaged.status.code(), Some(2));
    assert!(stderr(&damaged).contains("checksum"), "{}", stderr(&damaged));
}

#[test]
fn an_hnsw_index_answers_like_exact_search_and_draws_a_contact_sheet() {
    let (_dir, catalog, index) = fixture();
    let idx = index.to_str().unwrap();
    let built = histogram_index(&catalog, &index, &["--ann", "hnsw", "--quantization", "i8"]);
    assert!(built.status.success(), "{}", stderr(&built));
    assert!(stdout(&built).contains("HNSW M 16 ef 64 i8"), "{}", stdout(&built));
    let verified = lookbook(&["index", "verify", "--index", idx]);
    assert!(stdout(&verified).contains("HNSW M 16"), "{}", stdout(&verified));
    let query = catalog.join("Img/img/WOMEN/Dresses/id_00000002/02_front.png");
    let q = query.to_str().unwrap();
    let items = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["search", "--index", idx, q, "-k", "10", "--json"];
        args.extend_from_slice(extra);
        json(&lookbook(&args))
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["item_id"].as_str().unwrap().to_string())
            .collect()
    };
    let graph = items(&[]);
    let exact = items(&["--exact"]);
    assert_eq!(graph, exact);
    // Its own five photos, then id_1's five.
    assert!(graph[..5].iter().all(|i| i == "id_00000002") && graph[5..].iter().all(|i| i == "id_00000001"));
    // A filter through the graph.
    let shirts = items(&["--filter", "category=Shirts", "--ef", "16"]);
    assert_eq!(shirts.len(), 10);
    assert!(shirts.iter().all(|i| i == "id_00000003" || i == "id_00000004"));

    let sheet = index.with_file_name("sheet.png");
    let out = lookbook(&[
        "search",
        "--index",
        idx,
        q,
        "-k",
        "7",
        "--sheet",
        sheet.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let picture = image::open(&sheet).unwrap().to_rgb8();
    // The query and 7 results, 6 to a row: 2 rows of 160×240 cells with captions.
    assert_eq!((picture.width(), picture.height()), (6 * 168 + 8, 2 * 284 + 8));
    // The query's cell has a red frame; its photo (red top) shows inside it.
    assert_eq!(picture.get_pixel(8, 8).0, [200, 30, 30]);
    let inside = picture.get_pixel(8 + 80, 8 + 60).0;
    assert!(inside[0] > 200 && inside[2] < 60, "{inside:?}");
}

#[test]
fn an_ivf_index_answers_like_exact_search_and_takes_probes_per_query() {
    let (_dir, catalog, index) = fixture();
    let idx = index.to_str().unwrap();
    let built = histogram_index(&catalog, &index, &["--ann", "ivf", "--lists", "3", "--probes", "1"]);
    assert!(built.status.success(), "{}", stderr(&built));
    assert!(
        stdout(&built).contains("IVF 3 lists, 1 probes, i8"),
        "{}",
        stdout(&built)
    );
    let verified = lookbook(&["index", "verify", "--index", idx]);
    assert!(stdout(&verified).contains("IVF 3 lists"), "{}", stdout(&verified));
    let query = catalog.join("Img/img/WOMEN/Dresses/id_00000002/02_front.png");
    let q = query.to_str().unwrap();
    let items = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["search", "--index", idx, q, "-k", "10", "--json"];
        args.extend_from_slice(extra);
        json(&lookbook(&args))
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["item_id"].as_str().unwrap().to_string())
            .collect()
    };
    // Every list scanned: the exact answer.
    assert_eq!(items(&["--probes", "3"]), items(&["--exact"]));
    // One list and a filter its photos may not pass: the search widens until 10 do.
    let shirts = items(&["--filter", "category=Shirts"]);
    assert_eq!(shirts.len(), 10);
    assert!(shirts.iter().all(|i| i == "id_00000003" || i == "id_00000004"));
}

/// 960 generated photos in 120 folders (a folder is an item), each its own colours: enough
/// that a build with a commit every 8 images takes long enough to be killed in the middle.
fn folder_catalogue(root: &Path) {
    for item in 0..120u32 {
        let folder = root.join(format!("item{item:02}"));
        fs::create_dir_all(&folder).unwrap();
        for photo in 0..8u32 {
            let (a, b) = ((item * 2) as u8, (photo * 30) as u8);
            RgbImage::from_fn(48, 72, |x, y| Rgb([a, b, ((x + y) % 200) as u8]))
                .save(folder.join(format!("{photo}.png")))
                .unwrap();
        }
    }
}

/// Every row of the index in `dir` — key, item, vector — sorted by key.
fn rows_of(dir: &Path) -> Vec<(u64, String, Vec<f32>)> {
    let contents = lookbook_index::IndexReader::open_mapped(dir).unwrap();
    let mut rows: Vec<(u64, String, Vec<f32>)> = (0..contents.records.len())
        .map(|row| {
            let record = contents.records.get(row).unwrap();
            (record.key, record.item_id.clone(), contents.vector_of(row).to_vec())
        })
        .collect();
    rows.sort_by_key(|r| r.0);
    rows
}

/// Issue 21: `lookbook index` SIGKILLed at three (seeded) random moments and resumed gives
/// exactly the index of an uninterrupted build — same keys, items, vectors and eval table —
/// and after every kill the folder holds the last commit whole (`index verify`) or nothing.
#[test]
fn sigkilled_builds_resume_to_exactly_the_uninterrupted_index() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalogue");
    folder_catalogue(&catalog);
    let (reference, killed) = (dir.path().join("reference"), dir.path().join("killed"));
    let args = |out: &Path| histogram_args(&catalog, out, &["--chunk", "8", "--commit-every", "0"]);
    let whole = Command::new(env!("CARGO_BIN_EXE_lookbook"))
        .args(args(&reference))
        .output()
        .unwrap();
    assert!(whole.status.success(), "{}", stderr(&whole));

    // Each kill lands after a (seeded) random number of this run's commits plus a random few
    // milliseconds into the next chunk — by progress, not by time, so a loaded machine cannot
    // let the build finish first: at most 3 × 10 of the 120 commits happen before the last kill.
    let manifest = killed.join("manifest.json");
    let stamp = || fs::metadata(&manifest).and_then(|m| m.modified()).ok();
    let mut seed: u64 = 0x5eed_1dea;
    let mut next = |below: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % below
    };
    for _ in 0..3 {
        let (commits, delay_ms) = (1 + next(10), next(4));
        let mut child = Command::new(env!("CARGO_BIN_EXE_lookbook"))
            .args(args(&killed))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let (mut seen, mut last) = (0, stamp());
        while seen < commits {
            std::thread::sleep(std::time::Duration::from_micros(200));
            let now = stamp();
            if now != last {
                (seen, last) = (seen + 1, now);
            }
            assert!(child.try_wait().unwrap().is_none(), "the build ended before its kill");
        }
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL: no handler runs, no buffer is flushed
        assert!(!child.wait().unwrap().success());
        let verified = lookbook(&["index", "verify", "--index", killed.to_str().unwrap()]);
        assert!(
            verified.status.success(),
            "after a kill {commits} commits + {delay_ms} ms in: {}",
            stderr(&verified)
        );
    }
    let resumed = Command::new(env!("CARGO_BIN_EXE_lookbook"))
        .args(args(&killed))
        .output()
        .unwrap();
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let verified = lookbook(&["index", "verify", "--index", killed.to_str().unwrap()]);
    assert!(verified.status.success(), "{}", stderr(&verified));
    let (expected, got) = (rows_of(&reference), rows_of(&killed));
    assert_eq!(expected.len(), 960);
    assert_eq!(got, expected, "the resumed index is the uninterrupted one");
    let table = |index: &Path| {
        json(&lookbook(&[
            "eval",
            "--index",
            index.to_str().unwrap(),
            "--protocol",
            "product-code",
            "--json",
        ]))
    };
    let (a, b) = (table(&reference), table(&killed));
    assert_eq!(a["values"], b["values"]);
    assert_eq!(a["queries"], b["queries"]);
}

/// Copies the folder `from` to `to` (files and subfolders).
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        match entry.file_type().unwrap().is_dir() {
            true => copy_dir(&entry.path(), &target),
            false => {
                fs::copy(entry.path(), target).unwrap();
            }
        }
    }
}

/// Issue 21: `index add` SIGKILLed at (seeded) random moments — while embedding, writing its
/// files or swapping the manifest — leaves the old index or the new one, whole, never a mix.
#[test]
fn a_sigkilled_index_add_leaves_the_old_index_or_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalogue");
    folder_catalogue(&catalog);
    let base = dir.path().join("base");
    let built = histogram_index(&catalog, &base, &["--split", "train"]);
    assert!(built.status.success(), "{}", stderr(&built));
    let old = rows_of(&base);
    let add = |index: &Path| -> Vec<String> {
        ["-q", "index", "add", "--index", index.to_str().unwrap()]
            .map(String::from)
            .to_vec()
    };
    // The uninterrupted add, timed: the new index, and how long a kill has to land in.
    let whole = dir.path().join("whole");
    copy_dir(&base, &whole);
    let started = std::time::Instant::now();
    let added = Command::new(env!("CARGO_BIN_EXE_lookbook"))
        .args(add(&whole))
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", stderr(&added));
    let took = started.elapsed();
    let new = rows_of(&whole);
    assert_eq!(new.len(), 960);
    assert!(old.len() < 800, "the base holds the train split only");

    let mut seed: u64 = 0x0add_0c1d;
    let (mut kept_old, mut got_new) = (0, 0);
    for trial in 0..6 {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let fraction = 0.2 + 1.0 * ((seed >> 33) as f64 / (1u64 << 31) as f64);
        let index = dir.path().join(format!("trial{trial}"));
        copy_dir(&base, &index);
        let mut child = Command::new(env!("CARGO_BIN_EXE_lookbook"))
            .args(add(&index))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(took.mul_f64(fraction));
        child.kill().unwrap(); // SIGKILL (a no-op when it already finished)
        child.wait().unwrap();
        let verified = lookbook(&["index", "verify", "--index", index.to_str().unwrap()]);
        assert!(
            verified.status.success(),
            "trial {trial} at {fraction:.2}: {}",
            stderr(&verified)
        );
        let rows = rows_of(&index);
        match rows.len() {
            n if n == old.len() => {
                assert_eq!(rows, old, "trial {trial}: the old index, as it was");
                kept_old += 1;
            }
            _ => {
                assert_eq!(rows, new, "trial {trial}: the new index, whole");
                got_new += 1;
            }
        }
    }
    eprintln!("killed adds: {kept_old} left the old index, {got_new} the new one");
}
