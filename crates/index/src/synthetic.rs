//! Clustered unit vectors for tests and benchmarks. Real embeddings are not uniform noise:
//! catalogue photos bunch by garment type and colour, and within a bunch they vary along a
//! few directions (colour, length, pattern), not all 256 at once. HNSW recall depends on
//! that: isotropic noise in every dimension is the hardest case there is and no model
//! produces it.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The shape of the synthetic data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clusters {
    pub dim: usize,
    /// How many cluster centres (random unit vectors).
    pub clusters: usize,
    /// Directions each cluster varies along (its own random subspace).
    pub intrinsic: usize,
    /// Norm of the in-subspace variation relative to the unit centre.
    pub spread: f32,
    /// Norm of the isotropic noise on top (keeps the vectors full rank).
    pub noise: f32,
}

impl Clusters {
    /// The shape the tests and benchmarks use unless they say otherwise.
    pub fn new(dim: usize, clusters: usize) -> Self {
        Clusters {
            dim,
            clusters,
            intrinsic: 32,
            spread: 0.8,
            noise: 0.1,
        }
    }

    /// `n` unit vectors, deterministic in (`self`, `seed`). The cluster layout depends on
    /// `layout_seed` only, so queries drawn with another `seed` come from the same clusters.
    pub fn sample(&self, n: usize, layout_seed: u64, seed: u64) -> Vec<f32> {
        let (dim, r) = (self.dim, self.intrinsic);
        let clusters = self.clusters.max(1);
        let mut rng = SmallRng::seed_from_u64(layout_seed);
        let mut centres = vec![0.0f32; clusters * dim];
        for centre in centres.chunks_exact_mut(dim) {
            centre.iter_mut().for_each(|x| *x = gaussian(&mut rng));
            normalise(centre);
        }
        // Each cluster's directions: r random dim-vectors, scaled so the variation has
        // expected norm `spread`.
        let basis_scale = self.spread / ((r * dim) as f32).sqrt();
        let bases: Vec<f32> = (0..clusters * r * dim)
            .map(|_| gaussian(&mut rng) * basis_scale)
            .collect();
        let noise = self.noise / (dim as f32).sqrt();
        let mut rng = SmallRng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
        let mut vectors = vec![0.0f32; n * dim];
        let mut z = vec![0.0f32; r];
        for v in vectors.chunks_exact_mut(dim) {
            let c = rng.random_range(0..clusters);
            v.copy_from_slice(&centres[c * dim..][..dim]);
            z.iter_mut().for_each(|x| *x = gaussian(&mut rng));
            for (zi, direction) in z.iter().zip(bases[c * r * dim..][..r * dim].chunks_exact(dim)) {
                v.iter_mut().zip(direction).for_each(|(x, d)| *x += zi * d);
            }
            v.iter_mut().for_each(|x| *x += noise * gaussian(&mut rng));
            normalise(v);
        }
        vectors
    }
}

fn gaussian(rng: &mut SmallRng) -> f32 {
    // Box–Muller; one of the pair is enough here.
    let u: f32 = rng.random::<f32>().max(f32::MIN_POSITIVE);
    let v: f32 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}
