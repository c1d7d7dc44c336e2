//! What one forward pass of the seed model produces, and the vectors read off it.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::encoding::l2_normalise;

/// What one forward pass produces; all tensors have the batch first.
#[derive(Debug, Clone)]
pub struct SeedOutput<B: Backend> {
    /// `[N, L]` logits: element-wise max over the global and every step's scores.
    pub scores: Tensor<B, 2>,
    /// `[N, 256]` average-pooled global feature.
    pub global_feature: Tensor<B, 2>,
    /// Steps 0..=K, each `[N, E]`: step 0 encodes the whole map.
    pub encodings: Vec<Tensor<B, 2>>,
    /// Steps 1..=K, each `[N, 4]` = (sx, sy, tx, ty) over the whole input picture.
    pub thetas: Vec<Tensor<B, 2>>,
    /// The same steps relative to the frame they were placed in (the garment's box, or the
    /// picture): what the localisation constraints bound.
    pub relative_thetas: Vec<Tensor<B, 2>>,
    /// Steps 1..=K, each `[N, h, w]`: softmax-normalised footprint on the feature map.
    pub attention: Vec<Tensor<B, 3>>,
    /// `[N, P]`: the learned projection of the concatenated embedding, or of the global
    /// feature alone (when the model has one).
    pub projected: Option<Tensor<B, 2>>,
}

impl<B: Backend> SeedOutput<B> {
    /// The retrieval embedding `[N, 256 + (K+1)·E]`: the L2-normalised global feature
    /// followed by each step's L2-normalised encoding.
    /// With a projection, the embedding is that projection, L2-normalised.
    pub fn embedding(&self) -> Tensor<B, 2> {
        if let Some(projected) = &self.projected {
            return l2_normalise(projected.clone());
        }
        self.concatenated()
    }

    pub(crate) fn concatenated(&self) -> Tensor<B, 2> {
        let mut parts = vec![l2_normalise(self.global_feature.clone())];
        parts.extend(self.encodings.iter().cloned().map(l2_normalise));
        Tensor::cat(parts, 1)
    }

    /// Per-part vectors `[N, K+1, E]`, each L2-normalised (for recommendations by part).
    pub fn parts(&self) -> Tensor<B, 3> {
        let parts = self.encodings.iter().cloned().map(l2_normalise).collect();
        Tensor::stack(parts, 1)
    }
}
