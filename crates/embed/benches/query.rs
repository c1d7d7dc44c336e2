//! Image in → top-10 out, one photo at a time: decode + preprocess, embed (batch of one),
//! and search an index folder, each timed per query; prints p50/p90 of each and the total.
//!
//! `cargo bench -p lookbook-embed --bench query -- --model runs/cpu --index runs/cpu/index
//!  [--photos ../shared/data/hm] [--n 200] [--threads 1]`
//! The search part of a 1M-item index is measured by `lookbook-index`'s `ann` bench
//! (`scripts/bench-index.sh` prints its p50); BENCHMARKS.md adds the two.

#[path = "../../../benches/support/allocator.rs"]
mod allocator;
#[path = "../../../benches/support/args.rs"]
mod args;

use args::BenchArgs;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use lookbook_embed::{Embedder, SeedEmbedder};
use lookbook_index::{IndexReader, SearchMode};

fn main() {
    allocator::keep_freed_pages();
    let args = BenchArgs::from_env();
    let value = |flag: &str| args.value(flag);
    let model = PathBuf::from(value("--model").expect("--model RUN"));
    let index = PathBuf::from(value("--index").expect("--index INDEX"));
    let photos = PathBuf::from(value("--photos").unwrap_or_else(|| "../shared/data/hm".into()));
    let n: usize = value("--n").and_then(|v| v.parse().ok()).unwrap_or(200);
    let threads: usize = value("--threads").and_then(|v| v.parse().ok()).unwrap_or(1);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .expect("one global pool");

    let t = Instant::now();
    let embedder: Arc<dyn Embedder> = Arc::new(SeedEmbedder::from_run(&model).expect("model"));
    let contents = IndexReader::open_mapped(&index).expect("index");
    println!(
        "query-latency model={} dim={} index_images={} graph={} threads={threads} load_s={:.2}",
        model.display(),
        embedder.dim(),
        contents.records.len(),
        contents.graph().is_some(),
        t.elapsed().as_secs_f64()
    );
    let images: Vec<PathBuf> = (0..contents.records.len())
        .step_by((contents.records.len() / n.max(1)).max(1))
        .take(n)
        .map(|row| photos.join(&contents.records.get(row).expect("a readable record").image))
        .collect();
    let (mut load, mut embed, mut search, mut total) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, image) in images.iter().enumerate() {
        let start = Instant::now();
        let mut item = vec![0.0f32; embedder.item_len()];
        if embedder.load_item(image, &mut item).is_err() {
            continue;
        }
        let loaded = Instant::now();
        let (vector, _) = embedder.embed_batch(&item, 1);
        let embedded = Instant::now();
        let hits = contents.search(&vector, 10, None, SearchMode::Auto).expect("search");
        let searched = Instant::now();
        assert_eq!(hits.len(), 10.min(contents.records.len()));
        // The first queries warm caches and the allocator; keep them out.
        if i >= 5 {
            load.push((loaded - start).as_secs_f64() * 1e3);
            embed.push((embedded - loaded).as_secs_f64() * 1e3);
            search.push((searched - embedded).as_secs_f64() * 1e3);
            total.push((searched - start).as_secs_f64() * 1e3);
        }
    }
    for (name, values) in [
        ("decode", &mut load),
        ("embed", &mut embed),
        ("search", &mut search),
        ("total", &mut total),
    ] {
        values.sort_by(f64::total_cmp);
        let at = |q: f64| values[((values.len() as f64 - 1.0) * q).round() as usize];
        println!(
            "query-latency part={name} queries={} p50_ms={:.2} p90_ms={:.2}",
            values.len(),
            at(0.5),
            at(0.9)
        );
    }
}
