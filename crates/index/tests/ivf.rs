//! IVF against exact search: recall on clustered vectors whose clusters the lists split,
//! batched answers equal single ones, filters that still return k, add/replace/remove,
//! and a saved index reopened (or refused when damaged).

use lookbook_index::synthetic::Clusters;
use lookbook_index::{ExactIndex, Hit, IndexError, IvfConfig, IvfIndex, Metric, Quantization, VectorIndex};

const DIM: usize = 128;

fn recall(approx: &[Vec<Hit>], exact: &[Vec<Hit>]) -> f64 {
    let found: usize = approx
        .iter()
        .zip(exact)
        .map(|(a, e)| e.iter().filter(|h| a.iter().any(|x| x.key == h.key)).count())
        .sum();
    found as f64 / exact.iter().map(Vec::len).sum::<usize>() as f64
}

fn exact_of(keys: &[u64], vectors: &[f32], metric: Metric) -> ExactIndex {
    let mut exact = ExactIndex::new(DIM, metric);
    for (key, v) in keys.iter().zip(vectors.chunks_exact(DIM)) {
        exact.add(*key, v).unwrap();
    }
    exact
}

fn config(quantization: Quantization) -> IvfConfig {
    IvfConfig {
        quantization,
        ..IvfConfig::default()
    }
}

#[test]
fn recall_at_10_on_20k_clustered_vectors_is_at_least_0_95() {
    // 20 clusters of 1,000 in 32 directions each, 141 lists (√n): every cluster is split
    // over several lists, so a query's neighbours are not all in its nearest list.
    let n = 20_000;
    let shape = Clusters::new(DIM, 20);
    let vectors = shape.sample(n, 0, 1);
    let queries = shape.sample(200, 0, 1_000_001);
    let keys: Vec<u64> = (0..n as u64).map(|i| i * 7 + 3).collect();
    for metric in [Metric::Euclidean, Metric::Cosine] {
        let exact = exact_of(&keys, &vectors, metric)
            .search_batch(&queries, 10, None)
            .unwrap();
        for quantization in [Quantization::F32, Quantization::I8] {
            let mut ivf = IvfIndex::build(DIM, metric, config(quantization), &keys, &vectors).unwrap();
            assert_eq!((ivf.len(), ivf.config().lists), (n, 141));
            let approx = ivf.search_batch(&queries, 10, None).unwrap();
            let r = recall(&approx, &exact);
            eprintln!("{metric} {quantization}: recall@10 = {r:.4} at 16 probes");
            assert!(r >= 0.95, "{metric} {quantization}: recall@10 {r:.4} < 0.95");
            // Scanning one list finds less: the probes are what buys the recall.
            ivf.set_probes(1);
            let one = recall(&ivf.search_batch(&queries, 10, None).unwrap(), &exact);
            assert!(one < r, "{metric} {quantization}: 1 probe {one:.4} vs 16 probes {r:.4}");
            // Distances are on the metric's scale (Euclidean, not squared), i8 within 1%.
            let tolerance = if quantization == Quantization::I8 { 0.01 } else { 1e-4 };
            for (a, e) in approx.iter().zip(&exact) {
                if a[0].key == e[0].key {
                    let (a, e) = (a[0].distance, e[0].distance);
                    assert!(
                        (a - e).abs() <= tolerance * e.max(0.1),
                        "{metric} {quantization}: {a} vs {e}"
                    );
                }
            }
        }
    }
}

#[test]
fn a_batch_gets_the_answers_its_queries_get_one_by_one() {
    let shape = Clusters::new(DIM, 10);
    let vectors = shape.sample(3_000, 0, 3);
    let keys: Vec<u64> = (0..3_000).collect();
    let ivf = IvfIndex::build(DIM, Metric::Euclidean, config(Quantization::I8), &keys, &vectors).unwrap();
    let queries = shape.sample(50, 0, 4);
    let batched = ivf.search_batch(&queries, 7, None).unwrap();
    let single: Vec<Vec<Hit>> = queries
        .chunks_exact(DIM)
        .map(|q| ivf.search(q, 7, None).unwrap())
        .collect();
    assert_eq!(batched.len(), 50);
    for (b, s) in batched.iter().zip(&single) {
        let keys = |hits: &[Hit]| hits.iter().map(|h| h.key).collect::<Vec<_>>();
        assert_eq!(keys(b), keys(s));
        assert!(b.windows(2).all(|w| w[0].distance <= w[1].distance), "closest first");
    }
}

#[test]
fn a_selective_filter_still_returns_k_results() {
    let n = 5_000;
    let vectors = Clusters::new(DIM, 50).sample(n, 0, 2);
    let keys: Vec<u64> = (0..n as u64).collect();
    let ivf = IvfIndex::build(DIM, Metric::Euclidean, config(Quantization::F32), &keys, &vectors).unwrap();
    let exact = exact_of(&keys, &vectors, Metric::Euclidean);
    // One key in 250 passes: 20 in all, most in lists a query never probes.
    let accept = |key: u64| key.is_multiple_of(250);
    let query = &vectors[..DIM];
    let got = ivf.search(query, 10, Some(&accept)).unwrap();
    let want = exact.search(query, 10, Some(&accept)).unwrap();
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|h| accept(h.key)));
    let overlap = got.iter().filter(|h| want.iter().any(|w| w.key == h.key)).count();
    assert!(
        overlap >= 9,
        "filtered top-10 shares {overlap} keys with the exact answer"
    );
    // Fewer than k pass: exactly those come back.
    let two = |key: u64| key == 17 || key == 4_321;
    let mut got: Vec<u64> = ivf
        .search(query, 10, Some(&two))
        .unwrap()
        .iter()
        .map(|h| h.key)
        .collect();
    got.sort();
    assert_eq!(got, vec![17, 4_321]);
}

#[test]
fn add_replace_and_remove_change_the_answers() {
    let vectors = Clusters::new(DIM, 10).sample(2_000, 0, 5);
    let keys: Vec<u64> = (0..2_000).collect();
    let mut ivf = IvfIndex::build(DIM, Metric::Euclidean, config(Quantization::I8), &keys, &vectors).unwrap();
    let far: Vec<f32> = vectors[..DIM].iter().map(|x| -x).collect();
    ivf.add(90_000, &far).unwrap();
    assert_eq!(ivf.len(), 2_001);
    assert_eq!(ivf.search(&far, 1, None).unwrap()[0].key, 90_000);
    // Replacing key 5 with the far vector: it is found there, and only once.
    ivf.add(5, &far).unwrap();
    assert_eq!(ivf.len(), 2_001);
    let hits = ivf.search(&far, 3, None).unwrap();
    let mut top: Vec<u64> = hits[..2].iter().map(|h| h.key).collect();
    top.sort();
    assert_eq!(top, vec![5, 90_000]);
    assert!(ivf.remove(90_000).unwrap());
    assert!(!ivf.remove(90_000).unwrap(), "already gone");
    assert_eq!(ivf.len(), 2_000);
    assert!(ivf.search(&far, 10, None).unwrap().iter().all(|h| h.key != 90_000));
    // Every other key is still found at (about) distance 0 from its own vector.
    for key in [0u64, 6, 1_999] {
        let v = &vectors[key as usize * DIM..][..DIM];
        let hit = ivf.search(v, 1, None).unwrap()[0];
        assert_eq!(hit.key, key);
        assert!(hit.distance < 0.01, "{key}: {}", hit.distance);
    }
    let bad = ivf.add(1, &[f32::NAN; DIM]).unwrap_err();
    assert!(matches!(bad, IndexError::NonFinite { key: 1 }), "{bad}");
    assert!(matches!(ivf.add(1, &[0.0; 3]), Err(IndexError::Dimension { .. })));
}

#[test]
fn an_empty_index_answers_nothing_and_grows_by_adding() {
    let mut ivf = IvfIndex::build(DIM, Metric::Cosine, config(Quantization::F32), &[], &[]).unwrap();
    assert!(ivf.is_empty());
    assert_eq!(ivf.search(&[1.0; DIM], 5, None).unwrap(), vec![]);
    ivf.add(1, &[1.0; DIM]).unwrap();
    let hits = ivf.search(&[2.0; DIM], 5, None).unwrap();
    assert_eq!(hits.len(), 1);
    assert!(hits[0].distance.abs() < 1e-5, "same direction, cosine distance 0");
}

#[test]
fn a_key_given_twice_keeps_its_last_vector() {
    let vectors = Clusters::new(DIM, 4).sample(3, 0, 6);
    let ivf = IvfIndex::build(DIM, Metric::Euclidean, config(Quantization::F32), &[1, 2, 1], &vectors).unwrap();
    assert_eq!(ivf.len(), 2);
    let hit = ivf.search(&vectors[2 * DIM..], 1, None).unwrap()[0];
    assert_eq!((hit.key, hit.distance < 1e-3), (1, true));
}

#[test]
fn a_saved_index_reopens_with_the_same_answers_and_damage_is_an_error() {
    let shape = Clusters::new(DIM, 10);
    let vectors = shape.sample(3_000, 0, 7);
    let keys: Vec<u64> = (0..3_000).map(|i| i * 3).collect();
    let queries = shape.sample(20, 0, 8);
    let dir = tempfile::tempdir().unwrap();
    for (metric, quantization) in [
        (Metric::Euclidean, Quantization::I8),
        (Metric::Cosine, Quantization::F32),
    ] {
        let mut built = IvfIndex::build(DIM, metric, config(quantization), &keys, &vectors).unwrap();
        built.remove(3).unwrap();
        built.add(1, &vectors[..DIM]).unwrap();
        let path = dir.path().join("lists.ivf");
        built.save(&path).unwrap();
        let opened = IvfIndex::open(
            &path,
            IvfConfig {
                probes: 16,
                ..config(Quantization::F32)
            },
        )
        .unwrap();
        // The file decides the quantisation and metric, the caller the probes.
        assert_eq!(opened.config().quantization, quantization);
        assert_eq!((opened.metric(), opened.len(), opened.dim()), (metric, 3_000, DIM));
        // Same neighbours; distances to rounding (SIMD kernels may sum in another order
        // for buffers at other addresses).
        let (got, want) = (
            opened.search_batch(&queries, 10, None).unwrap(),
            built.search_batch(&queries, 10, None).unwrap(),
        );
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(
                g.iter().map(|h| h.key).collect::<Vec<_>>(),
                w.iter().map(|h| h.key).collect::<Vec<_>>()
            );
            assert!(g.iter().zip(w).all(|(g, w)| (g.distance - w.distance).abs() < 1e-5));
        }
        // Truncated, or not an IVF file at all: a Corrupt error naming the file.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
        let err = IvfIndex::open(&path, IvfConfig::default()).unwrap_err();
        assert!(matches!(err, IndexError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("lists.ivf"), "{err}");
        std::fs::write(&path, b"not an index").unwrap();
        let err = IvfIndex::open(&path, IvfConfig::default()).unwrap_err();
        assert!(err.to_string().contains("not a lookbook IVF file"), "{err}");
    }
}
