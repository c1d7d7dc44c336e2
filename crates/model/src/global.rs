//! The study's global branch: a VGG-style stack, 3 × 384 × 256 → 256 × 24 × 16.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, PaddingConfig2d};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor, TensorData, TensorPrimitive};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::backend::SeedBackend;
use crate::config::SeedConfig;

/// conv3×3 64, conv3×3 64, dropout, max-pool 4/4, batch-norm; conv 128 ×2, dropout,
/// max-pool 4/4, batch-norm; conv 256 ×2. Padding 1, stride 1, ReLU after each conv.
#[derive(Module, Debug)]
pub struct GlobalBranch<B: Backend> {
    conv1a: Conv2d<B>,
    conv1b: Conv2d<B>,
    dropout1: Dropout,
    norm1: BatchNorm<B>,
    conv2a: Conv2d<B>,
    conv2b: Conv2d<B>,
    dropout2: Dropout,
    norm2: BatchNorm<B>,
    conv3a: Conv2d<B>,
    conv3b: Conv2d<B>,
}

fn conv3x3<B: Backend>(input: usize, output: usize, device: &B::Device) -> Conv2d<B> {
    Conv2dConfig::new([input, output], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

impl<B: Backend> GlobalBranch<B> {
    pub fn new(config: &SeedConfig, device: &B::Device) -> Self {
        let dropout = DropoutConfig::new(config.dropout);
        GlobalBranch {
            conv1a: conv3x3(3, 64, device),
            conv1b: conv3x3(64, 64, device),
            dropout1: dropout.init(),
            norm1: BatchNormConfig::new(64).init(device),
            conv2a: conv3x3(64, 128, device),
            conv2b: conv3x3(128, 128, device),
            dropout2: dropout.init(),
            norm2: BatchNormConfig::new(128).init(device),
            conv3a: conv3x3(128, 256, device),
            conv3b: conv3x3(256, SeedConfig::FEATURE_CHANNELS, device),
        }
    }
}

/// `relu(conv(x))` through [`SeedBackend::conv3x3_relu`] (our kernel on the CPU); the layer
/// stays a burn `Conv2d`, so its parameters and checkpoints are burn's.
fn conv_relu<B: SeedBackend>(conv: &Conv2d<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let bias = conv.bias.as_ref().expect("every layer of the global branch has a bias");
    let out = B::conv3x3_relu(
        x.into_primitive().tensor(),
        conv.weight.val().into_primitive().tensor(),
        bias.val().into_primitive().tensor(),
    );
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// Inference: `max_pool4(conv_relu(conv, x))` through [`SeedBackend::conv3x3_relu_pool4`].
fn conv_relu_pool4<B: SeedBackend>(conv: &Conv2d<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let bias = conv.bias.as_ref().expect("every layer of the global branch has a bias");
    let out = B::conv3x3_relu_pool4(
        x.into_primitive().tensor(),
        conv.weight.val().into_primitive().tensor(),
        bias.val().into_primitive().tensor(),
    );
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// Batch-norm with the running statistics, as burn's `BatchNorm` computes it at inference,
/// folded into one per-channel scale and shift ([`SeedBackend::channel_affine`]).
pub fn batch_norm_inference<B: SeedBackend>(norm: &BatchNorm<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let std = norm.running_var.value().add_scalar(norm.epsilon).sqrt();
    let scale = norm.gamma.val() / std;
    let shift = norm.beta.val() - norm.running_mean.value() * scale.clone();
    let out = B::channel_affine(
        x.into_primitive().tensor(),
        scale.into_primitive().tensor(),
        shift.into_primitive().tensor(),
    );
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// 4×4 max-pool, stride 4, through [`SeedBackend::max_pool4`].
fn max_pool4<B: SeedBackend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    Tensor::from_primitive(TensorPrimitive::Float(B::max_pool4(x.into_primitive().tensor())))
}

/// Inverted dropout, active only on an autodiff backend (training), like burn's `Dropout`.
///
/// burn draws its mask with one ChaCha generator on one thread, which was 6% of a training
/// step at 192×128; this draws it in parallel chunks from small generators whose seeds come
/// from the backend's RNG, so `--seed` still makes a run repeatable.
fn dropout<B: Backend>(x: Tensor<B, 4>, prob: f64) -> Tensor<B, 4> {
    let device = x.device();
    if !B::ad_enabled(&device) || prob <= 0.0 {
        return x;
    }
    let seed_draw: Vec<f32> = Tensor::<B, 1>::random([2], Distribution::Default, &device)
        .into_data()
        .convert::<f32>()
        .to_vec()
        .expect("f32 data");
    let seed = ((seed_draw[0] * u32::MAX as f32) as u64) << 32 | (seed_draw[1] * u32::MAX as f32) as u64;
    let keep = 1.0 - prob;
    let scale = (1.0 / keep) as f32;
    let shape = x.shape();
    let mut mask = vec![0.0f32; shape.num_elements()];
    const CHUNK: usize = 1 << 16;
    mask.par_chunks_mut(CHUNK).enumerate().for_each(|(i, chunk)| {
        let mut rng = SmallRng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        for m in chunk {
            *m = if rng.random::<f64>() < keep { scale } else { 0.0 };
        }
    });
    x * Tensor::from_data(TensorData::new(mask, shape), &device)
}

impl<B: SeedBackend> GlobalBranch<B> {
    /// `[N, 3, H, W]` → `[N, 256, H/16, W/16]`. Dropout and batch statistics are active
    /// only on an autodiff backend (training); `model.valid()` gives the eval behaviour.
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 4> {
        let training = B::ad_enabled(&images.device());
        // Training needs the activation before the pool (dropout, and the backward pass);
        // inference pools straight out of the convolution.
        let conv_pool = |conv: &Conv2d<B>, x: Tensor<B, 4>, prob: f64| match training {
            true => max_pool4(dropout(conv_relu(conv, x), prob)),
            false => conv_relu_pool4(conv, x),
        };
        let norm = |norm: &BatchNorm<B>, x: Tensor<B, 4>| match training {
            true => norm.forward(x),
            false => batch_norm_inference(norm, x),
        };
        let x = conv_relu(&self.conv1a, images);
        let x = norm(&self.norm1, conv_pool(&self.conv1b, x, self.dropout1.prob));
        let x = conv_relu(&self.conv2a, x);
        let x = norm(&self.norm2, conv_pool(&self.conv2b, x, self.dropout2.prob));
        let x = conv_relu(&self.conv3a, x);
        conv_relu(&self.conv3b, x)
    }
}
