//! EfficientNet-Lite0 embedding throughput, decode included: the first N photos of the H&M
//! catalogue's articles.csv, decoded and resized (bicubic 224×224) on loader threads ahead of
//! the model, batched, forward to the pooled 1280-d features — what
//! `benches/reference/efficientnet_lite0.py` measures in PyTorch on the same photos.
//!
//! `cargo bench -p lookbook-embed --bench pretrained -- [--catalog ../shared/data/hm]
//!  [--catalog DIR] [--images 512] [--threads 2] [--batch 32]`  (`scripts/bench-pretrained.sh` runs both sides)

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
    let embedder: Arc<dyn Embedder> =
        Arc::new(ImageNetEmbedder::new("efficientnet-lite0", None).expect("weights: run scripts/setup-weights.sh"));
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
