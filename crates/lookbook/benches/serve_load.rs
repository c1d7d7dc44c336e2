//! Load on `lookbook serve`: C concurrent clients for S seconds against search by item id
//! (JSON), then against search by upload (multipart photos from the catalogue), without and
//! then with attention boxes, each phase on a freshly started server (its box cache cold); QPS, p50/p99 latency, errors, and the server's resident memory
//! before and after each phase. BENCHMARKS.md records its output.
//!
//! `cargo bench -p lookbook --bench serve_load -- --index runs/quick/index
//!  [--clients 32] [--seconds 30] [--k 10] [--photos 64]`  (scripts/bench-serve.sh)

#[path = "../../../benches/support/args.rs"]
mod args;
#[path = "../../../benches/support/load.rs"]
mod load;

use args::BenchArgs;
use load::{Phase, Served, load, percentile};

use std::path::PathBuf;

use reqwest::blocking::{Client, multipart};
use serde_json::{Value, json};

fn check(response: reqwest::Result<reqwest::blocking::Response>, k: usize) -> Result<(), String> {
    let response = response.map_err(|e| e.to_string())?;
    let status = response.status();
    let body: Value = response.json().map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {body}"));
    }
    match body["results"].as_array() {
        Some(results) if results.len() == k => Ok(()),
        _ => Err(format!("not {k} results: {body}")),
    }
}

fn main() {
    let args = BenchArgs::from_env();
    let value = |flag: &str| args.value(flag);
    let Some(index) = value("--index").map(PathBuf::from) else {
        eprintln!("usage: cargo bench -p lookbook --bench serve_load -- --index INDEX [--clients 32] [--seconds 30]");
        return;
    };
    let clients: usize = value("--clients").and_then(|v| v.parse().ok()).unwrap_or(32);
    let seconds: f64 = value("--seconds").and_then(|v| v.parse().ok()).unwrap_or(30.0);
    let k: usize = value("--k").and_then(|v| v.parse().ok()).unwrap_or(10);
    let n_photos: usize = value("--photos").and_then(|v| v.parse().ok()).unwrap_or(64);
    println!(
        "machine: {} cores, load {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
    );

    // Item ids and photos, read through the API of a first server.
    let (items, photos) = {
        let served = Served::start(&index, &[]);
        let client = Client::new();
        let mut items = Vec::new();
        let mut photos = Vec::new();
        let mut offset = 0;
        loop {
            let page: Value = client
                .get(format!("{}/api/items?offset={offset}&limit=500", served.url))
                .send()
                .and_then(|r| r.json())
                .expect("a page of items");
            let batch = page["items"].as_array().unwrap();
            if batch.is_empty() {
                break;
            }
            for item in batch {
                items.push(item["item_id"].as_str().unwrap().to_string());
            }
            offset += batch.len();
        }
        let step = (items.len() / n_photos.max(1)).max(1);
        for item in items.iter().step_by(step).take(n_photos) {
            let detail: Value = client
                .get(format!("{}/api/items/{item}", served.url))
                .send()
                .and_then(|r| r.json())
                .unwrap();
            let url = detail["images"][0]["url"].as_str().unwrap();
            photos.push(
                client
                    .get(format!("{}{url}", served.url))
                    .send()
                    .unwrap()
                    .bytes()
                    .unwrap()
                    .to_vec(),
            );
        }
        (items, photos)
    };
    let mean_photo = photos.iter().map(Vec::len).sum::<usize>() / photos.len().max(1);
    println!(
        "index {}: {} items; {} photos to upload ({} KiB on average); {clients} clients × {seconds} s per phase, k = {k}",
        index.display(),
        items.len(),
        photos.len(),
        mean_photo / 1024
    );
    println!("| phase | requests | errors | QPS | p50 ms | p99 ms | max ms | RSS before MiB | RSS after MiB |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let report = |name: &str, phase: &Phase, before: f64, after: f64| {
        println!(
            "| {name} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {before:.0} | {after:.0} |",
            phase.requests,
            phase.errors,
            (phase.requests - phase.errors) as f64 / phase.seconds,
            percentile(&phase.latencies_ms, 0.5),
            percentile(&phase.latencies_ms, 0.99),
            phase.latencies_ms.last().copied().unwrap_or(f64::NAN),
        );
        if let Some(error) = &phase.first_error {
            println!("  first error: {error}");
        }
    };

    for boxes in [false, true] {
        let label = if boxes { "with boxes" } else { "no boxes" };
        let served = Served::start(&index, &[]);
        let before = served.rss_mib();
        let by_id = load(clients, seconds, |client, i| {
            let item = &items[(i * 2_654_435_761) % items.len()];
            check(
                client
                    .post(format!("{}/api/search", served.url))
                    .json(&json!({"item_id": item, "k": k, "boxes": boxes}))
                    .send(),
                k,
            )
        });
        report(&format!("search by item id, {label}"), &by_id, before, served.rss_mib());
        drop(served);

        let served = Served::start(&index, &[]);
        let before = served.rss_mib();
        let by_upload = load(clients, seconds, |client, i| {
            let photo = photos[i % photos.len()].clone();
            let form = multipart::Form::new()
                .part("image", multipart::Part::bytes(photo).file_name("photo.jpg"))
                .text("k", k.to_string())
                .text("boxes", boxes.to_string());
            check(
                client.post(format!("{}/api/search", served.url)).multipart(form).send(),
                k,
            )
        });
        report(
            &format!("search by upload, {label}"),
            &by_upload,
            before,
            served.rss_mib(),
        );
    }
}
