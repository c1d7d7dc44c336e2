//! k-reciprocal re-ranking (Zhong et al., "Re-ranking Person Re-identification with
//! k-reciprocal Encoding", CVPR 2017): two photos are close when their neighbourhoods agree,
//! not only their vectors. A distractor that sits near a query but among its own kind (whose
//! nearest neighbours do not include the query) moves down; a photo of the query's garment
//! that has the query among its own nearest moves up.
//!
//! Every row of the evaluation takes part in the neighbourhoods (queries included, as the
//! paper does); only gallery rows are ranked. Distances are computed as needed rather than
//! stored, so memory grows with rows × k1, not rows².

use lookbook_index::{Hit, Metric};
use rayon::prelude::*;

use crate::Role;

/// The re-ranking's three settings (the paper's k1, k2 and λ).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KReciprocal {
    /// Nearest neighbours a row's reciprocal set is drawn from (k1; 20 for person re-id,
    /// where an identity has many photos).
    pub k1: usize,
    /// Nearest neighbours whose encodings a row's is averaged with (local query expansion,
    /// k2; 1 = none).
    pub k2: usize,
    /// Weight of the original distance beside the Jaccard distance of the encodings (λ).
    pub lambda: f32,
}

impl std::str::FromStr for KReciprocal {
    type Err = String;

    /// `K1,K2,LAMBDA`, e.g. `20,6,0.3` (the paper's).
    fn from_str(text: &str) -> Result<Self, String> {
        let fields: Vec<&str> = text.split(',').map(str::trim).collect();
        let [k1, k2, lambda] = fields[..] else {
            return Err(format!("`{text}`: expected K1,K2,LAMBDA, e.g. 20,6,0.3"));
        };
        let count = |name: &str, value: &str| match value.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "`{text}`: {name} must be a positive whole number, not `{value}`"
            )),
        };
        let (k1, k2) = (count("K1", k1)?, count("K2", k2)?);
        if k2 > k1 + 1 {
            return Err(format!("`{text}`: K2 ({k2}) can be at most K1 + 1 ({})", k1 + 1));
        }
        let lambda = match lambda.parse::<f32>() {
            Ok(l) if (0.0..=1.0).contains(&l) => l,
            _ => return Err(format!("`{text}`: LAMBDA must be a number from 0 to 1, not `{lambda}`")),
        };
        Ok(KReciprocal { k1, k2, lambda })
    }
}

impl std::fmt::Display for KReciprocal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{},{},{}", self.k1, self.k2, self.lambda)
    }
}

/// The distance neighbourhoods are built on: squared Euclidean (the paper's) or `1 − cos`.
fn base_distance(metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    match metric {
        Metric::Euclidean => a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum(),
        Metric::Cosine => metric.distance(a, b),
    }
}

/// One row's sparse encoding: (row, weight) by row, weights summing to 1.
type Encoding = Vec<(u32, f32)>;

/// Each query's `k` nearest gallery rows by the re-ranked distance, closest first, itself
/// excluded (`Hit::distance` is the re-ranked distance) — the input of
/// [`crate::top_k_accuracy_of`] and [`crate::precision_at_k_of`], in the order of rows.
pub fn k_reciprocal_neighbours(
    roles: &[Role],
    vectors: &[f32],
    dim: usize,
    metric: Metric,
    settings: KReciprocal,
    k: usize,
) -> Vec<(usize, Vec<Hit>)> {
    let n = roles.len();
    assert_eq!(vectors.len(), n * dim, "one vector per role");
    let row = |i: usize| &vectors[i * dim..][..dim];
    // Each row's distances, divided by the row's largest (the paper's normalisation), and
    // that largest.
    let distances_of = |i: usize| -> (Vec<f32>, f32) {
        let mut d: Vec<f32> = (0..n).map(|j| base_distance(metric, row(i), row(j))).collect();
        let max = d.iter().copied().fold(0.0f32, f32::max);
        let scale = if max > 0.0 { max } else { 1.0 };
        d.iter_mut().for_each(|v| *v /= scale);
        d[i] = 0.0;
        (d, scale)
    };
    // Pass 1: each row's k1 + 1 nearest rows (itself first) and its distance scale.
    let width = (settings.k1 + 1).min(n);
    let (ranked, scales): (Vec<Vec<(u32, f32)>>, Vec<f32>) = (0..n)
        .into_par_iter()
        .map(|i| {
            let (d, scale) = distances_of(i);
            let mut order: Vec<(u32, f32)> = d.iter().enumerate().map(|(j, &v)| (j as u32, v)).collect();
            // Itself first whatever the ties, then by distance and row (deterministic).
            let key = |&(j, v): &(u32, f32)| (j as usize != i, v, j);
            let cmp = |a: &(u32, f32), b: &(u32, f32)| {
                let (a, b) = (key(a), key(b));
                a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2))
            };
            if width < n {
                order.select_nth_unstable_by(width - 1, cmp);
                order.truncate(width);
            }
            order.sort_by(cmp);
            // Only the k1 + 1 stay: give back the rest of the row (rows × rows otherwise).
            order.shrink_to_fit();
            (order, scale)
        })
        .unzip();
    let within = |j: usize, i: usize, k: usize| {
        ranked[j][..(k + 1).min(ranked[j].len())]
            .iter()
            .any(|&(r, _)| r as usize == i)
    };
    // R(i, k): i's k nearest that have i among their own k nearest.
    let reciprocal = |i: usize, k: usize| -> Vec<u32> {
        ranked[i][..(k + 1).min(ranked[i].len())]
            .iter()
            .map(|&(j, _)| j)
            .filter(|&j| within(j as usize, i, k))
            .collect()
    };
    let half = ((settings.k1 as f32) / 2.0).round() as usize;
    // Pass 2: each row's encoding over its reciprocal set, grown by the half-size reciprocal
    // sets of its members that mostly lie inside it (the paper's 2/3 rule).
    let encodings: Vec<Encoding> = (0..n)
        .into_par_iter()
        .map(|i| {
            let core = reciprocal(i, settings.k1);
            let mut grown = core.clone();
            for &c in &core {
                let candidate = reciprocal(c as usize, half);
                let shared = candidate.iter().filter(|r| core.contains(r)).count();
                if shared as f32 > 2.0 / 3.0 * candidate.len() as f32 {
                    grown.extend(candidate);
                }
            }
            grown.sort_unstable();
            grown.dedup();
            let weights: Vec<f32> = grown
                .iter()
                .map(|&j| (-base_distance(metric, row(i), row(j as usize)) / scales[i]).exp())
                .collect();
            let total: f32 = weights.iter().sum();
            grown.into_iter().zip(weights).map(|(j, w)| (j, w / total)).collect()
        })
        .collect();
    // Local query expansion: each encoding the mean of its k2 nearest rows' (itself included).
    let encodings: Vec<Encoding> = if settings.k2 <= 1 {
        encodings
    } else {
        (0..n)
            .into_par_iter()
            .map(|i| {
                let near = &ranked[i][..settings.k2.min(ranked[i].len())];
                let mut sum: std::collections::BTreeMap<u32, f32> = Default::default();
                for &(j, _) in near {
                    for &(c, w) in &encodings[j as usize] {
                        *sum.entry(c).or_default() += w / near.len() as f32;
                    }
                }
                sum.into_iter().collect()
            })
            .collect()
    };
    // Which rows' encodings have weight on each row (the paper's inverted index).
    let mut inverted: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n];
    for (r, encoding) in encodings.iter().enumerate() {
        for &(c, w) in encoding {
            inverted[c as usize].push((r as u32, w));
        }
    }
    let queries: Vec<usize> = (0..n).filter(|&i| roles[i] != Role::Gallery).collect();
    queries
        .into_par_iter()
        .map(|q| {
            // Σ min(V_q, V_j) for every row j; with encodings summing to 1, Σ max = 2 − Σ min.
            let mut shared = vec![0.0f32; n];
            for &(c, w) in &encodings[q] {
                for &(r, v) in &inverted[c as usize] {
                    shared[r as usize] += w.min(v);
                }
            }
            let (original, _) = distances_of(q);
            let mut hits: Vec<Hit> = (0..n)
                .filter(|&j| j != q && roles[j] != Role::Query)
                .map(|j| {
                    let jaccard = 1.0 - shared[j] / (2.0 - shared[j]);
                    Hit {
                        key: j as u64,
                        distance: (1.0 - settings.lambda) * jaccard + settings.lambda * original[j],
                    }
                })
                .collect();
            let cmp = |a: &Hit, b: &Hit| a.distance.total_cmp(&b.distance).then(a.key.cmp(&b.key));
            if k < hits.len() {
                hits.select_nth_unstable_by(k, cmp);
                hits.truncate(k);
            }
            hits.sort_by(cmp);
            (q, hits)
        })
        .collect()
}
