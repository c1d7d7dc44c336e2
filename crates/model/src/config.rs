use burn::config::Config;

/// Every number of the seed model; `configs/seed.toml` holds the study's values.
#[derive(Config, Debug, PartialEq)]
pub struct SeedConfig {
    /// Number of labels of the multi-label head (the catalogue's label vocabulary).
    pub num_labels: usize,
    /// Input height and width (the study: 384 × 256).
    #[config(default = 384)]
    pub input_height: usize,
    #[config(default = 256)]
    pub input_width: usize,
    /// Dropout after each pair of convolutions (the study: 25%).
    #[config(default = 0.25)]
    pub dropout: f64,
    /// Height and width of each attention region, in feature-map cells.
    #[config(default = 12)]
    pub region_height: usize,
    #[config(default = 8)]
    pub region_width: usize,
    /// Texture-encoding codewords C (Deep TEN).
    #[config(default = 32)]
    pub codewords: usize,
    /// Dimension of each region's projected encoding.
    #[config(default = 256)]
    pub encoding_dim: usize,
    /// LSTM hidden size of the recurrent attention.
    #[config(default = 512)]
    pub lstm_hidden: usize,
    /// Attention steps K after step 0 (the whole map).
    #[config(default = 4)]
    pub steps: usize,
    /// The feature extractor: `seed` (the study's branch, trained from scratch) or
    /// `efficientnet-lite0` / `efficientnet-lite2` (ImageNet-pretrained; the model starts
    /// from its trunk's output).
    #[config(default = "String::from(\"seed\")")]
    pub backbone: String,
    /// A learned projection of the whole embedding to this many dimensions, trained with
    /// the identity loss (0: none, the embedding is the concatenation).
    #[config(default = 0)]
    pub projection_dim: usize,
    /// What the projection sees: `all` (the normalised global feature ⊕ every step's
    /// encoding) or `global` (the pooled global feature alone; the step encodings stay the
    /// parts that recommendations and `explain` use).
    #[config(default = "String::from(\"all\")")]
    pub projection_input: String,
    /// Items (product codes) of the identity loss's classifier (0: no identity loss).
    #[config(default = 0)]
    pub identities: usize,
    /// Exponent p of the generalised-mean pooling of the global feature, (mean xᵖ)^(1/p):
    /// 1 is average pooling (the study), 3 weights each channel's strongest responses
    /// more, which suits retrieval (a garment's detail fills few cells of the map).
    #[config(default = 1.0)]
    pub gem_power: f64,
    /// Where the attention steps are placed: `garment` (θ relative to the garment's box in
    /// each photo, found from its plain background; the steps start on the box's quadrants)
    /// or `image` (the study's: θ over the whole picture, every step starting as one
    /// centred half-size box — checkpoints from before the garment frame).
    #[config(default = "String::from(\"garment\")")]
    pub attention_frame: String,
    /// A pretrained backbone's last MBConv blocks that are the model's own, fine-tuned with
    /// the branch (0: the whole trunk stays frozen; training caches the output of the blocks
    /// before them).
    #[config(default = 0)]
    pub tuned_blocks: usize,
}

/// The values `attention_frame` accepts.
pub const ATTENTION_FRAMES: [&str; 2] = ["garment", "image"];

/// The values `projection_input` accepts.
pub const PROJECTION_INPUTS: [&str; 2] = ["all", "global"];

/// The backbones `backbone` accepts.
pub const BACKBONES: [&str; 3] = ["seed", "efficientnet-lite0", "efficientnet-lite2"];

impl SeedConfig {
    /// Channels of the global branch's last feature map.
    pub const FEATURE_CHANNELS: usize = 256;
    /// The global branch pools twice by 4: the feature map is the input / 16.
    pub const DOWNSAMPLE: usize = 16;

    pub fn pretrained(&self) -> bool {
        self.backbone != "seed"
    }

    /// Channels of the feature map the attention branch works on.
    pub fn feature_channels(&self) -> usize {
        if self.pretrained() {
            1280
        } else {
            Self::FEATURE_CHANNELS
        }
    }

    /// Input size / feature-map size: 16 for the study's branch, 32 for EfficientNet.
    pub fn downsample(&self) -> usize {
        if self.pretrained() { 32 } else { Self::DOWNSAMPLE }
    }

    pub fn feature_height(&self) -> usize {
        self.input_height / self.downsample()
    }

    pub fn feature_width(&self) -> usize {
        self.input_width / self.downsample()
    }

    /// Whether the steps are placed in each photo's garment frame.
    pub fn garment_frame(&self) -> bool {
        self.attention_frame == "garment"
    }

    /// Whether the projection sees the global feature alone.
    pub fn projects_global(&self) -> bool {
        self.projection_input == "global"
    }

    /// Length of the retrieval embedding: the projection, or global feature + one
    /// encoding per step (0..=K).
    /// About how many floats the network's parameters take (the largest terms; saturating),
    /// so a reader can refuse a checkpoint that asks for more memory than there is before
    /// allocating it.
    pub fn parameter_estimate(&self) -> usize {
        let (h, e, c) = (self.lstm_hidden, self.encoding_dim, self.feature_channels());
        let concatenated = c.saturating_add((self.steps + 1).saturating_mul(e));
        let proxy_dim = if self.projection_dim > 0 {
            self.projection_dim
        } else {
            concatenated
        };
        [
            4usize.saturating_mul(h).saturating_mul(e.saturating_add(h)),
            self.codewords.saturating_mul(Self::FEATURE_CHANNELS).saturating_mul(e),
            self.num_labels.saturating_mul(c.saturating_add(e)),
            concatenated.saturating_mul(self.projection_dim),
            self.identities.saturating_mul(proxy_dim),
        ]
        .into_iter()
        .fold(0usize, usize::saturating_add)
    }

    pub fn embedding_dim(&self) -> usize {
        if self.projection_dim > 0 {
            self.projection_dim
        } else {
            self.feature_channels() + (self.steps + 1) * self.encoding_dim
        }
    }
}
