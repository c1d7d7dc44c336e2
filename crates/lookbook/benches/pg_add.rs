//! `lookbook index add` of P catalogue photos into PostgreSQL tables of different sizes (issue 22:
//! an add into a table costs the photos, not the table). For each N: a table of N synthetic
//! rows shaped as the histogram baseline's (so `index add` embeds real photos into it), with
//! its HNSW index; the add of the same P photos of the catalogue, timed as a user runs it
//! (the release binary); then those rows removed again, so the table is reused by the next run.
//!
//! `LOOKBOOK_PG_URL=postgres://... cargo bench -p lookbook --bench pg_add -- \
//!  [--n 20000,1000000] [--photos 1000] [--catalog ../shared/data/hm]`  (scripts/bench-pg-add.sh)

#[path = "../../../benches/support/args.rs"]
mod args;
#[path = "../../../benches/support/rows.rs"]
mod rows;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use args::BenchArgs;
use lookbook_embed::{Embedder, HistogramEmbedder};
use lookbook_index::{IndexInfo, Metric, Record, VectorIndex};
use lookbook_indexer::image_key;
use lookbook_pgvector::{PgIndex, PgLocation};
use lookbook_query::HISTOGRAM_MODEL;
use rows::{hnsw, synthetic_rows};

fn main() {
    let args = BenchArgs::from_env();
    let sizes: Vec<usize> = args
        .value("--n")
        .unwrap_or_else(|| "20000,1000000".into())
        .split(',')
        .map(|v| v.parse().expect("sizes"))
        .collect();
    let photos_n: usize = args.number("--photos", 1000);
    let catalog = PathBuf::from(args.value("--catalog").unwrap_or_else(|| "../shared/data/hm".into()))
        .canonicalize()
        .expect("the catalogue folder");
    let Ok(url) = std::env::var("LOOKBOOK_PG_URL") else {
        eprintln!("LOOKBOOK_PG_URL is not set: `eval $(scripts/postgres.sh start)` first");
        std::process::exit(2);
    };
    let binary = std::env::var("LOOKBOOK_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_lookbook").into());

    // The first P photos of the catalogue, in path order.
    let mut photos: Vec<PathBuf> = std::fs::read_dir(catalog.join("images"))
        .expect("images/")
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    photos.sort();
    photos.truncate(photos_n);
    let keys: Vec<u64> = photos
        .iter()
        .map(|p| image_key(p.strip_prefix(&catalog).unwrap()))
        .collect();

    let embedder = HistogramEmbedder::new();
    let (dim, (parts, part_dim)) = (embedder.dim(), embedder.parts());
    println!(
        "machine: {} cores, load {}; tables of {sizes:?} synthetic rows ({dim}-d, {parts} parts × {part_dim}, HNSW M 16 \
         ef_construction 64), `lookbook index add` of {} photos of {}",
        std::thread::available_parallelism().map_or(0, |p| p.get()),
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        photos.len(),
        catalog.display()
    );
    println!("| table rows | add: seconds | photos/s | rows after |");
    println!("|---|---|---|---|");
    for &n in &sizes {
        let separator = if url.contains('?') { '&' } else { '?' };
        let table_url = format!("{url}{separator}table=add_{n}");
        let location: PgLocation = table_url.parse().expect("location");
        if !PgIndex::open(&location).is_ok_and(|index| index.len() == n) {
            let info = IndexInfo {
                dim,
                metric: Metric::Euclidean,
                parts,
                part_dim,
                label_part: false,
                model: HISTOGRAM_MODEL.into(),
                catalog_root: catalog.clone(),
                columns: Vec::new(),
                ann: Some(hnsw(64)),
                ivf: None,
            };
            let contents = synthetic_rows(info, n, |i| Record {
                key: u64::MAX - i as u64,
                item_id: format!("synthetic{i}"),
                image: PathBuf::from(format!("synthetic/{i}.jpg")),
                attributes: BTreeMap::new(),
                boxes: None,
            });
            let t = Instant::now();
            PgIndex::replace(&location, &contents).expect("bulk load");
            println!("  (table of {n} built in {:.1} s)", t.elapsed().as_secs_f64());
        }
        let t = Instant::now();
        let output = Command::new(&binary)
            .args(["-q", "index", "add", "--index", &table_url])
            .args(&photos)
            .output()
            .expect("lookbook runs");
        let seconds = t.elapsed().as_secs_f64();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let index = PgIndex::open(&location).unwrap();
        println!(
            "| {n} | {seconds:.2} | {:.0} | {} |",
            photos.len() as f64 / seconds,
            index.len()
        );
        // Back to N rows for the next run.
        index.remove_keys(&keys).unwrap();
    }
}
