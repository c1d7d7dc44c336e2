//! `lookbook serve` on a PostgreSQL table against the same rows as an index folder (issue 22):
//! N synthetic clustered vectors (256-d by default; optional parts), loaded once into a table
//! and written as a folder; then for each: the server's open time (start to listening), its
//! resident memory when open and after the queries, search-by-item-id QPS and latency at 1 and
//! 8 clients, and recall@10 of its answers against exact search.
//!
//! `LOOKBOOK_PG_URL=postgres://... cargo bench -p lookbook --bench serve_table -- \
//!  [--n 1000000] [--dim 256] [--parts 0] [--part-dim 32] [--ef 64] [--seconds 20] [--queries 500]`
//! (scripts/bench-serve-table.sh). A table of the same N and shape is reused (`--fresh`
//! rebuilds it); the folder is rebuilt each run in target/.

#[path = "../../../benches/support/args.rs"]
mod args;
#[path = "../../../benches/support/load.rs"]
mod load;
#[path = "../../../benches/support/rows.rs"]
mod rows;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use args::BenchArgs;
use load::{Served, load, percentile};
use lookbook_index::{ExactIndex, IndexInfo, Metric, Record, VectorIndex};
use lookbook_pgvector::{IndexLocation, PgIndex, PgLocation};
use reqwest::blocking::Client;
use rows::{hnsw, synthetic_rows};
use serde_json::{Value, json};

const COLOURS: [&str; 5] = ["black", "blue", "red", "white", "green"];

/// The answer's item ids, or why there are not `k`.
fn search(client: &Client, url: &str, item: &str, k: usize) -> Result<Vec<String>, String> {
    let response = client
        .post(format!("{url}/api/search"))
        .json(&json!({"item_id": item, "k": k, "boxes": false}))
        .send()
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body: Value = response.json().map_err(|e| e.to_string())?;
    match body["results"].as_array() {
        Some(results) if status.is_success() && results.len() == k => Ok(results
            .iter()
            .map(|r| r["item_id"].as_str().unwrap_or_default().to_string())
            .collect()),
        _ => Err(format!("{status}: {body}")),
    }
}

fn main() {
    let args = BenchArgs::from_env();
    let number = |flag: &str, default: usize| args.number(flag, default);
    let (n, dim, parts, part_dim) = (
        number("--n", 1_000_000),
        number("--dim", 256),
        number("--parts", 0),
        number("--part-dim", 32),
    );
    let (ef, queries_n) = (number("--ef", 64), number("--queries", 500));
    let seconds: f64 = args.number("--seconds", 20.0);
    let Ok(url) = std::env::var("LOOKBOOK_PG_URL") else {
        eprintln!("LOOKBOOK_PG_URL is not set: `eval $(scripts/postgres.sh start)` first");
        std::process::exit(2);
    };
    let separator = if url.contains('?') { '&' } else { '?' };
    let table_url = format!("{url}{separator}table=serve_{n}_{dim}_{parts}x{part_dim}");
    let location: PgLocation = table_url.parse().expect("location");
    println!(
        "machine: {} cores, load {}; {n} × {dim} clustered vectors, {parts} parts × {part_dim}, HNSW M 16 ef_construction 64, ef_search {ef}",
        std::thread::available_parallelism().map_or(0, |p| p.get()),
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
    );

    let info = IndexInfo {
        dim,
        metric: Metric::Euclidean,
        parts,
        part_dim: if parts > 0 { part_dim } else { 0 },
        label_part: false,
        model: "none".into(),
        catalog_root: "/nowhere".into(),
        columns: vec!["colour".into()],
        ann: Some(hnsw(ef)),
        ivf: None,
    };
    let mut contents = synthetic_rows(info, n, |i| Record {
        key: i as u64 * 7 + 3,
        item_id: format!("i{i}"),
        image: PathBuf::from(format!("img/{i}.jpg")),
        attributes: BTreeMap::from([("colour".to_string(), COLOURS[i % 5].to_string())]),
        boxes: None,
    });
    let vectors = contents.vectors.to_vec();

    // The queries: items spread over the table; truth: their 10 nearest other images.
    let stride = (n / queries_n.max(1)).max(1);
    let query_rows: Vec<usize> = (0..n).step_by(stride).take(queries_n).collect();
    let t = Instant::now();
    let mut exact = ExactIndex::new(dim, Metric::Euclidean);
    for (i, v) in vectors.chunks_exact(dim).enumerate() {
        exact.add(i as u64, v).unwrap();
    }
    let query_vectors: Vec<f32> = query_rows
        .iter()
        .flat_map(|&r| vectors[r * dim..][..dim].to_vec())
        .collect();
    let truth: Vec<Vec<String>> = exact
        .search_batch(&query_vectors, 11, None)
        .unwrap()
        .into_iter()
        .zip(&query_rows)
        .map(|(hits, &row)| {
            hits.into_iter()
                .filter(|h| h.key != row as u64)
                .take(10)
                .map(|h| format!("i{}", h.key))
                .collect()
        })
        .collect();
    drop(exact);
    println!("ground truth (exact): {:.1} s", t.elapsed().as_secs_f64());

    let loaded = PgIndex::open(&location).is_ok_and(|index| lookbook_index::Gallery::image_count(&index) == n);
    if args.has("--fresh") || !loaded {
        let t = Instant::now();
        let (_, stats) = PgIndex::replace(&location, &contents).expect("bulk load");
        println!(
            "table: COPY {:.1} s, HNSW {:.1} s, total {:.1} s",
            stats.copy_seconds,
            stats.index_seconds,
            t.elapsed().as_secs_f64()
        );
    } else {
        println!("table: reused ({n} rows)");
    }
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("serve_table_{n}"));
    let _ = std::fs::remove_dir_all(&folder);
    let t = Instant::now();
    IndexLocation::Folder(folder.clone())
        .commit(&mut contents)
        .expect("folder commit");
    println!("folder: written with its graph in {:.1} s", t.elapsed().as_secs_f64());
    drop(contents);
    drop(vectors);

    println!(
        "| index | open s | RSS open MiB | clients | QPS | p50 ms | p99 ms | errors | RSS after MiB | recall@10 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (name, index) in [("table", table_url.as_str()), ("folder", folder.to_str().unwrap())] {
        let t = Instant::now();
        let served = Served::start(Path::new(index), &["--follow-every", "0"]);
        let open = t.elapsed().as_secs_f64();
        let rss_open = served.rss_mib();
        let client = Client::new();
        let recall = {
            let mut found = 0usize;
            for (row, want) in query_rows.iter().zip(&truth) {
                let got = search(&client, &served.url, &format!("i{row}"), 10).unwrap_or_default();
                found += got.iter().filter(|g| want.contains(g)).count();
            }
            found as f64 / (10 * query_rows.len()).max(1) as f64
        };
        let mut served_queries = 0;
        for clients in [1, 8] {
            let phase = load(clients, seconds, |client, i| {
                search(client, &served.url, &format!("i{}", (i * 7919) % n), 10).map(drop)
            });
            served_queries += phase.requests;
            let lat = &phase.latencies_ms;
            println!(
                "| {name} | {open:.2} | {rss_open:.0} | {clients} | {:.0} | {:.2} | {:.2} | {} | {:.0} | {recall:.3} |",
                phase.requests as f64 / phase.seconds,
                percentile(lat, 0.5),
                percentile(lat, 0.99),
                phase.errors,
                served.rss_mib(),
            );
            if let Some(error) = phase.first_error {
                println!("  first error: {error}");
            }
        }
        println!("  {name}: {served_queries} queries served");
    }
}
