//! HNSW (usearch) against exact search: recall on clustered vectors, filters that still
//! return k, add/replace/remove, and a saved graph reopened by mmap.

use lookbook_index::synthetic::Clusters;
use lookbook_index::{ExactIndex, HnswConfig, HnswIndex, Metric, Quantiser, Quantization, VectorIndex};

const DIM: usize = 128;

/// Mean fraction of the exact top-k that the approximate top-k found.
fn recall(approx: &[Vec<lookbook_index::Hit>], exact: &[Vec<lookbook_index::Hit>]) -> f64 {
    let found: usize = approx
        .iter()
        .zip(exact)
        .map(|(a, e)| e.iter().filter(|h| a.iter().any(|x| x.key == h.key)).count())
        .sum();
    let total: usize = exact.iter().map(Vec::len).sum();
    found as f64 / total as f64
}

fn exact_of(keys: &[u64], vectors: &[f32], metric: Metric) -> ExactIndex {
    let mut exact = ExactIndex::new(DIM, metric);
    for (key, v) in keys.iter().zip(vectors.chunks_exact(DIM)) {
        exact.add(*key, v).unwrap();
    }
    exact
}

#[test]
fn recall_at_10_on_20k_clustered_vectors_is_at_least_0_95() {
    let n = 20_000;
    let vectors = Clusters::new(DIM, 200).sample(n, 0, 1);
    let queries = Clusters::new(DIM, 200).sample(200, 0, 1_000_001);
    let keys: Vec<u64> = (0..n as u64).map(|i| i * 7 + 3).collect();
    for metric in [Metric::Euclidean, Metric::Cosine] {
        let exact = exact_of(&keys, &vectors, metric)
            .search_batch(&queries, 10, None)
            .unwrap();
        for quantization in [Quantization::F32, Quantization::I8] {
            let config = HnswConfig {
                quantization,
                ..HnswConfig::default()
            };
            let hnsw = HnswIndex::build(DIM, metric, config, &keys, &vectors).unwrap();
            assert_eq!(hnsw.len(), n);
            let approx = hnsw.search_batch(&queries, 10, None).unwrap();
            let r = recall(&approx, &exact);
            eprintln!("{metric} {quantization}: recall@10 = {r:.4}");
            assert!(r >= 0.95, "{metric} {quantization}: recall@10 {r:.4} < 0.95");
            // Distances are on the metric's scale (Euclidean, not squared; i8 rescaled).
            let (a, e) = (approx[0][0], exact[0][0]);
            let tolerance = if quantization == Quantization::I8 { 0.05 } else { 1e-3 };
            assert!(
                (a.distance - e.distance).abs() <= tolerance * e.distance.max(0.1),
                "{metric} {quantization}: nearest distance {} vs exact {}",
                a.distance,
                e.distance
            );
        }
    }
}

#[test]
fn a_selective_filter_still_returns_k_results() {
    let n = 5_000;
    let vectors = Clusters::new(DIM, 50).sample(n, 0, 2);
    let keys: Vec<u64> = (0..n as u64).collect();
    let hnsw = HnswIndex::build(DIM, Metric::Euclidean, HnswConfig::default(), &keys, &vectors).unwrap();
    let exact = exact_of(&keys, &vectors, Metric::Euclidean);
    // One key in 250 passes: 20 in all, most far from the query's cluster.
    let accept = |key: u64| key.is_multiple_of(250);
    let query = &vectors[..DIM];
    let got = hnsw.search(query, 10, Some(&accept)).unwrap();
    let want = exact.search(query, 10, Some(&accept)).unwrap();
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|h| accept(h.key)));
    let want_keys: Vec<u64> = want.iter().map(|h| h.key).collect();
    let overlap = got.iter().filter(|h| want_keys.contains(&h.key)).count();
    assert!(
        overlap >= 9,
        "filtered top-10 shares {overlap} keys with the exact answer"
    );
    // Fewer pass than k: all of them come back.
    let rare = |key: u64| key == 17 || key == 4_000;
    let got = hnsw.search(query, 10, Some(&rare)).unwrap();
    let mut got_keys: Vec<u64> = got.iter().map(|h| h.key).collect();
    got_keys.sort();
    assert_eq!(got_keys, vec![17, 4_000]);
}

#[test]
fn add_replace_and_remove() {
    let vectors = Clusters::new(DIM, 5).sample(300, 0, 3);
    let mut hnsw = HnswIndex::new(DIM, Metric::Euclidean, HnswConfig::default(), Quantiser::default()).unwrap();
    for (key, v) in vectors.chunks_exact(DIM).enumerate() {
        hnsw.add(key as u64, v).unwrap();
    }
    assert_eq!(hnsw.len(), 300);
    // Each vector finds itself.
    let own = hnsw.search(&vectors[42 * DIM..][..DIM], 1, None).unwrap();
    assert_eq!(own[0].key, 42);
    assert!(own[0].distance < 1e-3);
    // Replace key 42 with vector 7's values: now both are at distance 0 from vector 7.
    hnsw.add(42, &vectors[7 * DIM..][..DIM]).unwrap();
    assert_eq!(hnsw.len(), 300);
    let mut two: Vec<u64> = hnsw
        .search(&vectors[7 * DIM..][..DIM], 2, None)
        .unwrap()
        .iter()
        .map(|h| h.key)
        .collect();
    two.sort();
    assert_eq!(two, vec![7, 42]);
    assert!(hnsw.remove(7).unwrap());
    assert!(!hnsw.remove(7).unwrap());
    assert_eq!(hnsw.len(), 299);
    let hits = hnsw.search(&vectors[7 * DIM..][..DIM], 5, None).unwrap();
    assert_eq!(hits[0].key, 42);
    assert!(hits.iter().all(|h| h.key != 7));
    // Wrong dimension and NaN are errors, not panics.
    assert!(hnsw.add(1, &[0.0; 3]).is_err());
    let mut nan = vectors[..DIM].to_vec();
    nan[5] = f32::NAN;
    assert!(hnsw.add(1, &nan).is_err());
}

#[test]
fn a_saved_graph_reopens_mapped_and_loaded_with_the_same_answers() {
    let n = 3_000;
    let vectors = Clusters::new(DIM, 30).sample(n, 0, 4);
    let keys: Vec<u64> = (0..n as u64).map(|k| k * 11).collect();
    let queries = Clusters::new(DIM, 30).sample(20, 0, 5);
    for quantization in [Quantization::F32, Quantization::I8] {
        let config = HnswConfig {
            quantization,
            ..HnswConfig::default()
        };
        let built = HnswIndex::build(DIM, Metric::Cosine, config, &keys, &vectors).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("graph.usearch");
        built.save(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, built.serialized_len());
        let want = built.search_batch(&queries, 10, None).unwrap();
        for mapped in [true, false] {
            let opened = HnswIndex::open(&path, Metric::Cosine, config, built.quantiser().clone(), mapped).unwrap();
            assert_eq!(opened.len(), n);
            assert_eq!(
                opened.search_batch(&queries, 10, None).unwrap(),
                want,
                "mapped: {mapped}"
            );
        }
    }
    // Not a graph: a clear error.
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.usearch");
    std::fs::write(&junk, b"not an index").unwrap();
    assert!(HnswIndex::open(&junk, Metric::Cosine, HnswConfig::default(), Quantiser::default(), true).is_err());
}

#[test]
fn i8_keeps_small_differences_around_a_common_direction() {
    // Like the seed model's H&M embeddings (mean cosine 0.997 between two): one shared
    // direction, the information in differences a few hundredths long.
    let n = 5_000;
    let spread = Clusters::new(DIM, 50).sample(n, 0, 7);
    let common = Clusters::new(DIM, 1).sample(1, 0, 8);
    let vectors: Vec<f32> = spread
        .chunks_exact(DIM)
        .flat_map(|v| v.iter().zip(&common).map(|(x, c)| c + 0.03 * x).collect::<Vec<f32>>())
        .collect();
    let keys: Vec<u64> = (0..n as u64).collect();
    let queries = &vectors[..100 * DIM];
    let exact = exact_of(&keys, &vectors, Metric::Euclidean)
        .search_batch(queries, 10, None)
        .unwrap();
    let config = HnswConfig {
        quantization: Quantization::I8,
        ..HnswConfig::default()
    };
    let hnsw = HnswIndex::build(DIM, Metric::Euclidean, config, &keys, &vectors).unwrap();
    assert_eq!(hnsw.quantiser().centre.len(), DIM, "Euclidean i8 is centred");
    let r = recall(&hnsw.search_batch(queries, 10, None).unwrap(), &exact);
    assert!(r >= 0.95, "centred i8 recall@10 {r:.4}");
    // Without the centre (what a fixed scale does), most of the information is rounded away.
    let plain = Quantiser {
        centre: Vec::new(),
        scale: 127.0 / vectors.iter().fold(0.0f32, |m, x| m.max(x.abs())),
    };
    let mut uncentred = HnswIndex::new(DIM, Metric::Euclidean, config, plain).unwrap();
    for (key, v) in keys.iter().zip(vectors.chunks_exact(DIM)) {
        uncentred.add(*key, v).unwrap();
    }
    let r_plain = recall(&uncentred.search_batch(queries, 10, None).unwrap(), &exact);
    eprintln!("i8 recall@10: centred {r:.4}, uncentred {r_plain:.4}");
    assert!(r_plain < r, "centring helps: {r_plain:.4} vs {r:.4}");
}
