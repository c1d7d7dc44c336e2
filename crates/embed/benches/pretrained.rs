//! EfficientNet-Lite0 embedding throughput, decode included: the first N photos of the H&M
//! catalogue's articles.csv, decoded and resized (bicubic 224×224) on loader threads ahead of
//! the model, batched, forward to the pooled 1280-d features — what
//! `benches/reference/efficientnet_lite0.py` measures in PyTorch on the same photos.
//!
//! `cargo bench -p lookbook-embed --bench pretrained -- [--catalog ../shared/data/hm]
//!  [--catalog DIR] [--images 512] [--threads 2] [--batch 32]`  (`scripts/bench-pretrained.sh` runs both sides)
//!
//! `--model-only [--rounds 3]`: the photos are decoded first, then only the network is timed,
//! lookbook's kernels (`LiteCpu`, what embedding runs) and burn's ops on the same batches,
//! alternating, one line per side and round (`--side lookbook|burn`: one side only, e.g. under perf).

#[path = "../../../benches/support/allocator.rs"]
mod allocator;
#[path = "../../../benches/support/args.rs"]
mod args;

use args::BenchArgs;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use lookbook_catalog::{Catalog, OpenOptions};
use lookbook_embed::{Embedder, ImageNetEmbedder, embed_images};
use lookbook_imaging::LoaderOptions;

fn main() {
    allocator::keep_freed_pages();
    let args = BenchArgs::from_env();
    let value = |flag: &str| args.value(flag);
    // cargo runs benches in the crate's folder: the default is the shared data beside the repository.
    let catalog_dir = value("--catalog")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/hm"));
    let images: usize = value("--images").and_then(|v| v.parse().ok()).unwrap_or(512);
    let threads: usize = value("--threads").and_then(|v| v.parse().ok()).unwrap_or(2);
    let batch: usize = value("--batch").and_then(|v| v.parse().ok()).unwrap_or(32);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .expect("one global pool");
    let catalog = Catalog::open(&catalog_dir, &OpenOptions::default()).expect("the catalogue opens");
    let order: Vec<usize> = (0..catalog.entries.len().min(images)).collect();
    let network = ImageNetEmbedder::new("efficientnet-lite0", None).expect("weights: run scripts/setup-weights.sh");
    if args.has("--model-only") {
        let sides: &[&str] = match args.value("--side").as_deref() {
            Some("lookbook") => &["lookbook"],
            Some("burn") => &["burn"],
            _ => &["lookbook", "burn"],
        };
        return model_only(
            &network,
            &catalog,
            &order,
            (batch, threads),
            args.number("--rounds", 3),
            sides,
        );
    }
    let embedder: Arc<dyn Embedder> = Arc::new(network);
    let options = LoaderOptions {
        batch_size: batch,
        threads,
        ..LoaderOptions::default()
    };
    let start = Instant::now();
    let embedded = embed_images(embedder, &catalog, order, options, |_| {}).expect("embedding runs");
    let seconds = start.elapsed().as_secs_f64();
    let count = embedded.entries.len();
    println!(
        "efficientnet-lite0 side=lookbook threads={threads} images={count} img_per_s={:.1}",
        count as f64 / seconds
    );
}

/// Decodes the photos once, then times the network alone: our kernels and burn's ops,
/// alternating, on the same batches.
fn model_only(
    network: &ImageNetEmbedder,
    catalog: &Catalog,
    order: &[usize],
    (batch, threads): (usize, usize),
    rounds: usize,
    sides: &[&str],
) {
    let len = network.item_len();
    let mut batches: Vec<(Vec<f32>, usize)> = Vec::new();
    let mut items = Vec::new();
    let mut n = 0;
    for &entry in order {
        let mut item = vec![0.0f32; len];
        if network
            .load_item(&catalog.image_path(&catalog.entries[entry]), &mut item)
            .is_err()
        {
            continue;
        }
        items.extend(item);
        n += 1;
        if n == batch {
            batches.push((std::mem::take(&mut items), n));
            n = 0;
        }
    }
    if n > 0 {
        batches.push((items, n));
    }
    let count: usize = batches.iter().map(|(_, n)| n).sum();
    // One untimed batch each: first-touch of buffers and weights.
    let (warm, warm_n) = batches[0].clone();
    network.pooled(&warm, warm_n);
    network.pooled_burn(&warm, warm_n);
    for round in 1..=rounds {
        for &side in sides {
            let start = Instant::now();
            for (items, n) in &batches {
                // (burn's side copies the batch into its tensor: ~2 ms of ~250 per batch)
                let pooled = if side == "lookbook" {
                    network.pooled(items, *n)
                } else {
                    network.pooled_burn(items, *n)
                };
                std::hint::black_box(pooled.into_data());
            }
            let seconds = start.elapsed().as_secs_f64();
            println!(
                "efficientnet-lite0 model-only side={side} round={round} threads={threads} batch={batch} images={count} img_per_s={:.1}",
                count as f64 / seconds
            );
        }
    }
}
