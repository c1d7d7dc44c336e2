//! Deep TEN's texture encoding layer (Zhang et al., CVPR 2017).
//!
//! For region features xᵢ (D-dim), learnable codewords c_k and smoothing factors s_k:
//! r_ik = xᵢ − c_k, a_ik = softmax_k(−s_k‖r_ik‖²), e_k = Σᵢ a_ik r_ik. The output is the
//! L2-normalised concatenation of the e_k (C·D values), projected to `encoding_dim`.
//!
//! Residuals are never materialised (N·M·C·D floats): ‖r_ik‖² = ‖xᵢ‖² − 2xᵢ·c_k + ‖c_k‖²
//! and e_k = Σᵢ a_ik xᵢ − (Σᵢ a_ik) c_k are two matrix products.

use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::Tensor;
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;

#[derive(Module, Debug)]
pub struct TextureEncoding<B: Backend> {
    /// `[C, D]`.
    pub codewords: Param<Tensor<B, 2>>,
    /// `[C]`, the s_k.
    pub smoothing: Param<Tensor<B, 1>>,
    pub projection: Linear<B>,
}

/// Keeps the L2 normalisation finite for an all-zero encoding.
const NORM_EPS: f64 = 1e-6;

impl<B: Backend> TextureEncoding<B> {
    pub fn new(channels: usize, codewords: usize, output: usize, device: &B::Device) -> Self {
        // Deep TEN's initialisation: codewords uniform in ±1/√(C·D), smoothing factors
        // uniform in [0, 1).
        let bound = 1.0 / ((codewords * channels) as f64).sqrt();
        let codewords_init = Initializer::Uniform {
            min: -bound,
            max: bound,
        };
        let smoothing_init = Initializer::Uniform { min: 0.0, max: 1.0 };
        TextureEncoding {
            codewords: codewords_init.init([codewords, channels], device),
            smoothing: smoothing_init.init([codewords], device),
            projection: LinearConfig::new(codewords * channels, output).init(device),
        }
    }

    pub fn num_codewords(&self) -> usize {
        self.codewords.dims()[0]
    }

    /// Soft-assigned residual encoding of `features` `[N, D, h, w]` → `[N, C·D]`, L2-normalised.
    pub fn encode(&self, features: Tensor<B, 4>) -> Tensor<B, 2> {
        let [n, d, h, w] = features.dims();
        let c = self.num_codewords();
        let m = h * w;
        let x = features.reshape([n, d, m]).swap_dims(1, 2); // [N, M, D]
        let codewords = self.codewords.val(); // [C, D]
        let xx = x.clone().powf_scalar(2.0).sum_dim(2); // [N, M, 1]
        let cc = codewords.clone().powf_scalar(2.0).sum_dim(1).reshape([1, 1, c]); // [1, 1, C]
        let xc = x.clone().matmul(codewords.clone().transpose().unsqueeze_dim::<3>(0)); // [N, M, C]
        let distances = (xx - xc.mul_scalar(2.0) + cc).clamp_min(0.0);
        let smoothing = self.smoothing.val().reshape([1, 1, c]);
        let assignment = softmax(distances.mul(smoothing).neg(), 2); // [N, M, C]
        let weighted = assignment.clone().swap_dims(1, 2).matmul(x); // [N, C, D]
        let mass = assignment.sum_dim(1).swap_dims(1, 2); // [N, C, 1]
        let encoded = weighted - mass * codewords.unsqueeze_dim::<3>(0); // [N, C, D]
        l2_normalise(encoded.reshape([n, c * d]))
    }

    /// `[N, D, h, w]` → `[N, output]`.
    pub fn forward(&self, features: Tensor<B, 4>) -> Tensor<B, 2> {
        self.projection.forward(self.encode(features))
    }
}

/// Rows scaled to unit L2 norm.
pub fn l2_normalise<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let norm = x.clone().powf_scalar(2.0).sum_dim(1).sqrt().add_scalar(NORM_EPS);
    x / norm
}
