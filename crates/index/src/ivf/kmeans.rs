//! The lists' centres: k-means (Lloyd) on a sample, by exact top-1 searches.

use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand::seq::index::sample;
use rayon::prelude::*;

use crate::exact::squared_norm;
use crate::{ExactIndex, Metric, VectorIndex};

/// k-means rounds over the training sample.
const KMEANS_ROUNDS: usize = 12;
/// Training sample per list: k-means on a million points would cost more than it gains.
const SAMPLE_PER_LIST: usize = 64;

/// Cosine works on unit vectors: normalised once here, so centres and residuals agree.
pub(super) fn prepare_all(vectors: &[f32], dim: usize, metric: Metric) -> Vec<f32> {
    let mut prepared = vectors.to_vec();
    if metric == Metric::Cosine {
        prepared.par_chunks_exact_mut(dim).for_each(normalise);
    }
    prepared
}

pub(super) fn normalise(v: &mut [f32]) {
    let norm = squared_norm(v).sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// k-means (Lloyd) on a sample of `vectors`: `lists × dim` centres. Assignment is an exact
/// top-1 search of the sample against the centres, i.e. matrix products on every thread.
/// A centre left empty is moved onto the sample point farthest from its own centre.
pub(super) fn train(vectors: &[f32], dim: usize, metric: Metric, lists: usize) -> Vec<f32> {
    let n = vectors.len() / dim;
    if n == 0 {
        return vec![0.0; dim];
    }
    let mut rng = SmallRng::seed_from_u64(0x1f5_c0de);
    let sample_n = n.min(lists * SAMPLE_PER_LIST);
    let mut rows = sample(&mut rng, n, sample_n).into_vec();
    rows.sort_unstable();
    let sample_rows: Vec<f32> = rows.iter().flat_map(|&r| &vectors[r * dim..][..dim]).copied().collect();
    // Start from `lists` distinct sample points.
    let mut centres: Vec<f32> = sample_rows[..lists * dim].to_vec();
    for _ in 0..KMEANS_ROUNDS {
        let Ok(assigned) = centres_index(&centres, dim, metric).search_batch(&sample_rows, 1, None) else {
            break;
        };
        let mut sums = vec![0.0f64; lists * dim];
        let mut counts = vec![0usize; lists];
        for (v, hit) in sample_rows.chunks_exact(dim).zip(&assigned) {
            let list = hit[0].key as usize;
            counts[list] += 1;
            sums[list * dim..][..dim]
                .iter_mut()
                .zip(v)
                .for_each(|(s, x)| *s += *x as f64);
        }
        let mut farthest: Vec<usize> = (0..sample_n).collect();
        farthest.sort_by(|&a, &b| assigned[b][0].distance.total_cmp(&assigned[a][0].distance));
        let mut donors = farthest.into_iter();
        for list in 0..lists {
            let centre = &mut centres[list * dim..][..dim];
            if counts[list] == 0 {
                if let Some(row) = donors.next() {
                    centre.copy_from_slice(&sample_rows[row * dim..][..dim]);
                }
                continue;
            }
            centre
                .iter_mut()
                .zip(&sums[list * dim..][..dim])
                .for_each(|(c, s)| *c = (s / counts[list] as f64) as f32);
            if metric == Metric::Cosine {
                normalise(centre);
            }
        }
    }
    centres
}

fn centres_index(centres: &[f32], dim: usize, metric: Metric) -> ExactIndex {
    let mut index = ExactIndex::new(dim, metric);
    for (list, centre) in centres.chunks_exact(dim).enumerate() {
        index
            .add(list as u64, centre)
            .expect("centres are means of finite vectors");
    }
    index
}
