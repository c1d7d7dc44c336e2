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
}

impl SeedConfig {
    /// Channels of the global branch's last feature map.
    pub const FEATURE_CHANNELS: usize = 256;
    /// The global branch pools twice by 4: the feature map is the input / 16.
    pub const DOWNSAMPLE: usize = 16;

    pub fn feature_height(&self) -> usize {
        self.input_height / Self::DOWNSAMPLE
    }

    pub fn feature_width(&self) -> usize {
        self.input_width / Self::DOWNSAMPLE
    }

    /// Length of the retrieval embedding: global feature + one encoding per step (0..=K).
    pub fn embedding_dim(&self) -> usize {
        Self::FEATURE_CHANNELS + (self.steps + 1) * self.encoding_dim
    }
}
