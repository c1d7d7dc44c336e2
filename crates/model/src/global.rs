//! The study's global branch: a VGG-style stack, 3 × 384 × 256 → 256 × 24 × 16.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, PaddingConfig2d};
use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;

use crate::config::SeedConfig;

/// conv3×3 64, conv3×3 64, dropout, max-pool 4/4, batch-norm; conv 128 ×2, dropout,
/// max-pool 4/4, batch-norm; conv 256 ×2. Padding 1, stride 1, ReLU after each conv.
#[derive(Module, Debug)]
pub struct GlobalBranch<B: Backend> {
    conv1a: Conv2d<B>,
    conv1b: Conv2d<B>,
    dropout1: Dropout,
    pool1: MaxPool2d,
    norm1: BatchNorm<B>,
    conv2a: Conv2d<B>,
    conv2b: Conv2d<B>,
    dropout2: Dropout,
    pool2: MaxPool2d,
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
        let pool = MaxPool2dConfig::new([4, 4]).with_strides([4, 4]);
        let dropout = DropoutConfig::new(config.dropout);
        GlobalBranch {
            conv1a: conv3x3(3, 64, device),
            conv1b: conv3x3(64, 64, device),
            dropout1: dropout.init(),
            pool1: pool.init(),
            norm1: BatchNormConfig::new(64).init(device),
            conv2a: conv3x3(64, 128, device),
            conv2b: conv3x3(128, 128, device),
            dropout2: dropout.init(),
            pool2: pool.init(),
            norm2: BatchNormConfig::new(128).init(device),
            conv3a: conv3x3(128, 256, device),
            conv3b: conv3x3(256, SeedConfig::FEATURE_CHANNELS, device),
        }
    }

    /// `[N, 3, H, W]` → `[N, 256, H/16, W/16]`. Dropout and batch statistics are active
    /// only on an autodiff backend (training); `model.valid()` gives the eval behaviour.
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 4> {
        let x = relu(self.conv1a.forward(images));
        let x = relu(self.conv1b.forward(x));
        let x = self.norm1.forward(self.pool1.forward(self.dropout1.forward(x)));
        let x = relu(self.conv2a.forward(x));
        let x = relu(self.conv2b.forward(x));
        let x = self.norm2.forward(self.pool2.forward(self.dropout2.forward(x)));
        let x = relu(self.conv3a.forward(x));
        relu(self.conv3b.forward(x))
    }
}
