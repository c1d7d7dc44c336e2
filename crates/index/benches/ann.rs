//! HNSW (usearch), IVF and exact search on clustered synthetic vectors: build rate, size,
//! memory, open time, recall@10 and single-thread QPS across ef / probes; exact batched search.
//!
//! `cargo bench -p lookbook-index --bench ann -- [--n 1000000] [--dim 256] [--clusters 1000]
//!  [--queries 1000] [--m 16] [--efc 64] [--efs 16,32,64,128,256] [--quantization f32,i8]
//!  [--ivf-quantization f32,i8] [--lists 0] [--probes 2,4,8,16,32] [--batch 1000]
//!  [--exact-n 100000] [--build-threads 2] [--metric euclidean|cosine]`
//! An empty `--quantization` or `--ivf-quantization` (`none`) skips that engine.
//! The data: `lookbook_index::synthetic::Clusters` (unit vectors around `clusters` centres,
//! varying along 32 directions each). Ground truth: `ExactIndex` over the same vectors.
//! `scripts/bench-index.sh` runs the configurations BENCHMARKS.md reports.

#[path = "../../../benches/support/args.rs"]
mod args;

use args::BenchArgs;

use std::time::Instant;

use lookbook_index::synthetic::Clusters;
use lookbook_index::{ExactIndex, Hit, HnswConfig, HnswIndex, IvfConfig, IvfIndex, Metric, Quantization, VectorIndex};

fn main() {
    let args = BenchArgs::from_env();
    let value = |flag: &str| args.value(flag);
    let number = |flag: &str, default: usize| args.number(flag, default);
    let n = number("--n", 1_000_000);
    let dim = number("--dim", 256);
    let clusters = number("--clusters", 1_000);
    let queries_n = number("--queries", 1_000);
    let m = number("--m", 16);
    let efc = number("--efc", 64);
    let exact_n = number("--exact-n", 100_000);
    let build_threads = number("--build-threads", 2);
    let efs: Vec<usize> = value("--efs")
        .unwrap_or_else(|| "16,32,64,128,256".into())
        .split(',')
        .map(|e| e.parse().expect("--efs takes numbers"))
        .collect();
    let quantizations_of = |flag: &str| -> Vec<Quantization> {
        value(flag)
            .unwrap_or_else(|| "f32,i8".into())
            .split(',')
            .filter(|q| *q != "none")
            .map(|q| q.parse().expect("quantisation: f32, f16, i8 or none"))
            .collect()
    };
    let quantizations = quantizations_of("--quantization");
    let ivf_quantizations = quantizations_of("--ivf-quantization");
    let lists = number("--lists", 0);
    let batch = number("--batch", 1000);
    let probes: Vec<usize> = value("--probes")
        .unwrap_or_else(|| "2,4,8,16,32".into())
        .split(',')
        .map(|e| e.parse().expect("--probes takes numbers"))
        .collect();
    let metric: Metric = value("--metric").map_or(Metric::Euclidean, |m| m.parse().expect("metric"));

    let shape = Clusters::new(dim, clusters);
    let t = Instant::now();
    let vectors = shape.sample(n, 0, 1);
    let queries = shape.sample(queries_n, 0, 2);
    let keys: Vec<u64> = (0..n as u64).collect();
    println!(
        "data n={n} dim={dim} clusters={clusters} queries={queries_n} metric={metric} generated_s={:.1}",
        t.elapsed().as_secs_f64()
    );

    // Ground truth with every thread; then exact search as an engine in its own right.
    let t = Instant::now();
    let mut exact = ExactIndex::new(dim, metric);
    for (key, v) in keys.iter().zip(vectors.chunks_exact(dim)) {
        exact.add(*key, v).expect("finite vectors");
    }
    let truth = exact.search_batch(&queries, 10, None).expect("exact search");
    println!("truth exact_s={:.1}", t.elapsed().as_secs_f64());
    drop(exact);
    if exact_n > 0 {
        exact_batched(&vectors[..exact_n.min(n) * dim], &queries, dim, metric);
    }

    for quantization in quantizations {
        let config = HnswConfig {
            connectivity: m,
            expansion_add: efc,
            expansion_search: efs[0],
            quantization,
        };
        let rss_before = rss_kib("VmRSS");
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(build_threads)
            .build()
            .expect("thread pool");
        let t = Instant::now();
        let built = pool
            .install(|| HnswIndex::build(dim, metric, config, &keys, &vectors))
            .expect("build");
        let build_s = t.elapsed().as_secs_f64();
        let rss_after = rss_kib("VmRSS");
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("graph.usearch");
        built.save(&path).expect("save");
        let file_bytes = std::fs::metadata(&path).expect("saved").len();
        let quantiser = built.quantiser().clone();
        println!(
            "hnsw q={quantization} n={n} m={m} efc={efc} build_threads={build_threads} build_s={build_s:.1} \
             vectors_per_s={:.0} file_mib={:.1} bytes_per_vector={:.0} memory_usage_mib={:.1} rss_growth_mib={:.1}",
            n as f64 / build_s,
            file_bytes as f64 / 1048576.0,
            file_bytes as f64 / n as f64,
            built.memory_usage() as f64 / 1048576.0,
            (rss_after.saturating_sub(rss_before)) as f64 / 1024.0
        );
        drop(built);
        let t = Instant::now();
        let mut viewed = HnswIndex::open(&path, metric, config, quantiser.clone(), true).expect("view");
        println!("hnsw q={quantization} view_open_s={:.3}", t.elapsed().as_secs_f64());
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
        for &ef in &efs {
            viewed.set_expansion_search(ef);
            // Warm the mapping once, then time single queries one after another on one thread.
            let _ = one.install(|| viewed.search_batch(&queries, 10, None));
            let mut latencies = Vec::with_capacity(queries_n);
            let t = Instant::now();
            let found: Vec<Vec<Hit>> = one.install(|| {
                queries
                    .chunks_exact(dim)
                    .map(|q| {
                        let start = Instant::now();
                        let hits = viewed.search(q, 10, None).expect("search");
                        latencies.push(start.elapsed().as_secs_f64() * 1e3);
                        hits
                    })
                    .collect()
            });
            let seconds = t.elapsed().as_secs_f64();
            latencies.sort_by(f64::total_cmp);
            println!(
                "hnsw q={quantization} ef={ef} recall_at_10={:.4} qps_1_thread={:.0} p50_ms={:.3} p99_ms={:.3}",
                recall(&found, &truth),
                queries_n as f64 / seconds,
                latencies[latencies.len() / 2],
                latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)]
            );
        }
        // Filtered search (one key in ten) and deletes, on a loaded (writable) copy.
        let mut loaded = HnswIndex::open(&path, metric, config, quantiser.clone(), false).expect("load");
        loaded.set_expansion_search(64);
        let accept = |key: u64| key.is_multiple_of(10);
        let t = Instant::now();
        let filtered: Vec<Vec<Hit>> = one.install(|| {
            queries
                .chunks_exact(dim)
                .map(|q| loaded.search(q, 10, Some(&accept)).expect("search"))
                .collect()
        });
        let full = filtered
            .iter()
            .filter(|h| h.len() == 10 && h.iter().all(|x| accept(x.key)))
            .count();
        println!(
            "hnsw q={quantization} ef=64 filter=1/10 qps_1_thread={:.0} queries_with_10={full}/{queries_n}",
            queries_n as f64 / t.elapsed().as_secs_f64()
        );
        let t = Instant::now();
        for key in 0..1_000u64 {
            loaded.remove(key * 7).expect("remove");
        }
        println!(
            "hnsw q={quantization} remove_1000_ms={:.2}",
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    for quantization in ivf_quantizations {
        let config = IvfConfig {
            lists,
            probes: probes[0],
            quantization,
        };
        ivf(
            &keys,
            &vectors,
            &queries,
            &truth,
            dim,
            metric,
            config,
            &probes,
            batch,
            build_threads,
        );
    }
    println!("peak_rss_mib={:.0}", rss_kib("VmHWM") as f64 / 1024.0);
}

/// IVF: build on `build_threads`, save, reopen; then per probe count, recall and one-thread
/// QPS for queries one at a time and in batches of `batch`; a 1-in-10 filter; removes.
#[allow(clippy::too_many_arguments)]
fn ivf(
    keys: &[u64],
    vectors: &[f32],
    queries: &[f32],
    truth: &[Vec<Hit>],
    dim: usize,
    metric: Metric,
    config: IvfConfig,
    probes: &[usize],
    batch: usize,
    build_threads: usize,
) {
    let (n, queries_n) = (keys.len(), queries.len() / dim);
    let q = config.quantization;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(build_threads)
        .build()
        .expect("thread pool");
    let rss_before = rss_kib("VmRSS");
    let t = Instant::now();
    let built = pool
        .install(|| IvfIndex::build(dim, metric, config, keys, vectors))
        .expect("build");
    let build_s = t.elapsed().as_secs_f64();
    let rss_after = rss_kib("VmRSS");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("lists.ivf");
    built.save(&path).expect("save");
    let file_bytes = std::fs::metadata(&path).expect("saved").len();
    let lists = built.config().lists;
    println!(
        "ivf q={q} n={n} lists={lists} build_threads={build_threads} build_s={build_s:.1} vectors_per_s={:.0} \
         file_mib={:.1} bytes_per_vector={:.0} memory_usage_mib={:.1} rss_growth_mib={:.1}",
        n as f64 / build_s,
        file_bytes as f64 / 1048576.0,
        file_bytes as f64 / n as f64,
        built.memory_usage() as f64 / 1048576.0,
        (rss_after.saturating_sub(rss_before)) as f64 / 1024.0
    );
    drop(built);
    let t = Instant::now();
    let mut index = IvfIndex::open(&path, config).expect("open");
    println!("ivf q={q} open_s={:.3}", t.elapsed().as_secs_f64());
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
    let batch = batch.clamp(1, queries_n);
    for &p in probes {
        index.set_probes(p);
        let mut latencies = Vec::with_capacity(queries_n);
        let t = Instant::now();
        let single: Vec<Vec<Hit>> = one.install(|| {
            queries
                .chunks_exact(dim)
                .map(|query| {
                    let start = Instant::now();
                    let hits = index.search(query, 10, None).expect("search");
                    latencies.push(start.elapsed().as_secs_f64() * 1e3);
                    hits
                })
                .collect()
        });
        let single_qps = queries_n as f64 / t.elapsed().as_secs_f64();
        latencies.sort_by(f64::total_cmp);
        let t = Instant::now();
        let batched: Vec<Vec<Hit>> = one.install(|| {
            queries
                .chunks(batch * dim)
                .flat_map(|block| index.search_batch(block, 10, None).expect("search"))
                .collect()
        });
        let batched_qps = queries_n as f64 / t.elapsed().as_secs_f64();
        assert_eq!(batched.len(), single.len());
        println!(
            "ivf q={q} probes={p} recall_at_10={:.4} qps_1_thread={single_qps:.0} p50_ms={:.3} \
             batch={batch} recall_batched={:.4} qps_1_thread_batched={batched_qps:.0}",
            recall(&single, truth),
            latencies[latencies.len() / 2],
            recall(&batched, truth),
        );
    }
    index.set_probes(config.probes.max(16));
    let accept = |key: u64| key.is_multiple_of(10);
    let t = Instant::now();
    let filtered: Vec<Vec<Hit>> = one.install(|| {
        queries
            .chunks(batch * dim)
            .flat_map(|block| index.search_batch(block, 10, Some(&accept)).expect("search"))
            .collect()
    });
    let full = filtered
        .iter()
        .filter(|h| h.len() == 10 && h.iter().all(|x| accept(x.key)))
        .count();
    println!(
        "ivf q={q} probes={} filter=1/10 qps_1_thread_batched={:.0} queries_with_10={full}/{queries_n}",
        index.config().probes,
        queries_n as f64 / t.elapsed().as_secs_f64()
    );
    // The key → (list, row) map is built by the first change, not by opening.
    let t = Instant::now();
    index.remove(u64::MAX).expect("remove");
    let map_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    for key in 0..1_000u64 {
        index.remove(key * 7).expect("remove");
    }
    println!(
        "ivf q={q} key_map_ms={map_ms:.1} remove_1000_ms={:.2}",
        t.elapsed().as_secs_f64() * 1e3
    );
}

/// Exact search over `gallery` with batches of queries, one thread: queries per second.
fn exact_batched(gallery: &[f32], queries: &[f32], dim: usize, metric: Metric) {
    let n = gallery.len() / dim;
    let mut exact = ExactIndex::new(dim, metric);
    for (key, v) in gallery.chunks_exact(dim).enumerate() {
        exact.add(key as u64, v).expect("finite");
    }
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
    for batch in [1usize, 100, 1000] {
        let batch = batch.min(queries.len() / dim);
        let block = &queries[..batch * dim];
        let rounds = (1000 / batch).max(1);
        let t = Instant::now();
        for _ in 0..rounds {
            let _ = one.install(|| exact.search_batch(block, 10, None)).expect("search");
        }
        println!(
            "exact n={n} batch={batch} qps_1_thread={:.0}",
            (rounds * batch) as f64 / t.elapsed().as_secs_f64()
        );
    }
}

fn recall(found: &[Vec<Hit>], truth: &[Vec<Hit>]) -> f64 {
    let hits: usize = found
        .iter()
        .zip(truth)
        .map(|(f, t)| t.iter().filter(|h| f.iter().any(|x| x.key == h.key)).count())
        .sum();
    hits as f64 / truth.iter().map(Vec::len).sum::<usize>() as f64
}

/// A line of /proc/self/status in KiB (0 where there is none).
fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
