//! Validation metrics: label mean average precision and retrieval top-k by item id.

use lookbook_eval::{Role, TopKTable, precision_at_k, top_k_accuracy};
use lookbook_index::Metric;

/// Average precision of one label: mean of precision@rank over the positive images,
/// ranked by score (ties broken by position). `None` when there is no positive.
pub fn average_precision(scores: &[f32], positives: &[bool]) -> Option<f64> {
    let total = positives.iter().filter(|p| **p).count();
    if total == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut hits = 0usize;
    let mut sum = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        if positives[i] {
            hits += 1;
            sum += hits as f64 / (rank + 1) as f64;
        }
    }
    Some(sum / total as f64)
}

/// Mean over labels (with at least one positive) of the AP; `scores` and `targets` are
/// row-major `n × labels`.
pub fn mean_average_precision(scores: &[f32], targets: &[f32], labels: usize) -> f64 {
    let n = scores.len() / labels.max(1);
    let aps: Vec<f64> = (0..labels)
        .filter_map(|l| {
            let s: Vec<f32> = (0..n).map(|i| scores[i * labels + l]).collect();
            let p: Vec<bool> = (0..n).map(|i| targets[i * labels + l] > 0.5).collect();
            average_precision(&s, &p)
        })
        .collect();
    if aps.is_empty() {
        0.0
    } else {
        aps.iter().sum::<f64>() / aps.len() as f64
    }
}

/// The mAP of the label-frequency prior: it gives every image the same score for a
/// label, so its expected AP is that label's positive rate.
pub fn prior_mean_average_precision(targets: &[f32], labels: usize) -> f64 {
    let n = targets.len() / labels.max(1);
    let rates: Vec<f64> = (0..labels)
        .map(|l| (0..n).filter(|&i| targets[i * labels + l] > 0.5).count() as f64 / n.max(1) as f64)
        .filter(|r| *r > 0.0)
        .collect();
    if rates.is_empty() {
        0.0
    } else {
        rates.iter().sum::<f64>() / rates.len() as f64
    }
}

/// Retrieval top-k accuracy by item id within one set of images: every image whose
/// item has another image is a query against all other images; a hit at k is an
/// image of the same item among the k nearest (Euclidean) — `lookbook_eval`'s product-code
/// protocol, which `lookbook eval` reports. Returns one value per k and the number of queries.
pub fn retrieval_top_k(embeddings: &[f32], dim: usize, items: &[&str], ks: &[usize]) -> (Vec<f64>, usize) {
    let roles = vec![Role::Both; items.len()];
    match top_k_accuracy(items, &roles, embeddings, dim, Metric::Euclidean, ks) {
        Ok(table) => (table.values, table.queries),
        // Only a vector of the wrong length or not finite gets here: no retrieval to speak of.
        Err(error) => {
            tracing::warn!("retrieval top-k: {error}");
            (vec![0.0; ks.len()], 0)
        }
    }
}

/// By a category instead (a catalogue with one photo per product): every image with a value
/// against all others, precision@k and the top-k hit rate of that value (`TopKTable::hit_rates`).
pub fn category_top_k(embeddings: &[f32], dim: usize, values: &[&str], ks: &[usize]) -> TopKTable {
    let roles = vec![Role::Both; values.len()];
    precision_at_k(values, &roles, embeddings, dim, Metric::Euclidean, ks).unwrap_or_else(|error| {
        tracing::warn!("category top-k: {error}");
        TopKTable {
            ks: ks.to_vec(),
            values: vec![0.0; ks.len()],
            hit_rates: vec![0.0; ks.len()],
            queries: 0,
            gallery: 0,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_precision_by_hand() {
        // Ranked: P N P → (1/1 + 2/3) / 2.
        let ap = average_precision(&[0.9, 0.8, 0.7], &[true, false, true]).unwrap();
        assert!((ap - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert_eq!(average_precision(&[0.1], &[false]), None);
        let map = mean_average_precision(&[0.9, 0.1, 0.2, 0.8], &[1.0, 0.0, 0.0, 1.0], 2);
        assert!((map - 1.0).abs() < 1e-12, "perfect ranking");
        let prior = prior_mean_average_precision(&[1.0, 0.0, 0.0, 0.0, 1.0, 1.0], 2);
        assert!((prior - (2.0 / 3.0 + 1.0 / 3.0) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn retrieval_by_hand() {
        // 1-d points: a=0, a=0.1, b=0.05, b=5, c=9. Queries: the two a's and two b's.
        let emb = [0.0, 0.1, 0.05, 5.0, 9.0];
        let items = ["a", "a", "b", "b", "c"];
        let (rates, queries) = retrieval_top_k(&emb, 1, &items, &[1, 2, 4]);
        assert_eq!(queries, 4);
        // a@0:    b(0.05), a(0.1)        → same item 2nd: miss@1, hit@2.
        // a@0.1:  b(0.05), a(0)          → 2nd.
        // b@0.05: a(0), a(0.1), b(5)     → 3rd: hit@4 only.
        // b@5:    c(9), a(0.1), b(0.05)  → 3rd: hit@4 only.
        assert_eq!(rates, vec![0.0, 0.5, 1.0]);
    }
}
