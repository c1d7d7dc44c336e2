//! The whole seed model: global branch + K-step recurrent attention over texture encodings.

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig, Lstm, LstmConfig, LstmState};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use crate::backend::SeedBackend;
use crate::config::SeedConfig;
use crate::encoding::{TextureEncoding, l2_normalise};
use crate::global::GlobalBranch;
use crate::transformer::{attention_map, sample_region};

#[derive(Module, Debug)]
pub struct SeedModel<B: Backend> {
    pub global: GlobalBranch<B>,
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
}

/// What one forward pass produces; all tensors have the batch first.
#[derive(Debug, Clone)]
pub struct SeedOutput<B: Backend> {
    /// `[N, L]` logits: element-wise max over the global and every step's scores.
    pub scores: Tensor<B, 2>,
    /// `[N, 256]` average-pooled global feature.
    pub global_feature: Tensor<B, 2>,
    /// Steps 0..=K, each `[N, E]`: step 0 encodes the whole map.
    pub encodings: Vec<Tensor<B, 2>>,
    /// Steps 1..=K, each `[N, 4]` = (sx, sy, tx, ty).
    pub thetas: Vec<Tensor<B, 2>>,
    /// Steps 1..=K, each `[N, h, w]`: softmax-normalised footprint on the feature map.
    pub attention: Vec<Tensor<B, 3>>,
}

impl<B: Backend> SeedOutput<B> {
    /// The retrieval embedding `[N, 256 + (K+1)·E]`: the L2-normalised global feature
    /// followed by each step's L2-normalised encoding.
    pub fn embedding(&self) -> Tensor<B, 2> {
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

impl<B: Backend> SeedModel<B> {
    pub fn new(config: &SeedConfig, device: &B::Device) -> Self {
        let channels = SeedConfig::FEATURE_CHANNELS;
        // Regions start as centred half-size crops (sx = sy = 0.5, the scale bound α of
        // the localisation loss) and move from there; the weights start at zero so the
        // first steps do not jump to random places.
        let locator = LinearConfig::new(config.lstm_hidden, 4)
            .with_initializer(Initializer::Zeros)
            .init(device);
        let locator = Linear {
            bias: Some(burn::module::Param::from_tensor(Tensor::from_data(
                TensorData::new(vec![0.5f32, 0.5, 0.0, 0.0], [4]),
                device,
            ))),
            ..locator
        };
        SeedModel {
            global: GlobalBranch::new(config, device),
            encoding: TextureEncoding::new(channels, config.codewords, config.encoding_dim, device),
            lstm: LstmConfig::new(config.encoding_dim, config.lstm_hidden, true).init(device),
            locator,
            global_head: LinearConfig::new(channels, config.num_labels).init(device),
            region_head: LinearConfig::new(config.encoding_dim, config.num_labels).init(device),
            region_height: config.region_height,
            region_width: config.region_width,
            steps: config.steps,
        }
    }
}

impl<B: SeedBackend> SeedModel<B> {
    /// `[N, 3, H, W]` normalised images → scores, features, regions and attention maps.
    pub fn forward(&self, images: Tensor<B, 4>) -> SeedOutput<B> {
        let features = self.global.forward(images);
        let [n, _, h, w] = features.dims();
        let global_feature = features
            .clone()
            .mean_dim(3)
            .mean_dim(2)
            .reshape([n, SeedConfig::FEATURE_CHANNELS]);
        let mut scores = self.global_head.forward(global_feature.clone());

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
        let mut attention = Vec::with_capacity(self.steps);
        let mut state: Option<LstmState<B, 2>> = None;
        for _ in 0..self.steps {
            let (_, next) = self.lstm.forward(encoding.unsqueeze_dim::<3>(1), state);
            let theta = self.locator.forward(next.hidden.clone());
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
            encodings.push(encoding.clone());
        }
        SeedOutput {
            scores,
            global_feature,
            encodings,
            thetas,
            attention,
        }
    }
}

/// θ = (1, 1, 0, 0) for every image.
fn identity<B: Backend>(n: usize, device: &B::Device) -> Tensor<B, 2> {
    let values: Vec<f32> = (0..n).flat_map(|_| [1.0, 1.0, 0.0, 0.0]).collect();
    Tensor::from_data(TensorData::new(values, [n, 4]), device)
}
