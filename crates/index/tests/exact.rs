//! Exact search against a naive reference; add, replace, remove; filters.

use lookbook_index::{ExactIndex, Hit, IndexError, Metric, VectorIndex};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn random_vectors(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n * dim).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect()
}

/// Every distance computed directly, sorted, ties by key.
fn naive(
    gallery: &[(u64, Vec<f32>)],
    query: &[f32],
    k: usize,
    metric: Metric,
    accept: impl Fn(u64) -> bool,
) -> Vec<Hit> {
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let mut hits: Vec<Hit> = gallery
        .iter()
        .filter(|(key, _)| accept(*key))
        .map(|(key, v)| {
            let distance = match metric {
                Metric::Euclidean => v
                    .iter()
                    .zip(query)
                    .map(|(a, b)| ((a - b) as f64).powi(2))
                    .sum::<f64>()
                    .sqrt(),
                Metric::Cosine => {
                    1.0 - v.iter().zip(query).map(|(a, b)| (a * b) as f64).sum::<f64>() / (norm(v) * norm(query))
                }
            };
            Hit {
                key: *key,
                distance: distance as f32,
            }
        })
        .collect();
    hits.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.key.cmp(&b.key)));
    hits.truncate(k);
    hits
}

fn assert_same(got: &[Hit], want: &[Hit]) {
    assert_eq!(got.len(), want.len(), "number of hits");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g.distance - w.distance).abs() < 1e-3,
            "distance {} vs {}",
            g.distance,
            w.distance
        );
        // Equal keys, unless two gallery vectors are (numerically) equally far.
        if g.key != w.key {
            assert!((g.distance - w.distance).abs() < 1e-5, "key {} vs {}", g.key, w.key);
        }
    }
}

#[test]
fn exact_search_equals_the_naive_reference() {
    let dim = 24;
    // More rows than one tile and more queries than one block, so both edges are crossed.
    let n = 5000;
    let data = random_vectors(n, dim, 1);
    let gallery: Vec<(u64, Vec<f32>)> = data
        .chunks(dim)
        .enumerate()
        .map(|(i, v)| (i as u64 * 7 + 3, v.to_vec()))
        .collect();
    let queries = random_vectors(70, dim, 2);
    for metric in [Metric::Euclidean, Metric::Cosine] {
        let mut index = ExactIndex::new(dim, metric);
        for (key, v) in &gallery {
            index.add(*key, v).unwrap();
        }
        assert_eq!(index.len(), n);
        let results = index.search_batch(&queries, 10, None).unwrap();
        assert_eq!(results.len(), 70);
        for (query, got) in queries.chunks(dim).zip(&results) {
            assert_same(got, &naive(&gallery, query, 10, metric, |_| true));
        }
        // A filter still returns k results, all passing it.
        let even = |key: u64| key.is_multiple_of(2);
        let filtered = index.search(&queries[..dim], 10, Some(&even)).unwrap();
        assert_eq!(filtered.len(), 10);
        assert!(filtered.iter().all(|h| even(h.key)));
        assert_same(&filtered, &naive(&gallery, &queries[..dim], 10, metric, even));
    }
}

#[test]
fn add_replace_and_remove() {
    let mut index = ExactIndex::new(2, Metric::Euclidean);
    index.add(1, &[0.0, 0.0]).unwrap();
    index.add(2, &[1.0, 0.0]).unwrap();
    index.add(3, &[5.0, 5.0]).unwrap();
    let keys = |hits: Vec<Hit>| hits.into_iter().map(|h| h.key).collect::<Vec<_>>();
    assert_eq!(keys(index.search(&[0.9, 0.0], 3, None).unwrap()), vec![2, 1, 3]);
    // Replacing moves the vector; the count stays.
    index.add(3, &[0.85, 0.0]).unwrap();
    assert_eq!(index.len(), 3);
    assert_eq!(keys(index.search(&[0.9, 0.0], 2, None).unwrap()), vec![3, 2]);
    assert!(index.remove(2).unwrap());
    assert!(!index.remove(2).unwrap());
    assert_eq!(index.len(), 2);
    assert_eq!(keys(index.search(&[0.9, 0.0], 5, None).unwrap()), vec![3, 1]);
    assert_eq!(index.vector(1), Some(&[0.0f32, 0.0][..]));
    let hit = index.search(&[3.0, 4.0], 1, Some(&|key| key == 1)).unwrap()[0];
    assert!(
        (hit.distance - 5.0).abs() < 1e-6,
        "Euclidean, not squared: {}",
        hit.distance
    );
}

#[test]
fn bad_vectors_are_refused_with_a_reason() {
    let mut index = ExactIndex::new(3, Metric::Cosine);
    assert!(matches!(
        index.add(1, &[1.0, 2.0]),
        Err(IndexError::Dimension { expected: 3, got: 2 })
    ));
    assert!(matches!(
        index.add(7, &[1.0, f32::NAN, 0.0]),
        Err(IndexError::NonFinite { key: 7 })
    ));
    assert!(index.is_empty());
    assert!(index.search(&[1.0, 0.0, 0.0], 5, None).unwrap().is_empty());
    assert!(index.search_batch(&[1.0, 0.0], 5, None).is_err());
}
