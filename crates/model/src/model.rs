//! The whole seed model: global branch + K-step recurrent attention over texture encodings.

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig, Lstm, LstmConfig, LstmState};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use crate::backend::SeedBackend;
use crate::config::SeedConfig;
use crate::efficientnet::{EfficientNetLite, FoldedConv, MbConv};
use crate::encoding::TextureEncoding;
use crate::global::GlobalBranch;
pub use crate::output::SeedOutput;
use crate::transformer::{attention_map, sample_region};

/// The attention branch over a feature map, and what makes that map: the study's global
/// branch (trained from scratch), or the head convolution of a pretrained EfficientNet whose
/// frozen trunk runs outside the model (its output can then be computed once and cached).
#[derive(Module, Debug)]
pub struct SeedModel<B: Backend> {
    pub global: Option<GlobalBranch<B>>,
    /// A pretrained trunk's last MBConv blocks, fine-tuned with the branch (`tuned_blocks`;
    /// empty: the whole trunk is frozen). The model is fed the output of the blocks before.
    pub pretrained_blocks: Vec<MbConv<B>>,
    /// EfficientNet's 1×1 head (320 → 1280, batch-norm folded), fine-tuned with the branch.
    pub pretrained_head: Option<FoldedConv<B>>,
    /// Global feature ⊕ step encodings (or the global feature alone) → the retrieval
    /// embedding (when configured).
    pub projection: Option<Linear<B>>,
    /// The projection sees the raw global feature alone (`projection_input = "global"`).
    pub projects_global: bool,
    /// One learned direction per training item, for the identity loss.
    pub proxies: Option<burn::module::Param<Tensor<B, 2>>>,
    /// A per-position linear map + ReLU (a 1×1 convolution) narrowing a pretrained head's
    /// 1280 channels to the 256 the attention branch samples from (bilinear sampling's
    /// backward pass costs per channel).
    pub reduce: Option<Linear<B>>,
    pub channels: usize,
    /// Generalised-mean exponent of the global pooling (1 = average).
    pub gem_power: f64,
    pub encoding: TextureEncoding<B>,
    pub lstm: Lstm<B>,
    /// LSTM state → θ of the next step (sx, sy, tx, ty).
    pub locator: Linear<B>,
    /// Label scores from the pooled global feature.
    pub global_head: Linear<B>,
    /// Label scores from a region encoding (shared by all steps).
    pub region_head: Linear<B>,
    pub region_height: usize,
    pub region_width: usize,
    pub steps: usize,
    /// Steps are placed in the garment's frame (θ relative to the garment's box, see
    /// [`SeedModel::forward_in`]) rather than the whole picture's.
    pub garment_frame: bool,
    /// `[K, 4]`: each step's own starting θ (in the frame: its anchor, at a scale midway
    /// between the localisation loss's bounds), to which the locator adds what the LSTM proposes. Without it every step starts from one θ and the steps stay one box
    /// (measured: pairwise IoU 0.95); with it they start on the anchors, one part each.
    pub step_offsets: Option<burn::module::Param<Tensor<B, 2>>>,
}

impl<B: Backend> SeedModel<B> {
    /// A model of `config`'s shape; a pretrained backbone's head starts at zero (load a
    /// checkpoint, or [`SeedModel::with_pretrained_head`] for a new run).
    pub fn new(config: &SeedConfig, device: &B::Device) -> Self {
        let channels = config.feature_channels();
        // Regions start as centred half-size crops (sx = sy = 0.5, the scale bound α of
        // the localisation loss) and move from there; the weights start at zero so the
        // first steps do not jump to random places.
        let locator = LinearConfig::new(config.lstm_hidden, 4)
            .with_initializer(Initializer::Zeros)
            .init(device);
        // In the garment's frame each step has its own start (`step_offsets`: a half-size
        // box on its anchor) and the locator adds a correction that starts at zero.
        let garment_frame = config.garment_frame();
        let start = if garment_frame {
            [0.0f32; 4]
        } else {
            [0.5, 0.5, 0.0, 0.0]
        };
        let locator = Linear {
            bias: Some(burn::module::Param::from_tensor(Tensor::from_data(
                TensorData::new(start.to_vec(), [4]),
                device,
            ))),
            ..locator
        };
        let step_offsets = garment_frame.then(|| {
            // Each step starts on its anchor, midway between the scale bounds β and α.
            let weights = crate::losses::LossWeights::new();
            let scale = ((weights.min_scale + weights.max_scale) / 2.0) as f32;
            let values: Vec<f32> = (0..config.steps)
                .flat_map(|k| {
                    let [cx, cy] = weights.anchors[k % weights.anchors.len()];
                    [scale, scale, cx, cy]
                })
                .collect();
            burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(values, [config.steps, 4]), device))
        });
        let (global, pretrained_head, pretrained_blocks) = if config.pretrained() {
            let variant = crate::lite_variant(&config.backbone).unwrap_or(&crate::efficientnet::LITE0);
            let head = FoldedConv::zeros(channels, variant.trunk_channels(), 1, true, device);
            let shapes = variant.block_shapes();
            let tuned = &shapes[shapes.len() - config.tuned_blocks.min(shapes.len())..];
            let blocks = tuned.iter().map(|&shape| MbConv::zeros(shape, device)).collect();
            (None, Some(head), blocks)
        } else {
            (Some(GlobalBranch::new(config, device)), None, Vec::new())
        };
        let concatenated = channels + (config.steps + 1) * config.encoding_dim;
        let projected_len = if config.projects_global() {
            channels
        } else {
            concatenated
        };
        let projection =
            (config.projection_dim > 0).then(|| LinearConfig::new(projected_len, config.projection_dim).init(device));
        let proxy_dim = if config.projection_dim > 0 {
            config.projection_dim
        } else {
            concatenated
        };
        // Small proxies: Adam moves every weight by about the learning rate per step, so
        // unit-scale proxies would barely turn in a short run (the loss stayed near ln(items)).
        let proxies = (config.identities > 0).then(|| {
            burn::module::Param::from_tensor(Tensor::random(
                [config.identities, proxy_dim],
                burn::tensor::Distribution::Normal(0.0, 0.01),
                device,
            ))
        });
        SeedModel {
            global,
            pretrained_blocks,
            pretrained_head,
            projection,
            projects_global: config.projects_global(),
            proxies,
            reduce: config
                .pretrained()
                .then(|| LinearConfig::new(channels, SeedConfig::FEATURE_CHANNELS).init(device)),
            channels,
            gem_power: config.gem_power,
            encoding: TextureEncoding::new(
                SeedConfig::FEATURE_CHANNELS,
                config.codewords,
                config.encoding_dim,
                device,
            ),
            lstm: LstmConfig::new(config.encoding_dim, config.lstm_hidden, true).init(device),
            locator,
            global_head: LinearConfig::new(channels, config.num_labels).init(device),
            region_head: LinearConfig::new(config.encoding_dim, config.num_labels).init(device),
            region_height: config.region_height,
            region_width: config.region_width,
            steps: config.steps,
            garment_frame,
            step_offsets,
        }
    }
}

impl<B: Backend> SeedModel<B> {
    /// Replaces the head (and the tuned blocks) with a pretrained network's (a new run on a
    /// pretrained backbone).
    pub fn with_pretrained_head(self, network: &EfficientNetLite<B>) -> Self {
        let first = network.blocks.len() - self.pretrained_blocks.len();
        SeedModel {
            pretrained_blocks: network.blocks[first..].to_vec(),
            pretrained_head: Some(network.head.clone()),
            ..self
        }
    }

    /// How many of the pretrained trunk's last blocks the model holds: it is fed the output
    /// of `network.trunk_until(images, blocks − this)`.
    pub fn tuned_blocks(&self) -> usize {
        self.pretrained_blocks.len()
    }
}

impl<B: SeedBackend> SeedModel<B> {
    /// `[N, 3, H, W]` normalised images → scores, features, regions and attention maps
    /// (the study's backbone; a pretrained one starts from [`SeedModel::forward_trunk`]).
    /// The attention frame is the whole picture; [`SeedModel::forward_in`] gives one per image.
    pub fn forward(&self, images: Tensor<B, 4>) -> SeedOutput<B> {
        self.forward_in(images, None)
    }

    /// [`SeedModel::forward`] with each image's attention frame `[N, 4]`: θ = (sx, sy, tx,
    /// ty) of the garment's box in the picture (`lookbook_imaging::garment_frame`); a
    /// garment-framed model places its steps relative to it (`None`: the whole picture).
    pub fn forward_in(&self, images: Tensor<B, 4>, frames: Option<Tensor<B, 2>>) -> SeedOutput<B> {
        let global = self
            .global
            .as_ref()
            .expect("a model on a pretrained backbone is fed the trunk's output (forward_trunk)");
        self.forward_features(global.forward(images), frames)
    }

    /// `[N, C, h, w]`, the output of a frozen EfficientNet trunk (of all its blocks but the
    /// model's [`SeedModel::tuned_blocks`]) → as [`SeedModel::forward_in`].
    pub fn forward_trunk(&self, trunk: Tensor<B, 4>, frames: Option<Tensor<B, 2>>) -> SeedOutput<B> {
        let trunk = self.pretrained_blocks.iter().fold(trunk, |x, block| block.forward(x));
        self.forward_head_nhwc(trunk.permute([0, 2, 3, 1]), frames)
    }

    /// As [`SeedModel::forward_trunk`] with the frozen part's output channels-last, `[N, h,
    /// w, C]` (how training caches it).
    pub fn forward_trunk_nhwc(&self, trunk: Tensor<B, 4>, frames: Option<Tensor<B, 2>>) -> SeedOutput<B> {
        if self.pretrained_blocks.is_empty() {
            return self.forward_head_nhwc(trunk, frames);
        }
        self.forward_trunk(trunk.permute([0, 3, 1, 2]), frames)
    }

    /// The whole trunk's output (its fine-tuned blocks included) channels-last, `[N, h, w,
    /// 320]`: the 1×1 head and reduction are then plain matrix products over positions, with
    /// no layout changes on the 1280-channel map.
    pub fn forward_head_nhwc(&self, trunk: Tensor<B, 4>, frames: Option<Tensor<B, 2>>) -> SeedOutput<B> {
        let head = self.pretrained_head.as_ref().expect("the model has a pretrained head");
        let [n, h, w, c] = trunk.dims();
        let features = head.pointwise(trunk.reshape([n * h * w, c]));
        let global_feature = self.pool(features.clone().reshape([n, h * w, self.channels]), 1);
        let reduced = match &self.reduce {
            Some(reduce) => burn::tensor::activation::relu(reduce.forward(features)),
            None => features,
        };
        let [_, reduced_channels] = reduced.dims();
        let map = reduced.reshape([n, h, w, reduced_channels]).permute([0, 3, 1, 2]);
        self.attend(map, global_feature, frames)
    }

    /// The attention branch on a `[N, C, h, w]` feature map.
    pub fn forward_features(&self, features: Tensor<B, 4>, frames: Option<Tensor<B, 2>>) -> SeedOutput<B> {
        let [n, c, h, w] = features.dims();
        let global_feature = self.pool(features.clone().reshape([n, c, h * w]), 2);
        self.attend(features, global_feature, frames)
    }

    /// `[N, ·, ·]` → `[N, C]`: the generalised mean over the positions in dimension `dim`
    /// (the features are non-negative: ReLU or ReLU6 outputs).
    fn pool(&self, features: Tensor<B, 3>, dim: usize) -> Tensor<B, 2> {
        let [n, _, _] = features.dims();
        if self.gem_power == 1.0 {
            return features.mean_dim(dim).reshape([n, self.channels]);
        }
        features
            .clamp_min(1e-6)
            .powf_scalar(self.gem_power)
            .mean_dim(dim)
            .powf_scalar(1.0 / self.gem_power)
            .reshape([n, self.channels])
    }

    /// Steps 0..=K over `features` `[N, C, h, w]`, with the pooled `global_feature` `[N, G]`.
    fn attend(
        &self,
        features: Tensor<B, 4>,
        global_feature: Tensor<B, 2>,
        frames: Option<Tensor<B, 2>>,
    ) -> SeedOutput<B> {
        let [n, _, h, w] = features.dims();
        let mut scores = self.global_head.forward(global_feature.clone());
        // A model placed in the picture's frame ignores frames: it was trained without them.
        let frames = frames.filter(|_| self.garment_frame);

        // Step 0: the whole map, θ₀ = identity.
        let first = sample_region(
            features.clone(),
            identity::<B>(n, &features.device()),
            self.region_height,
            self.region_width,
        );
        let mut encoding = self.encoding.forward(first);
        scores = scores.max_pair(self.region_head.forward(encoding.clone()));
        let mut encodings = vec![encoding.clone()];
        let mut thetas = Vec::with_capacity(self.steps);
        let mut relative_thetas = Vec::with_capacity(self.steps);
        let mut attention = Vec::with_capacity(self.steps);
        let mut state: Option<LstmState<B, 2>> = None;
        for step in 0..self.steps {
            let (_, next) = self.lstm.forward(encoding.unsqueeze_dim::<3>(1), state);
            let mut relative = self.locator.forward(next.hidden.clone());
            if let Some(offsets) = &self.step_offsets {
                relative = relative + offsets.val().narrow(0, step, 1);
            }
            let theta = match &frames {
                Some(frames) => within_frame(frames.clone(), relative.clone()),
                None => relative.clone(),
            };
            state = Some(next);
            let region = sample_region(features.clone(), theta.clone(), self.region_height, self.region_width);
            encoding = self.encoding.forward(region);
            scores = scores.max_pair(self.region_head.forward(encoding.clone()));
            attention.push(attention_map(
                theta.clone(),
                self.region_height,
                self.region_width,
                h,
                w,
            ));
            thetas.push(theta);
            relative_thetas.push(relative);
            encodings.push(encoding.clone());
        }
        let mut output = SeedOutput {
            scores,
            global_feature,
            encodings,
            thetas,
            relative_thetas,
            attention,
            projected: None,
        };
        if let Some(projection) = &self.projection {
            let input = if self.projects_global {
                output.global_feature.clone()
            } else {
                output.concatenated()
            };
            output.projected = Some(projection.forward(input));
        }
        output
    }
}

/// θ = (1, 1, 0, 0) for every image.
fn identity<B: Backend>(n: usize, device: &B::Device) -> Tensor<B, 2> {
    let values: Vec<f32> = (0..n).flat_map(|_| [1.0, 1.0, 0.0, 0.0]).collect();
    Tensor::from_data(TensorData::new(values, [n, 4]), device)
}

/// θ relative to `frames` (both `[N, 4]`) → θ over the picture: the frame's crop of the
/// relative crop, (f_sx·sx, f_sy·sy, f_tx + f_sx·tx, f_ty + f_sy·ty).
pub fn within_frame<B: Backend>(frames: Tensor<B, 2>, relative: Tensor<B, 2>) -> Tensor<B, 2> {
    let scales = frames.clone().narrow(1, 0, 2);
    let centres = frames.narrow(1, 2, 2);
    let s = relative.clone().narrow(1, 0, 2);
    let t = relative.narrow(1, 2, 2);
    Tensor::cat(vec![scales.clone() * s, centres + scales * t], 1)
}
