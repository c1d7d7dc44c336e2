//! EfficientNet-Lite0 and -Lite2 (ImageNet-1k), the pretrained backbones
//! (`backbone = "efficientnet-lite0"` / `"efficientnet-lite2"`).
//!
//! ```text
//! 3×H×W ─► stem 3×3/2 (32) ─► MBConv blocks ─► C×H/32×W/32 ─► head 1×1 (1280) ─► avg pool ─► fc 1000
//! MBConv: expand 1×1 (×6) ─► depthwise k×k (stride s) ─► project 1×1, + input when s = 1 and shapes match
//! ```
//! The Lite variant drops squeeze-excitation and uses ReLU6; every convolution pads like
//! TensorFlow's "same" (extra pixel at the bottom/right). Batch-norm (eps 1e-3, running
//! statistics) is folded into the preceding convolution when the weights are loaded:
//! the trunk is used for inference, or fine-tuned with its statistics frozen. Lite2 is Lite0
//! with more blocks per stage and wider stages (width 1.1, depth 1.2; the stem and head keep
//! their widths, as every Lite model does), evaluated at 260 px.

use std::path::Path;

use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::module::conv2d;
use burn::tensor::ops::PaddedConvOptions;
use burn::tensor::{Tensor, TensorData};
use lookbook_pretrained::{
    EFFICIENTNET_LITE0, EFFICIENTNET_LITE2, NamedTensor, PretrainedWeights, WeightsError, locate, read_safetensors,
};

use crate::ModelError;
use crate::lite_kernels::same_padding;

/// Per stage: (kernel, stride of the first block, expansion); the same in every Lite model.
const STAGES: [(usize, usize, usize); 7] = [
    (3, 1, 1),
    (3, 2, 6),
    (5, 2, 6),
    (3, 2, 6),
    (5, 1, 6),
    (5, 2, 6),
    (3, 1, 6),
];

/// One EfficientNet-Lite network: its weights and the shape they must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiteVariant {
    pub weights: PretrainedWeights,
    /// Blocks per stage.
    pub repeats: [usize; 7],
    /// Output channels per stage (the last is the trunk's).
    pub channels: [usize; 7],
    /// The square input its ImageNet weights were evaluated at.
    pub resolution: usize,
}

impl LiteVariant {
    /// Channels of the trunk's output (the last stage).
    pub fn trunk_channels(&self) -> usize {
        self.channels[6]
    }

    /// How many MBConv blocks the trunk has.
    pub fn blocks(&self) -> usize {
        self.repeats.iter().sum()
    }

    /// Every MBConv block's shape, in order.
    pub fn block_shapes(&self) -> Vec<BlockShape> {
        let mut shapes = Vec::with_capacity(self.blocks());
        let mut input = STEM_CHANNELS;
        let stages = STAGES.iter().zip(self.repeats).zip(self.channels);
        for ((&(kernel, first_stride, expansion), repeats), output) in stages {
            for repeat in 0..repeats {
                shapes.push(BlockShape {
                    input,
                    output,
                    kernel,
                    stride: if repeat == 0 { first_stride } else { 1 },
                    expansion,
                });
                input = output;
            }
        }
        shapes
    }
}

/// One MBConv block's channels, depthwise kernel, stride and expansion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockShape {
    pub input: usize,
    pub output: usize,
    pub kernel: usize,
    pub stride: usize,
    pub expansion: usize,
}

impl BlockShape {
    /// Channels of the expanded (depthwise) tensor.
    pub fn hidden(&self) -> usize {
        self.input * self.expansion
    }

    /// The block adds its input to its output (same shape in and out).
    pub fn residual(&self) -> bool {
        self.stride == 1 && self.input == self.output
    }
}

pub const LITE0: LiteVariant = LiteVariant {
    weights: EFFICIENTNET_LITE0,
    repeats: [1, 2, 2, 3, 3, 4, 1],
    channels: [16, 24, 40, 80, 112, 192, 320],
    resolution: 224,
};

/// Depth 1.2 (⌈1.2·n⌉ blocks; the first and last stages stay at one) and width 1.1 (channels
/// rounded to multiples of 8), as `efficientnet_lite_builder` scales Lite0.
pub const LITE2: LiteVariant = LiteVariant {
    weights: EFFICIENTNET_LITE2,
    repeats: [1, 3, 3, 4, 4, 5, 1],
    channels: [16, 24, 48, 88, 120, 208, 352],
    resolution: 260,
};

/// The pretrained backbones, by name.
pub const LITE_VARIANTS: [LiteVariant; 2] = [LITE0, LITE2];

/// The variant called `name` (`efficientnet-lite0`, `efficientnet-lite2`).
pub fn lite_variant(name: &str) -> Result<&'static LiteVariant, ModelError> {
    LITE_VARIANTS
        .iter()
        .find(|v| v.weights.name == name)
        .ok_or_else(|| ModelError::UnknownBackbone(name.to_string()))
}

const STEM_CHANNELS: usize = 32;
const BN_EPS: f32 = 1e-3;

/// A convolution with its batch-norm folded in, and an optional ReLU6.
#[derive(Module, Debug)]
pub struct FoldedConv<B: Backend> {
    /// `[out, in / groups, k, k]`.
    pub weight: Param<Tensor<B, 4>>,
    pub bias: Param<Tensor<B, 1>>,
    pub stride: usize,
    pub groups: usize,
    pub relu6: bool,
}

impl<B: Backend> FoldedConv<B> {
    /// A zero convolution of this shape, for a checkpoint's weights to be loaded into.
    pub fn zeros(out: usize, input: usize, kernel: usize, relu6: bool, device: &B::Device) -> Self {
        FoldedConv {
            weight: Param::from_tensor(Tensor::zeros([out, input, kernel, kernel], device)),
            bias: Param::from_tensor(Tensor::zeros([out], device)),
            stride: 1,
            groups: 1,
            relu6,
        }
    }

    /// A 1×1 convolution on channels-last rows `[M, in]` → `[M, out]` (one matrix product).
    pub fn pointwise(&self, rows: Tensor<B, 2>) -> Tensor<B, 2> {
        let [out, input, _, _] = self.weight.dims();
        let y = rows.matmul(self.weight.val().reshape([out, input]).transpose()) + self.bias.val().unsqueeze_dim(0);
        if self.relu6 { y.clamp(0.0, 6.0) } else { y }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [_, _, h, w] = x.dims();
        let k = self.weight.dims()[2];
        let (top, bottom) = same_padding(h, k, self.stride);
        let (left, right) = same_padding(w, k, self.stride);
        let options =
            PaddedConvOptions::asymmetric([self.stride; 2], [top, left], [bottom, right], [1, 1], self.groups);
        let y = conv2d(x, self.weight.val(), Some(self.bias.val()), options);
        if self.relu6 { y.clamp(0.0, 6.0) } else { y }
    }
}

#[derive(Module, Debug)]
pub struct MbConv<B: Backend> {
    pub expand: Option<FoldedConv<B>>,
    pub depthwise: FoldedConv<B>,
    pub project: FoldedConv<B>,
    pub residual: bool,
}

impl<B: Backend> MbConv<B> {
    /// A zero block of `shape`, for a checkpoint's weights to be loaded into.
    pub fn zeros(shape: BlockShape, device: &B::Device) -> Self {
        let hidden = shape.hidden();
        let depthwise = FoldedConv {
            stride: shape.stride,
            groups: hidden,
            ..FoldedConv::zeros(hidden, 1, shape.kernel, true, device)
        };
        MbConv {
            expand: (shape.expansion != 1).then(|| FoldedConv::zeros(hidden, shape.input, 1, true, device)),
            depthwise,
            project: FoldedConv::zeros(shape.output, hidden, 1, false, device),
            residual: shape.residual(),
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut y = match &self.expand {
            Some(expand) => expand.forward(x.clone()),
            None => x.clone(),
        };
        y = self.depthwise.forward(y);
        y = self.project.forward(y);
        if self.residual { y + x } else { y }
    }
}

#[derive(Module, Debug)]
pub struct EfficientNetLite<B: Backend> {
    pub stem: FoldedConv<B>,
    pub blocks: Vec<MbConv<B>>,
    pub head: FoldedConv<B>,
    /// `[1280, 1000]` and `[1000]`: the ImageNet classifier.
    pub fc_weight: Param<Tensor<B, 2>>,
    pub fc_bias: Param<Tensor<B, 1>>,
}

impl<B: Backend> EfficientNetLite<B> {
    /// Channels of the head (every Lite model's).
    pub const FEATURE_CHANNELS: usize = 1280;
    /// The trunk halves the resolution five times.
    pub const DOWNSAMPLE: usize = 32;

    /// Builds `variant` from a PyTorch state dict in lukemelas' EfficientNet-PyTorch
    /// naming (`_conv_stem`, `_bn0`, `_blocks.N._expand_conv`, ...), folding each batch-norm.
    pub fn from_tensors(
        variant: &LiteVariant,
        tensors: &[NamedTensor],
        device: &B::Device,
    ) -> Result<Self, ModelError> {
        Self::build(variant, tensors, device).map_err(ModelError::WeightLayout)
    }

    /// `variant` from a converted safetensors file, its names and shapes checked.
    pub fn from_file(variant: &LiteVariant, path: &Path, device: &B::Device) -> Result<Self, ModelError> {
        let tensors = read_safetensors(path)?;
        Self::build(variant, &tensors, device).map_err(|message| {
            ModelError::Weights(WeightsError::Mismatch {
                path: path.to_path_buf(),
                message,
            })
        })
    }

    /// The pretrained network `name` names (one of [`crate::BACKBONES`] but `seed`), with
    /// weights from `weights` or where [`lookbook_pretrained::locate`] finds them: the one
    /// loader of a pretrained backbone, for training, embedding and the server alike.
    pub fn pretrained(name: &str, weights: Option<&Path>, device: &B::Device) -> Result<Self, ModelError> {
        let variant = lite_variant(name)?;
        Self::from_file(variant, &locate(&variant.weights, weights)?, device)
    }

    fn build(variant: &LiteVariant, tensors: &[NamedTensor], device: &B::Device) -> Result<Self, String> {
        let weights = Weights { tensors };
        let stem = weights.conv("_conv_stem", "_bn0", 2, 1, true, device)?;
        let mut blocks = Vec::new();
        let mut channels = STEM_CHANNELS;
        for shape in variant.block_shapes() {
            let prefix = format!("_blocks.{}", blocks.len());
            let hidden = shape.hidden();
            let expand = if shape.expansion == 1 {
                None
            } else {
                Some(weights.conv(
                    &format!("{prefix}._expand_conv"),
                    &format!("{prefix}._bn0"),
                    1,
                    1,
                    true,
                    device,
                )?)
            };
            let depthwise = weights.conv(
                &format!("{prefix}._depthwise_conv"),
                &format!("{prefix}._bn1"),
                shape.stride,
                hidden,
                true,
                device,
            )?;
            let project = weights.conv(
                &format!("{prefix}._project_conv"),
                &format!("{prefix}._bn2"),
                1,
                1,
                false,
                device,
            )?;
            weights.expect_shape(
                &format!("{prefix}._depthwise_conv.weight"),
                &[hidden, 1, shape.kernel, shape.kernel],
            )?;
            weights.expect_shape(&format!("{prefix}._project_conv.weight"), &[shape.output, hidden, 1, 1])?;
            blocks.push(MbConv {
                expand,
                depthwise,
                project,
                residual: shape.residual(),
            });
            channels = shape.output;
        }
        if weights
            .get(&format!("_blocks.{}._project_conv.weight", blocks.len()))
            .is_ok()
        {
            return Err(format!(
                "more than {} blocks: not {}'s weights",
                blocks.len(),
                variant.weights.name
            ));
        }
        let head = weights.conv("_conv_head", "_bn1", 1, 1, true, device)?;
        weights.expect_shape("_conv_head.weight", &[Self::FEATURE_CHANNELS, channels, 1, 1])?;
        let fc = weights.get("_fc.weight")?;
        let [classes, inputs] = fc.shape[..] else {
            return Err("_fc.weight is not a matrix".into());
        };
        let fc_weight =
            Tensor::<B, 2>::from_data(TensorData::new(weights.floats(fc)?, [classes, inputs]), device).transpose();
        let fc_bias = weights.vector("_fc.bias", device)?;
        Ok(EfficientNetLite {
            stem,
            blocks,
            head,
            fc_weight: Param::from_tensor(fc_weight),
            fc_bias: Param::from_tensor(fc_bias),
        })
    }

    /// `[N, 3, H, W]` → `[N, trunk channels, H/32, W/32]`: stem and every block.
    pub fn trunk(&self, images: Tensor<B, 4>) -> Tensor<B, 4> {
        self.trunk_until(images, self.blocks.len())
    }

    /// The stem and the first `end` blocks: the frozen part of a trunk whose last blocks are
    /// fine-tuned (they continue from here, [`EfficientNetLite::blocks_from`]).
    pub fn trunk_until(&self, images: Tensor<B, 4>, end: usize) -> Tensor<B, 4> {
        let mut x = self.stem.forward(images);
        for block in &self.blocks[..end] {
            x = block.forward(x);
        }
        x
    }

    /// The trunk from block `first` on (for fine-tuning only the top blocks).
    pub fn blocks_from(&self, first: usize, mut x: Tensor<B, 4>) -> Tensor<B, 4> {
        for block in &self.blocks[first..] {
            x = block.forward(x);
        }
        x
    }

    /// Channels of the trunk's output (320 for Lite0, 352 for Lite2).
    pub fn trunk_channels(&self) -> usize {
        self.head.weight.dims()[1]
    }

    /// `[N, trunk channels, h, w]` → `[N, 1280, h, w]`.
    pub fn head(&self, trunk: Tensor<B, 4>) -> Tensor<B, 4> {
        self.head.forward(trunk)
    }

    /// `[N, 3, H, W]` → `[N, 1280]`: the globally average-pooled head features.
    pub fn pooled(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        let features = self.head(self.trunk(images));
        let [n, c, _, _] = features.dims();
        features.mean_dim(3).mean_dim(2).reshape([n, c])
    }

    /// `[N, 1280]` pooled features → `[N, 1000]` ImageNet logits.
    pub fn classify(&self, pooled: Tensor<B, 2>) -> Tensor<B, 2> {
        pooled.matmul(self.fc_weight.val()) + self.fc_bias.val().unsqueeze_dim(0)
    }
}

struct Weights<'a> {
    tensors: &'a [NamedTensor],
}

impl Weights<'_> {
    fn get(&self, name: &str) -> Result<&NamedTensor, String> {
        self.tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| format!("tensor {name} is missing"))
    }

    fn floats(&self, tensor: &NamedTensor) -> Result<Vec<f32>, String> {
        tensor
            .to_f32()
            .ok_or_else(|| format!("tensor {} is not floating-point", tensor.name))
    }

    fn expect_shape(&self, name: &str, shape: &[usize]) -> Result<(), String> {
        let tensor = self.get(name)?;
        if tensor.shape != shape {
            return Err(format!(
                "tensor {name} has shape {:?}, expected {shape:?}",
                tensor.shape
            ));
        }
        Ok(())
    }

    fn vector<B: Backend>(&self, name: &str, device: &B::Device) -> Result<Tensor<B, 1>, String> {
        let values = self.floats(self.get(name)?)?;
        let n = values.len();
        Ok(Tensor::from_data(TensorData::new(values, [n]), device))
    }

    /// `conv.weight` scaled per output channel by γ/√(var+ε), bias β − mean·γ/√(var+ε).
    fn conv<B: Backend>(
        &self,
        conv: &str,
        bn: &str,
        stride: usize,
        groups: usize,
        relu6: bool,
        device: &B::Device,
    ) -> Result<FoldedConv<B>, String> {
        let weight = self.get(&format!("{conv}.weight"))?;
        let [out, per_group, kh, kw] = weight.shape[..] else {
            return Err(format!("{conv}.weight is not a 4-d convolution kernel"));
        };
        let mut values = self.floats(weight)?;
        let stat = |name: &str| -> Result<Vec<f32>, String> {
            let tensor = self.get(&format!("{bn}.{name}"))?;
            let values = self.floats(tensor)?;
            if values.len() != out {
                return Err(format!("{bn}.{name} has {} values for {out} channels", values.len()));
            }
            Ok(values)
        };
        let (gamma, beta, mean, var) = (
            stat("weight")?,
            stat("bias")?,
            stat("running_mean")?,
            stat("running_var")?,
        );
        let per_channel = per_group * kh * kw;
        let mut bias = vec![0.0f32; out];
        for o in 0..out {
            let scale = gamma[o] / (var[o] + BN_EPS).sqrt();
            values[o * per_channel..(o + 1) * per_channel]
                .iter_mut()
                .for_each(|v| *v *= scale);
            bias[o] = beta[o] - mean[o] * scale;
        }
        Ok(FoldedConv {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(values, [out, per_group, kh, kw]),
                device,
            )),
            bias: Param::from_tensor(Tensor::from_data(TensorData::new(bias, [out]), device)),
            stride,
            groups,
            relu6,
        })
    }
}
