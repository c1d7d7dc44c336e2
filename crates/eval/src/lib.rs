//! The study's evaluation: for each query image, are images of the same item among its k
//! nearest gallery images (top-k accuracy, DeepFashion In-shop style), and how many of the
//! k nearest share an attribute value (precision@k).
//!
//! Functions here take vectors and labels, not catalogues or models, so each protocol is
//! checked on hand-built cases; the binary decides which images are queries and gallery.

use lookbook_index::{ExactIndex, Hit, IndexError, Metric, VectorIndex};
use serde::Serialize;

/// What part an image plays in an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Query,
    Gallery,
    /// Both a query and, for every other query, a gallery image (never its own neighbour).
    Both,
}

/// Top-k accuracy (or precision@k) per k.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopKTable {
    pub ks: Vec<usize>,
    pub values: Vec<f64>,
    pub queries: usize,
    pub gallery: usize,
}

/// Each query's nearest gallery rows (row numbers), closest first, itself excluded.
fn neighbours(
    roles: &[Role],
    vectors: &[f32],
    dim: usize,
    metric: Metric,
    k: usize,
) -> Result<Vec<(usize, Vec<Hit>)>, IndexError> {
    let mut gallery = ExactIndex::new(dim, metric);
    for (row, role) in roles.iter().enumerate() {
        if *role != Role::Query {
            gallery.add(row as u64, &vectors[row * dim..][..dim])?;
        }
    }
    let queries: Vec<usize> = (0..roles.len()).filter(|&r| roles[r] != Role::Gallery).collect();
    let query_vectors: Vec<f32> = queries
        .iter()
        .flat_map(|&r| vectors[r * dim..][..dim].iter().copied())
        .collect();
    let results = gallery.search_batch(&query_vectors, k + 1, None)?;
    Ok(queries
        .into_iter()
        .zip(results)
        .map(|(row, hits)| {
            let hits: Vec<Hit> = hits.into_iter().filter(|h| h.key != row as u64).take(k).collect();
            (row, hits)
        })
        .collect())
}

/// Top-k retrieval accuracy: a query hits at k when any of its k nearest gallery images has
/// its item id. Queries whose item has no gallery image are left out (they cannot hit).
pub fn top_k_accuracy(
    item_ids: &[&str],
    roles: &[Role],
    vectors: &[f32],
    dim: usize,
    metric: Metric,
    ks: &[usize],
) -> Result<TopKTable, IndexError> {
    assert_eq!(item_ids.len(), roles.len(), "one item id per role");
    let k_max = ks.iter().copied().max().unwrap_or(0);
    let mut gallery_items: std::collections::HashMap<&str, usize> = Default::default();
    for (item, role) in item_ids.iter().zip(roles) {
        if *role != Role::Query {
            *gallery_items.entry(item).or_default() += 1;
        }
    }
    let answerable = |row: usize| {
        let own = usize::from(roles[row] == Role::Both);
        gallery_items.get(item_ids[row]).copied().unwrap_or(0) > own
    };
    let mut hits_at = vec![0usize; ks.len()];
    let mut queries = 0;
    for (row, hits) in neighbours(roles, vectors, dim, metric, k_max)? {
        if !answerable(row) {
            continue;
        }
        queries += 1;
        let first = hits.iter().position(|h| item_ids[h.key as usize] == item_ids[row]);
        for (count, &k) in hits_at.iter_mut().zip(ks) {
            if first.is_some_and(|p| p < k) {
                *count += 1;
            }
        }
    }
    Ok(TopKTable {
        ks: ks.to_vec(),
        values: hits_at.iter().map(|&h| h as f64 / queries.max(1) as f64).collect(),
        queries,
        gallery: roles.iter().filter(|r| **r != Role::Query).count(),
    })
}

/// Precision@k of an attribute: the mean fraction of a query's k nearest gallery images
/// whose value equals the query's. Rows with an empty value are neither queries nor counted.
pub fn precision_at_k(
    values: &[&str],
    roles: &[Role],
    vectors: &[f32],
    dim: usize,
    metric: Metric,
    ks: &[usize],
) -> Result<TopKTable, IndexError> {
    let k_max = ks.iter().copied().max().unwrap_or(0);
    let roles: Vec<Role> = roles
        .iter()
        .zip(values)
        .map(|(role, value)| if value.is_empty() { Role::Gallery } else { *role })
        .collect();
    let mut sums = vec![0.0f64; ks.len()];
    let mut queries = 0;
    for (row, hits) in neighbours(&roles, vectors, dim, metric, k_max)? {
        queries += 1;
        for (sum, &k) in sums.iter_mut().zip(ks) {
            let same = hits
                .iter()
                .take(k)
                .filter(|h| values[h.key as usize] == values[row])
                .count();
            *sum += same as f64 / k as f64;
        }
    }
    Ok(TopKTable {
        ks: ks.to_vec(),
        values: sums.iter().map(|s| s / queries.max(1) as f64).collect(),
        queries,
        gallery: roles.iter().filter(|r| **r != Role::Query).count(),
    })
}
