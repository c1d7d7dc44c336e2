//! The study's evaluation: for each query image, are images of the same item among its k
//! nearest gallery images (top-k accuracy, DeepFashion In-shop style), and how many of the
//! k nearest share an attribute value (precision@k), and how well the k nearest tag a new
//! photo (the study's kNN attribute probabilities).
//!
//! Functions here take vectors and labels, not catalogues or models, so each protocol is
//! checked on hand-built cases; the binary decides which images are queries and gallery.
//! [`attention`] measures whether attention steps land on distinct parts of the garment,
//! [`recommend`] recommendations against kNN per λ, [`leave_one_out`] an index as it is
//! searched, [`indexed`] an index's vectors as its catalogue's photos, [`rerank`] k-reciprocal
//! re-ranking.

pub mod attention;
pub mod catalogue;
pub mod indexed;
pub mod leave_one_out;
pub mod recommend;
pub mod rerank;
pub mod text;

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
    /// Precision@k tables only: the share of queries with at least one of the k nearest
    /// sharing their value (top-k accuracy by that value); empty for item-id tables.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hit_rates: Vec<f64>,
    pub queries: usize,
    pub gallery: usize,
}

/// Whether some item has two or more photos among `items`: the item-id protocols
/// (product-code, In-shop) need one, a catalogue with one photo per product has none.
pub fn has_repeated_items<'a>(items: impl IntoIterator<Item = &'a str>) -> bool {
    let mut seen = std::collections::HashSet::new();
    items.into_iter().any(|item| !seen.insert(item))
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

/// Average query expansion with database-side augmentation (Chum et al. 2007; Radenović et
/// al. 2018): every vector becomes the mean of itself and its `n` nearest gallery vectors
/// (itself left out), L2-normalised, queries and gallery alike — photos of one product that
/// share a neighbourhood move together. `n = 0` returns the vectors unchanged.
pub fn expand_by_neighbours(
    roles: &[Role],
    vectors: &[f32],
    dim: usize,
    metric: Metric,
    n: usize,
) -> Result<Vec<f32>, IndexError> {
    if n == 0 {
        return Ok(vectors.to_vec());
    }
    // Neighbours are searched among the gallery only, as a deployed index would hold it.
    let gallery_roles: Vec<Role> = roles
        .iter()
        .map(|r| if *r == Role::Query { Role::Query } else { Role::Both })
        .collect();
    let found = neighbours(&gallery_roles, vectors, dim, metric, n)?;
    let mut expanded = vectors.to_vec();
    for (row, hits) in found {
        let out = &mut expanded[row * dim..][..dim];
        for hit in &hits {
            let other = &vectors[hit.key as usize * dim..][..dim];
            out.iter_mut().zip(other).for_each(|(o, v)| *o += v);
        }
        let norm = out.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        out.iter_mut().for_each(|v| *v /= norm);
    }
    Ok(expanded)
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
    let k_max = ks.iter().copied().max().unwrap_or(0);
    let found = neighbours(roles, vectors, dim, metric, k_max)?;
    Ok(top_k_accuracy_of(item_ids, roles, &found, ks))
}

/// [`top_k_accuracy`] from neighbours found elsewhere (an index's own search, approximate or
/// in a database): each query row with its nearest gallery rows (`Hit::key` = row), closest
/// first, itself left out.
pub fn top_k_accuracy_of(item_ids: &[&str], roles: &[Role], found: &[(usize, Vec<Hit>)], ks: &[usize]) -> TopKTable {
    assert_eq!(item_ids.len(), roles.len(), "one item id per role");
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
    for &(row, ref hits) in found {
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
    TopKTable {
        ks: ks.to_vec(),
        values: hits_at.iter().map(|&h| h as f64 / queries.max(1) as f64).collect(),
        hit_rates: Vec::new(),
        queries,
        gallery: roles.iter().filter(|r| **r != Role::Query).count(),
    }
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
    let roles = valued_queries(roles, values);
    let found = neighbours(&roles, vectors, dim, metric, k_max)?;
    Ok(precision_at_k_of(values, &roles, &found, ks))
}

/// `roles` with every row whose value is empty made gallery only: precision@k has no answer
/// for a photo without a value, but it may still be another's neighbour.
pub fn valued_queries(roles: &[Role], values: &[&str]) -> Vec<Role> {
    roles
        .iter()
        .zip(values)
        .map(|(role, value)| if value.is_empty() { Role::Gallery } else { *role })
        .collect()
}

/// [`precision_at_k`] from neighbours found elsewhere (see [`top_k_accuracy_of`]); rows
/// with an empty value are not queries.
pub fn precision_at_k_of(values: &[&str], roles: &[Role], found: &[(usize, Vec<Hit>)], ks: &[usize]) -> TopKTable {
    let mut sums = vec![0.0f64; ks.len()];
    let mut hits_at = vec![0usize; ks.len()];
    let mut queries = 0;
    for &(row, ref hits) in found {
        if values[row].is_empty() || roles[row] == Role::Gallery {
            continue;
        }
        queries += 1;
        for ((sum, hit), &k) in sums.iter_mut().zip(&mut hits_at).zip(ks) {
            let same = hits
                .iter()
                .take(k)
                .filter(|h| values[h.key as usize] == values[row])
                .count();
            *sum += same as f64 / k as f64;
            *hit += usize::from(same > 0);
        }
    }
    let per_query = |n: f64| n / queries.max(1) as f64;
    TopKTable {
        ks: ks.to_vec(),
        values: sums.iter().map(|&s| per_query(s)).collect(),
        hit_rates: hits_at.iter().map(|&h| per_query(h as f64)).collect(),
        queries,
        gallery: roles.iter().filter(|r| **r != Role::Query).count(),
    }
}

/// The study's kNN attribute prediction, P(y = j | X = a) = (1/K) Σ_{i∈A} I(y_i = j): each
/// value's share of the K nearest neighbours `values` (empty values count towards K but no
/// class). Most probable first; ties by value, so the answer is deterministic.
pub fn knn_probabilities<'a>(values: impl IntoIterator<Item = &'a str>, k: usize) -> Vec<(String, f64)> {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for value in values.into_iter().filter(|v| !v.is_empty()) {
        *counts.entry(value).or_default() += 1;
    }
    let mut probabilities: Vec<(String, f64)> = counts
        .into_iter()
        .map(|(value, count)| (value.to_string(), count as f64 / k.max(1) as f64))
        .collect();
    probabilities.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    probabilities
}

/// Whether a column is a category to predict by kNN tagging: at most one distinct value
/// per four non-empty values (names and identifiers, nearly one value per image, are not).
pub fn is_categorical<'a>(values: impl IntoIterator<Item = &'a str>) -> bool {
    let values: Vec<&str> = values.into_iter().filter(|v| !v.is_empty()).collect();
    let distinct: std::collections::HashSet<&str> = values.iter().copied().collect();
    distinct.len() * 4 <= values.len()
}

/// How well kNN tagging predicts one attribute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagAccuracy {
    pub attribute: String,
    /// Fraction of queries whose most probable value is their own.
    pub accuracy: f64,
    /// The same for always answering the gallery's most common value.
    pub prior: f64,
    pub majority: String,
    /// Queries with a value for this attribute.
    pub queries: usize,
}

/// kNN tagging accuracy per attribute. `values[c][row]` is attribute `c` of image `row`. A
/// query's neighbours are its `k` nearest gallery images of *other* items (a new product
/// photo has no siblings in the catalogue), so `Role::Both` is leave-one-item-out.
#[allow(clippy::too_many_arguments)]
pub fn tag_accuracy(
    attributes: &[String],
    values: &[Vec<&str>],
    item_ids: &[&str],
    roles: &[Role],
    vectors: &[f32],
    dim: usize,
    metric: Metric,
    k: usize,
) -> Result<Vec<TagAccuracy>, IndexError> {
    assert_eq!(attributes.len(), values.len(), "one value column per attribute");
    let mut per_item: std::collections::HashMap<&str, usize> = Default::default();
    for (item, role) in item_ids.iter().zip(roles) {
        if *role != Role::Query {
            *per_item.entry(item).or_default() += 1;
        }
    }
    // Room for every sibling of the query's item before the k that count.
    let widest = per_item.values().copied().max().unwrap_or(0);
    let neighbours: Vec<(usize, Vec<usize>)> = neighbours(roles, vectors, dim, metric, k + widest)?
        .into_iter()
        .map(|(row, hits)| {
            let rows: Vec<usize> = hits
                .iter()
                .map(|h| h.key as usize)
                .filter(|&r| item_ids[r] != item_ids[row])
                .take(k)
                .collect();
            (row, rows)
        })
        .collect();
    let mut table = Vec::with_capacity(attributes.len());
    for (attribute, column) in attributes.iter().zip(values) {
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        for (value, role) in column.iter().zip(roles) {
            if *role != Role::Query && !value.is_empty() {
                *counts.entry(value).or_default() += 1;
            }
        }
        let majority = counts
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map_or("", |(v, _)| *v);
        let (mut queries, mut right, mut prior) = (0usize, 0usize, 0usize);
        for (row, rows) in &neighbours {
            let truth = column[*row];
            if truth.is_empty() {
                continue;
            }
            queries += 1;
            let predicted = knn_probabilities(rows.iter().map(|&r| column[r]), k);
            right += usize::from(predicted.first().is_some_and(|(v, _)| v == truth));
            prior += usize::from(truth == majority);
        }
        table.push(TagAccuracy {
            attribute: attribute.clone(),
            accuracy: right as f64 / queries.max(1) as f64,
            prior: prior as f64 / queries.max(1) as f64,
            majority: majority.to_string(),
            queries,
        });
    }
    Ok(table)
}
