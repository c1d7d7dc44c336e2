//! Soak of `lookbook serve` (issue 21): C clients for M minutes mixing what a shop front and
//! its back office send — search and recommend by item id with boxes, paging, item pages,
//! photo uploads, and (with the write token) items added and removed — on one server. Every
//! 30 s a row: requests, errors, QPS, p50/p99 and the server's resident memory; at the end the
//! totals and the memory at the end against the memory after warm-up ([`WARM_UP_MINUTES`])
//! and against the middle of the run (growth that goes on is what a leak looks like).
//!
//! `cargo bench -p lookbook --bench soak -- --index INDEX --token-file FILE [--clients 200]
//!  [--minutes 10] [--k 10]`  (scripts/soak.sh copies a catalogue and indexes it first: the
//!  server stores added photos in the index's catalogue folder)

#[path = "../../../benches/support/args.rs"]
mod args;
#[path = "../../../benches/support/load.rs"]
mod load;

use std::path::PathBuf;
use std::time::Instant;

use args::BenchArgs;

/// Warm-up: until every client has run its whole mix at full concurrency a few times (a
/// client's 50 requests take ~20 s at 200 clients here) and the server's working set — 200
/// connections, `inference_slots` concurrent forward passes, the allocator's pools — has met
/// its peak. Measured (docs/reliability.md): RSS rises for the first 1–2 minutes, then is flat
/// when nothing leaks. Shorter soaks use half the run.
const WARM_UP_MINUTES: f64 = 2.0;
use load::{Served, load, percentile};
use reqwest::blocking::{Client, RequestBuilder, multipart};
use serde_json::{Value, json};

/// Seconds per reported window.
const WINDOW: f64 = 30.0;

fn main() {
    let args = BenchArgs::from_env();
    let (Some(index), Some(token_file)) = (args.value("--index"), args.value("--token-file")) else {
        eprintln!(
            "usage: cargo bench -p lookbook --bench soak -- --index INDEX --token-file FILE [--clients 200] [--minutes 10]"
        );
        std::process::exit(2);
    };
    let clients: usize = args.number("--clients", 200);
    let minutes: f64 = args.number("--minutes", 10.0);
    let k: usize = args.number("--k", 10);
    let token = std::fs::read_to_string(&token_file).unwrap().trim().to_string();
    let served = Served::start(&PathBuf::from(&index), &["--write-token-file", &token_file]);
    let url = served.url.clone();
    let http = Client::new();

    // What the clients ask about: every item id, and a few photos to upload.
    let page: Value = http
        .get(format!("{url}/api/items?limit=500"))
        .send()
        .and_then(|r| r.json())
        .unwrap();
    let items: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item_id"].as_str().unwrap().to_string())
        .collect();
    let photos: Vec<Vec<u8>> = items
        .iter()
        .step_by((items.len() / 16).max(1))
        .map(|item| {
            let detail: Value = http
                .get(format!("{url}/api/items/{item}"))
                .send()
                .unwrap()
                .json()
                .unwrap();
            let image = detail["images"][0]["url"].as_str().unwrap();
            http.get(format!("{url}{image}"))
                .send()
                .unwrap()
                .bytes()
                .unwrap()
                .to_vec()
        })
        .collect();
    println!(
        "soak: {} items, {} photos to upload; {clients} clients × {minutes} min, k = {k}; server RSS {:.0} MiB at start",
        items.len(),
        photos.len(),
        served.rss_mib()
    );
    println!("| minute | requests | errors | QPS | p50 ms | p99 ms | RSS MiB |");
    println!("|---|---|---|---|---|---|---|");

    let started = Instant::now();
    let (mut requests, mut errors, mut latencies) = (0, 0, Vec::new());
    let mut first_error = None;
    let mut rss = Vec::new();
    while started.elapsed().as_secs_f64() < minutes * 60.0 {
        let window = load(clients, WINDOW, |client, i| {
            request(client, &url, &token, &items, &photos, k, i)
        });
        let qps = (window.requests - window.errors) as f64 / window.seconds;
        rss.push((started.elapsed().as_secs_f64() / 60.0, served.rss_mib()));
        println!(
            "| {:.1} | {} | {} | {qps:.1} | {:.1} | {:.1} | {:.0} |",
            started.elapsed().as_secs_f64() / 60.0,
            window.requests,
            window.errors,
            percentile(&window.latencies_ms, 0.5),
            percentile(&window.latencies_ms, 0.99),
            rss.last().unwrap().1
        );
        requests += window.requests;
        errors += window.errors;
        latencies.extend(window.latencies_ms);
        first_error = first_error.or(window.first_error);
    }
    latencies.sort_by(f64::total_cmp);
    // RSS after the last window that ended within warm-up, and at the middle and the end.
    let warm_up = WARM_UP_MINUTES.min(minutes / 2.0);
    let at = |minute: f64| rss.iter().rev().find(|(m, _)| *m <= minute).unwrap_or(&rss[0]).1;
    let (first, warm, middle, end) = (rss[0].1, at(warm_up), at(minutes / 2.0), rss.last().unwrap().1);
    println!(
        "total: {requests} requests, {errors} errors, p50 {:.1} ms, p99 {:.1} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
    );
    println!(
        "RSS: {first:.0} MiB after the first window, {warm:.0} after warm-up ({warm_up:.1} min), {middle:.0} at the middle, {end:.0} at the end: end / after warm-up {:.2}×, end / middle {:.2}×",
        end / warm,
        end / middle
    );
    if let Some(error) = first_error {
        println!("first error: {error}");
    }
}

/// The `i`-th request of a client: per 50, 20 searches and 8 recommendations by item id (boxes
/// on), 8 pages of items, 6 item pages, 6 uploads, 1 item added (its photo made unique by
/// trailing bytes, which decoders ignore) and 1 removed.
fn request(
    client: &Client,
    url: &str,
    token: &str,
    items: &[String],
    photos: &[Vec<u8>],
    k: usize,
    i: usize,
) -> Result<(), String> {
    let item = &items[(i * 2_654_435_761) % items.len()];
    let added = |n: usize| format!("soak-{}", n / 50);
    let bearer = |request: RequestBuilder| request.header("Authorization", format!("Bearer {token}"));
    let (request, want) = match i % 50 {
        0..20 => (
            client
                .post(format!("{url}/api/search"))
                .json(&json!({"item_id": item, "k": k})),
            200,
        ),
        20..28 => (
            client
                .post(format!("{url}/api/recommend"))
                .json(&json!({"item_id": item, "k": k, "diversity": 0.5})),
            200,
        ),
        28..36 => (
            client.get(format!("{url}/api/items?offset={}&limit=48", i % items.len())),
            200,
        ),
        36..42 => (client.get(format!("{url}/api/items/{item}")), 200),
        42..48 => {
            let photo = photos[i % photos.len()].clone();
            let form = multipart::Form::new()
                .part("image", multipart::Part::bytes(photo).file_name("photo.jpg"))
                .text("k", k.to_string());
            (client.post(format!("{url}/api/search")).multipart(form), 200)
        }
        48 => (
            bearer(client.post(format!("{url}/api/items"))).multipart(add_form(i, photos)),
            201,
        ),
        // The item the previous request added goes. Its add may have been the last request of
        // the previous window (a 404 here would then say nothing), so it is sent again first:
        // the same photo under the same item replaces itself.
        _ => {
            send(
                bearer(client.post(format!("{url}/api/items"))).multipart(add_form(i - 1, photos)),
                201,
            )?;
            (bearer(client.delete(format!("{url}/api/items/{}", added(i)))), 200)
        }
    };
    send(request, want)
}

/// Request `i`'s photo to add, made unique to it by trailing bytes, under item `soak-{i / 50}`.
fn add_form(i: usize, photos: &[Vec<u8>]) -> multipart::Form {
    let mut photo = photos[i % photos.len()].clone();
    photo.extend_from_slice(format!("soak {i}").as_bytes());
    multipart::Form::new()
        .part("image", multipart::Part::bytes(photo).file_name("photo.jpg"))
        .text("item_id", format!("soak-{}", i / 50))
}

/// Sends `request`: an error unless it answers `want`.
fn send(request: RequestBuilder, want: u16) -> Result<(), String> {
    let response = request.send().map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response.bytes().map_err(|e| e.to_string())?;
    match status == want {
        true => Ok(()),
        false => Err(format!("{status} (wanted {want}): {}", String::from_utf8_lossy(&body))),
    }
}
