//! The `[model]` section of a training config: the architecture, read by training and by
//! every reader of a checkpoint (it is the model part of `meta.json`).

use lookbook_imaging::{ImageSpec, ResizeFilter};
use serde::{Deserialize, Serialize};

use crate::{ATTENTION_FRAMES, BACKBONES, PROJECTION_INPUTS, SeedConfig};

/// The largest value any one size of the architecture may take (input sides, channels,
/// hidden units, codewords, steps): far above any model this project trains, far below one
/// whose tensors would not fit in memory. A checkpoint's `meta.json` is checked against it
/// before a tensor is allocated.
pub const MAX_SIZE: usize = 8192;

/// The architecture; the study's values by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSection {
    pub input_height: usize,
    pub input_width: usize,
    pub dropout: f64,
    pub region_height: usize,
    pub region_width: usize,
    pub codewords: usize,
    pub encoding_dim: usize,
    pub lstm_hidden: usize,
    pub steps: usize,
    /// `seed` (the study's branch, from scratch) or `efficientnet-lite0` (ImageNet-pretrained
    /// trunk, frozen and cached; its head convolution is fine-tuned with the attention branch
    /// unless `optimizer.head_learning_rate` is 0).
    pub backbone: String,
    /// A learned projection of the embedding to this many dimensions (0: none).
    pub projection_dim: usize,
    /// What the projection sees: `all` (global feature ⊕ step encodings) or `global`.
    pub projection_input: String,
    /// Generalised-mean exponent of the global feature's pooling (1 = average, the study).
    pub gem_power: f64,
    /// `garment` (the steps are placed in each photo's garment box, found from its plain
    /// background) or `image` (the study's: over the whole picture).
    pub attention_frame: String,
    /// A pretrained backbone's last MBConv blocks fine-tuned with the branch (0: the trunk
    /// stays frozen; training caches the output of the blocks before them).
    pub tuned_blocks: usize,
}

impl Default for ModelSection {
    fn default() -> Self {
        let s = SeedConfig::new(1);
        ModelSection {
            input_height: s.input_height,
            input_width: s.input_width,
            dropout: s.dropout,
            region_height: s.region_height,
            region_width: s.region_width,
            codewords: s.codewords,
            encoding_dim: s.encoding_dim,
            lstm_hidden: s.lstm_hidden,
            steps: s.steps,
            backbone: s.backbone,
            projection_dim: s.projection_dim,
            projection_input: s.projection_input,
            gem_power: s.gem_power,
            attention_frame: s.attention_frame,
            tuned_blocks: s.tuned_blocks,
        }
    }
}

impl ModelSection {
    /// Every value in its range (the first that is not, in words): what training checks in
    /// a config and every reader checks in a checkpoint before building the network.
    pub fn check(&self) -> Result<(), String> {
        let m = self;
        if !BACKBONES.contains(&m.backbone.as_str()) {
            return Err(format!(
                "backbone {:?}: expected one of {}",
                m.backbone,
                BACKBONES.join(", ")
            ));
        }
        if !PROJECTION_INPUTS.contains(&m.projection_input.as_str()) {
            return Err(format!(
                "projection_input {:?}: expected one of {}",
                m.projection_input,
                PROJECTION_INPUTS.join(", ")
            ));
        }
        if !ATTENTION_FRAMES.contains(&m.attention_frame.as_str()) {
            return Err(format!(
                "attention_frame {:?}: expected one of {}",
                m.attention_frame,
                ATTENTION_FRAMES.join(", ")
            ));
        }
        if !(1.0..=16.0).contains(&m.gem_power) {
            return Err(format!("gem_power {}: expected 1 (average pooling) to 16", m.gem_power));
        }
        if !(0.0..1.0).contains(&m.dropout) {
            return Err(format!("dropout {}: expected 0 to 1", m.dropout));
        }
        if m.input_height == 0 || m.input_width == 0 || m.steps == 0 || m.codewords == 0 {
            return Err("input size, steps and codewords must be positive".into());
        }
        if m.region_height == 0 || m.region_width == 0 || m.encoding_dim == 0 || m.lstm_hidden == 0 {
            return Err("region size, encoding_dim and lstm_hidden must be positive".into());
        }
        let sizes = [
            ("input_height", m.input_height),
            ("input_width", m.input_width),
            ("region_height", m.region_height),
            ("region_width", m.region_width),
            ("codewords", m.codewords),
            ("encoding_dim", m.encoding_dim),
            ("lstm_hidden", m.lstm_hidden),
            ("steps", m.steps),
            ("projection_dim", m.projection_dim),
        ];
        if let Some((name, value)) = sizes.iter().find(|(_, value)| *value > MAX_SIZE) {
            return Err(format!("{name} {value}: at most {MAX_SIZE}"));
        }
        let downsample = self.seed_config(1).downsample();
        if !m.input_height.is_multiple_of(downsample) || !m.input_width.is_multiple_of(downsample) {
            return Err(format!(
                "input {}x{} must be a multiple of {downsample} on both sides",
                m.input_height, m.input_width,
            ));
        }
        if m.tuned_blocks > 0 {
            let Ok(variant) = crate::lite_variant(&m.backbone) else {
                return Err("model.tuned_blocks needs a pretrained backbone (efficientnet-lite0/-lite2)".into());
            };
            if m.tuned_blocks > variant.blocks() {
                return Err(format!(
                    "model.tuned_blocks {}: {} has {} blocks",
                    m.tuned_blocks,
                    m.backbone,
                    variant.blocks()
                ));
            }
        }
        Ok(())
    }

    /// The network this section describes, with `num_labels` outputs.
    pub fn seed_config(&self, num_labels: usize) -> SeedConfig {
        let m = self;
        SeedConfig::new(num_labels)
            .with_input_height(m.input_height)
            .with_input_width(m.input_width)
            .with_dropout(m.dropout)
            .with_region_height(m.region_height)
            .with_region_width(m.region_width)
            .with_codewords(m.codewords)
            .with_encoding_dim(m.encoding_dim)
            .with_lstm_hidden(m.lstm_hidden)
            .with_steps(m.steps)
            .with_backbone(m.backbone.clone())
            .with_projection_dim(m.projection_dim)
            .with_projection_input(m.projection_input.clone())
            .with_gem_power(m.gem_power)
            .with_attention_frame(m.attention_frame.clone())
            .with_tuned_blocks(m.tuned_blocks)
    }

    /// The study's branch: ImageNet statistics, bilinear. EfficientNet-Lite0: the
    /// normalisation and filter its weights were trained with ((p − ½)/½, bicubic).
    pub fn image_spec(&self) -> ImageSpec {
        let spec = ImageSpec::with_size(self.input_height as u32, self.input_width as u32);
        if self.backbone == "seed" {
            return spec;
        }
        ImageSpec {
            mean: [0.5; 3],
            std: [0.5; 3],
            filter: ResizeFilter::Bicubic,
            ..spec
        }
    }
}
