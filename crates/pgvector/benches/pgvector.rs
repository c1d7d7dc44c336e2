//! PostgreSQL + pgvector against the embedded HNSW index (usearch), same vectors, same
//! machine, same run: bulk-load rate (binary COPY), HNSW build time, recall@10 and QPS with
//! 1 and 8 client connections (threads) across ef_search.
//!
//! `LOOKBOOK_PG_URL=postgres://... cargo bench -p lookbook-pgvector --bench pgvector -- \
//!  [--n 1000000] [--dim 256] [--clusters 1000] [--queries 1000] [--m 16] [--efc 64] \
//!  [--efs 16,32,64,128] [--clients 1,8]`
//! Data: `lookbook_index::synthetic::Clusters`; ground truth: `ExactIndex`. The server is
//! whatever LOOKBOOK_PG_URL names (scripts/postgres.sh starts a local one: loopback TCP, so
//! each query pays a round trip the embedded index does not). `scripts/bench-pgvector.sh`
//! runs what BENCHMARKS.md reports.

#[path = "../../../benches/support/args.rs"]
mod args;

use args::BenchArgs;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use lookbook_index::synthetic::Clusters;
use lookbook_index::{
    ExactIndex, ExternalIndex, Hit, HnswConfig, HnswIndex, IndexContents, IndexInfo, Metric, Quantization, Record,
    VectorIndex,
};
use lookbook_pgvector::{PgIndex, PgLocation};

fn recall(found: &[Vec<Hit>], truth: &[Vec<Hit>]) -> f64 {
    let hits: usize = found
        .iter()
        .zip(truth)
        .map(|(f, t)| t.iter().filter(|h| f.iter().any(|x| x.key == h.key)).count())
        .sum();
    hits as f64 / truth.iter().map(Vec::len).sum::<usize>().max(1) as f64
}

/// Answers to every query from `clients` threads, each taking the next query; QPS overall.
fn run_clients(
    queries: &[f32],
    dim: usize,
    clients: usize,
    search: &(dyn Fn(&[f32]) -> Vec<Hit> + Sync),
) -> (Vec<Vec<Hit>>, f64) {
    let count = queries.len() / dim;
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    let mut answers: Vec<(usize, Vec<Hit>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let q = next.fetch_add(1, Ordering::Relaxed);
                        if q >= count {
                            return mine;
                        }
                        mine.push((q, search(&queries[q * dim..][..dim])));
                    }
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    let seconds = start.elapsed().as_secs_f64();
    answers.sort_by_key(|(q, _)| *q);
    (answers.into_iter().map(|(_, a)| a).collect(), count as f64 / seconds)
}

fn main() {
    let args = BenchArgs::from_env();
    let value = |flag: &str| args.value(flag);
    let number = |flag: &str, default: usize| args.number(flag, default);
    let list = |flag: &str, default: &str| -> Vec<usize> {
        value(flag)
            .unwrap_or_else(|| default.into())
            .split(',')
            .map(|v| v.parse().expect("numbers"))
            .collect()
    };
    let (n, dim, clusters, queries_n) = (
        number("--n", 1_000_000),
        number("--dim", 256),
        number("--clusters", 1000),
        number("--queries", 1000),
    );
    let (m, efc) = (number("--m", 16), number("--efc", 64));
    let efs = list("--efs", "16,32,64,128");
    let clients = list("--clients", "1,8");
    let Ok(url) = std::env::var("LOOKBOOK_PG_URL") else {
        eprintln!("LOOKBOOK_PG_URL is not set: `eval $(scripts/postgres.sh start)` first");
        std::process::exit(2);
    };
    let separator = if url.contains('?') { '&' } else { '?' };
    let location: PgLocation = format!(
        "{url}{separator}table=bench_{n}&pool={}",
        clients.iter().max().unwrap_or(&8)
    )
    .parse()
    .expect("location");
    println!(
        "machine: {} cores; {n} × {dim} clustered vectors ({clusters} clusters), {queries_n} queries, HNSW M {m} ef_construction {efc}",
        std::thread::available_parallelism().map_or(0, |p| p.get())
    );

    let shape = Clusters::new(dim, clusters);
    let vectors = shape.sample(n, 0, 1);
    let queries = shape.sample(queries_n, 0, 1_000_001);
    let keys: Vec<u64> = (0..n as u64).map(|i| i * 7 + 3).collect();

    let t = Instant::now();
    let mut exact = ExactIndex::new(dim, Metric::Euclidean);
    for (key, v) in keys.iter().zip(vectors.chunks_exact(dim)) {
        exact.add(*key, v).unwrap();
    }
    let truth = exact.search_batch(&queries, 10, None).unwrap();
    drop(exact);
    println!("ground truth (exact, batched): {:.1} s", t.elapsed().as_secs_f64());

    let config = HnswConfig {
        connectivity: m,
        expansion_add: efc,
        expansion_search: 64,
        quantization: Quantization::F32,
    };
    let mut rows = Vec::new();
    {
        let t = Instant::now();
        let mut embedded = HnswIndex::build(dim, Metric::Euclidean, config, &keys, &vectors).unwrap();
        let build = t.elapsed().as_secs_f64();
        embedded
            .reserve_threads(clients.iter().copied().max().unwrap_or(1))
            .unwrap();
        println!(
            "embedded HNSW (usearch) build: {build:.1} s ({:.0} vectors/s)",
            n as f64 / build
        );
        for &ef in &efs {
            embedded.set_expansion_search(ef);
            for &c in &clients {
                let (answers, qps) = run_clients(&queries, dim, c, &|q| embedded.search(q, 10, None).unwrap());
                rows.push(("embedded HNSW", ef, c, recall(&answers, &truth), qps));
            }
        }
    }

    let info = IndexInfo {
        dim,
        metric: Metric::Euclidean,
        parts: 0,
        part_dim: 0,
        label_part: false,
        model: "bench".into(),
        catalog_root: "/".into(),
        columns: Vec::new(),
        ann: Some(config),
        ivf: None,
    };
    let mut contents = IndexContents::new(info);
    for (key, v) in keys.iter().zip(vectors.chunks_exact(dim)) {
        let record = Record {
            key: *key,
            item_id: key.to_string(),
            image: format!("{key}.jpg").into(),
            attributes: Default::default(),
            boxes: None,
        };
        contents.upsert(record, v, &[]).unwrap();
    }
    drop(vectors);
    let (index, stats) = PgIndex::replace(&location, &contents).expect("bulk load");
    drop(contents);
    println!(
        "pgvector bulk load: COPY {:.1} s ({:.0} rows/s), HNSW build {:.1} s, transaction {:.1} s",
        stats.copy_seconds,
        stats.rows as f64 / stats.copy_seconds,
        stats.index_seconds,
        stats.total_seconds
    );
    for &ef in &efs {
        index.set_expansion_search(ef);
        for &c in &clients {
            // Warm every pooled connection's prepared statement and settings first.
            run_clients(&queries[..dim * c.min(queries_n)], dim, c, &|q| {
                index.search(q, 10, None).unwrap()
            });
            let (answers, qps) = run_clients(&queries, dim, c, &|q| index.search(q, 10, None).unwrap());
            rows.push(("pgvector HNSW", ef, c, recall(&answers, &truth), qps));
        }
    }
    println!("\n| engine | ef_search | clients | recall@10 | QPS |");
    println!("|---|---|---|---|---|");
    for (engine, ef, c, r, qps) in &rows {
        println!("| {engine} | {ef} | {c} | {r:.3} | {qps:.0} |");
    }
    for &c in &clients {
        for &ef in &efs {
            let find = |e: &str| rows.iter().find(|r| r.0 == e && r.1 == ef && r.2 == c).map(|r| r.4);
            if let (Some(a), Some(b)) = (find("embedded HNSW"), find("pgvector HNSW")) {
                println!("ef {ef}, {c} client(s): embedded / pgvector QPS = {:.1}", a / b);
            }
        }
    }
}
