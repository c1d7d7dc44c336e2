//! The on-disk index at scale: commit, open (read + verify), open mapped, and verify, for
//! `--n` synthetic records (item id, image path, four attributes) with `--dim` vectors.
//!
//! `cargo bench -p lookbook-index --bench store -- [--n 1000000] [--dim 256]`
//! (no graph: `ann` measures opening a saved graph; the manifest adds one file).

#[path = "../../../benches/support/args.rs"]
mod args;

use args::BenchArgs;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use lookbook_index::synthetic::Clusters;
use lookbook_index::{IndexContents, IndexInfo, IndexReader, IndexWriter, Metric, Record, SearchMode};

fn main() {
    let args = BenchArgs::from_env();
    let value = |flag: &str| args.value(flag);
    let n: usize = value("--n").and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let dim: usize = value("--dim").and_then(|v| v.parse().ok()).unwrap_or(256);
    let vectors = Clusters::new(dim, 1_000).sample(n, 0, 1);
    let info = IndexInfo {
        dim,
        metric: Metric::Euclidean,
        parts: 0,
        part_dim: 0,
        label_part: false,
        model: "synthetic".into(),
        catalog_root: PathBuf::from("/catalogue"),
        columns: vec![
            "product_type_name".into(),
            "colour_group_name".into(),
            "section_name".into(),
            "garment_group_name".into(),
        ],
        ann: None,
        ivf: None,
    };
    let colours = ["Black", "White", "Dark Blue", "Light Pink", "Greenish Khaki"];
    let types = ["Trousers", "Dress", "Sweater", "T-shirt", "Bra", "Skirt", "Blouse"];
    let mut contents = IndexContents::new(info);
    for (row, vector) in vectors.chunks_exact(dim).enumerate() {
        let attributes = BTreeMap::from([
            ("product_type_name".to_string(), types[row % types.len()].to_string()),
            (
                "colour_group_name".to_string(),
                colours[row % colours.len()].to_string(),
            ),
            ("section_name".to_string(), "Womens Everyday Collection".to_string()),
            ("garment_group_name".to_string(), "Jersey Fancy".to_string()),
        ]);
        let article = 100_000_000 + row as u64;
        let record = Record {
            key: row as u64,
            item_id: format!("{}", article / 10),
            image: PathBuf::from(format!("images/0{}/0{article}.jpg", article / 10_000_000)),
            attributes,
            boxes: None,
        };
        contents.upsert(record, vector, &[]).expect("finite");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let t = Instant::now();
    IndexWriter::new(dir.path())
        .expect("writer")
        .commit(&mut contents)
        .expect("commit");
    let bytes: u64 = std::fs::read_dir(dir.path())
        .expect("listing")
        .flatten()
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum();
    println!(
        "store n={n} dim={dim} commit_s={:.2} size_mib={:.0}",
        t.elapsed().as_secs_f64(),
        bytes as f64 / 1048576.0
    );
    drop(contents);
    // Opening twice more: the first open after the commit can find pages still being written back.
    for round in 0..2 {
        let t = Instant::now();
        let opened = IndexReader::open_mapped(dir.path()).expect("open");
        let open_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let found = opened.row_of(n as u64 / 2);
        println!(
            "store n={n} open=mapped round={round} open_s={open_s:.3} first_lookup_s={:.3} found={}",
            t.elapsed().as_secs_f64(),
            found.is_some()
        );
    }
    for mapped in [true, false] {
        let t = Instant::now();
        let opened = match mapped {
            true => IndexReader::open_mapped(dir.path()),
            false => IndexReader::open(dir.path()),
        }
        .expect("open");
        let open_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let hits = opened
            .search(&vectors[..dim], 10, None, SearchMode::Exact)
            .expect("search");
        assert_eq!(hits[0].key, 0);
        println!(
            "store n={n} open={} open_s={open_s:.3} first_exact_search_s={:.2}",
            if mapped { "mapped" } else { "read+checksums" },
            t.elapsed().as_secs_f64()
        );
    }
    let t = Instant::now();
    IndexReader::verify(dir.path()).expect("verify");
    println!("store n={n} verify_s={:.3}", t.elapsed().as_secs_f64());
}
