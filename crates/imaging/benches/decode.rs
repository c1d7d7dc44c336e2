//! Decode + letterbox + normalise throughput on real catalogue photos.
//!
//! `cargo bench -p lookbook-imaging --bench decode -- [DATA_DIR] [N]`
//! (defaults: `../shared/data/hm`, 2000 images). Prints one line per size and thread
//! count; `scripts/bench-decode.sh` runs it beside `benches/reference/pillow_decode.py`
//! on the same files and prints the ratios.

use std::path::{Path, PathBuf};
use std::time::Instant;

use lookbook_imaging::{BatchLoader, ImageSpec, LoaderOptions, Preprocessor};

// The same allocator as the `lookbook` binary, so this measures what users run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let root = args.first().map_or_else(default_data, PathBuf::from);
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let images = list_images(&root.join("images"), n);
    if images.is_empty() {
        eprintln!("no images under {}; pass the catalogue folder", root.display());
        std::process::exit(2);
    }
    // Warm the page cache so both this and the Pillow run read from memory.
    for p in &images {
        let _ = std::fs::read(p);
    }
    for (h, w) in [(384, 256), (192, 128), (96, 64)] {
        for threads in [1, 2] {
            let pre = Preprocessor::new(ImageSpec::with_size(h, w)).expect("valid spec");
            let options = LoaderOptions {
                batch_size: 32,
                prefetch: 2,
                threads,
            };
            let start = Instant::now();
            let mut loaded = 0;
            let mut loader = BatchLoader::from_paths(images.clone(), pre, options).expect("loader starts");
            while let Some(batch) = loader.next() {
                assert!(
                    batch.failures.is_empty(),
                    "bad image in benchmark set: {:?}",
                    batch.failures
                );
                loaded += batch.len();
                loader.recycle(batch);
            }
            let secs = start.elapsed().as_secs_f64();
            println!(
                "lookbook size={h}x{w} threads={threads} images={loaded} seconds={secs:.3} img_per_s={:.1}",
                loaded as f64 / secs
            );
        }
    }
}

fn default_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/hm")
}

/// The first `n` images by sorted path (the Pillow script picks the same ones).
fn list_images(dir: &Path, n: usize) -> Vec<PathBuf> {
    let mut all = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "jpg") {
                all.push(p);
            }
        }
    }
    all.sort();
    all.truncate(n);
    all
}
