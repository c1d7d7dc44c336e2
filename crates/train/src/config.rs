//! The training config: every number of a run, read from TOML (`configs/*.toml`).

use std::path::Path;

use lookbook_catalog::{SplitFractions, VocabularyConfig};
use lookbook_imaging::ImageSpec;
/// The architecture section, shared with the read side of checkpoints (`lookbook_model::saved`).
pub use lookbook_model::ModelSection;
use lookbook_model::losses::{IDENTITY_KINDS, identity_kind_uses_pairs};
use lookbook_model::{LossWeights, SeedConfig};
use serde::{Deserialize, Serialize};

use crate::error::TrainError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Seeds initialisation, shuffling, augmentation and dropout: same seed, same run.
    pub seed: u64,
    pub model: ModelSection,
    pub labels: LabelSection,
    pub optimizer: OptimizerSection,
    pub loss: LossSection,
    pub augment: AugmentSection,
    pub data: DataSection,
    /// `[text]`: the text encoder's section, which `lookbook text train --config` reads
    /// (`lookbook_text::TextConfig`); kept here only so one file can configure a whole run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LabelSection {
    pub min_count: usize,
    pub columns: Option<Vec<String>>,
    pub include_colour: bool,
    /// The attribute validation's top-k counts by when no validation product has two photos
    /// (default: the catalogue's category column — H&M product_type_name, Myntra articleType —
    /// else its categorical column with the most values).
    pub validation_attribute: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimizerSection {
    pub learning_rate: f64,
    pub batch_size: usize,
    pub epochs: usize,
    /// Adam's ε. burn defaults to 1e-5; PyTorch (and the study) to 1e-8.
    pub epsilon: f32,
    pub beta_1: f32,
    pub beta_2: f32,
    /// Learning rate of a pretrained backbone's head convolution: 0 keeps it frozen (the
    /// ImageNet features, and only the branch, projection and proxies learn); absent, the
    /// head trains at `learning_rate` with the rest.
    pub head_learning_rate: Option<f64>,
    /// Learning rate of the pretrained trunk's fine-tuned last blocks (`model.tuned_blocks`);
    /// absent, `learning_rate`.
    pub trunk_learning_rate: Option<f64>,
    /// How the learning rates change over the run (`constant` or `cosine`).
    pub schedule: Schedule,
}

/// Learning rates over a run: as configured throughout, or decayed along half a cosine from
/// the configured rates to 0 at the end of `optimizer.epochs` (after `train --epochs`, so a
/// run resumed to more epochs decays over the new length from where it stands).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    #[default]
    Constant,
    Cosine,
}

impl Schedule {
    /// The fraction of each configured rate for a step after `done` of the run's `total` steps.
    pub fn factor(self, done: usize, total: usize) -> f64 {
        match self {
            Schedule::Constant => 1.0,
            Schedule::Cosine => {
                let t = done as f64 / total.max(1) as f64;
                0.5 * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos())
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LossSection {
    pub diversity: f64,
    pub localisation: f64,
    pub anchor: f64,
    pub positive: f64,
    pub max_scale: f64,
    pub min_scale: f64,
    /// Weight of the identity loss (photos of one item together; 0 = the study's losses only).
    pub identity: f64,
    /// Its scale s (inverse temperature) on cosine similarities (Proxy-Anchor's α).
    pub identity_scale: f64,
    /// `softmax` (a normalised softmax over the proxies), `proxy-anchor` (Kim et al.
    /// 2020; `identity_scale` is its α, `identity_margin` its δ) or `multi-similarity` (Wang et
    /// al. 2019, over a batch's pairs; wants `data.photos_per_identity`), or
    /// `multi-similarity+softmax` (both, summed).
    pub identity_kind: String,
    pub identity_margin: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentSection {
    /// Mirror left–right with probability ½.
    pub flip: bool,
    /// Zoom in by up to this fraction, then crop back to the input size at a random place.
    pub scale_jitter: f32,
    /// Show a training photo in grey (its luma in all three channels) with this probability:
    /// colour is a distractor when the same garment comes in several colours. A cached trunk
    /// keeps a second, grey output for each training photo.
    pub greyscale: f32,
    /// Brighten or darken each grey photo by a gamma drawn log-uniformly in [1/g, g] (1 = off):
    /// a black garment and its white colourway still differ in grey by brightness alone, and
    /// gamma moves the garment's tones while the white backdrop stays white. A cached trunk
    /// draws one gamma per photo for its grey row.
    pub grey_gamma: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataSection {
    /// Decoding threads (0 = one per core).
    pub threads: usize,
    /// Batches decoded ahead of the training step.
    pub prefetch: usize,
    /// Train/val/test fractions for catalogues without splits of their own.
    pub split: SplitFractions,
    /// Use at most this many training / validation images (0 = all), for quick runs.
    pub max_train_images: usize,
    pub max_val_images: usize,
    /// Order each epoch in groups of up to this many photos of one item (0: plain shuffle), so
    /// that a batch holds pairs of one item for a pair loss (`loss.identity_kind =
    /// "multi-similarity"`): a P×K sampler that still shows every photo once an epoch.
    pub photos_per_identity: usize,
    /// Other catalogues whose training photos join this run's (`["../shared/data/myntra"]`):
    /// their labels join the vocabulary (a label of a column a photo's catalogue lacks is left
    /// out of its loss), their products join the identity loss only where a product has two
    /// photos, and validation and every report stay on the catalogue trained on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also_train_on: Vec<std::path::PathBuf>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            seed: 42,
            model: ModelSection::default(),
            labels: LabelSection::default(),
            optimizer: OptimizerSection::default(),
            loss: LossSection::default(),
            augment: AugmentSection::default(),
            data: DataSection::default(),
            text: None,
        }
    }
}

impl Default for LabelSection {
    fn default() -> Self {
        let v = VocabularyConfig::default();
        LabelSection {
            min_count: v.min_count,
            columns: v.columns,
            include_colour: v.include_colour,
            validation_attribute: None,
        }
    }
}

impl Default for OptimizerSection {
    /// The study: Adam, lr 1e-5, batch 64, 40 epochs.
    fn default() -> Self {
        OptimizerSection {
            learning_rate: 1e-5,
            batch_size: 64,
            epochs: 40,
            epsilon: 1e-8,
            beta_1: 0.9,
            beta_2: 0.999,
            head_learning_rate: None,
            trunk_learning_rate: None,
            schedule: Schedule::Constant,
        }
    }
}

impl Default for LossSection {
    fn default() -> Self {
        let w = LossWeights::new();
        LossSection {
            diversity: w.diversity,
            localisation: w.localisation,
            anchor: w.anchor,
            positive: w.positive,
            max_scale: w.max_scale,
            min_scale: w.min_scale,
            identity: 0.0,
            identity_scale: 16.0,
            identity_kind: "softmax".into(),
            identity_margin: 0.1,
        }
    }
}

impl Default for AugmentSection {
    fn default() -> Self {
        AugmentSection {
            flip: true,
            scale_jitter: 0.1,
            greyscale: 0.0,
            grey_gamma: 1.0,
        }
    }
}

impl Default for DataSection {
    fn default() -> Self {
        DataSection {
            threads: 0,
            prefetch: 2,
            split: SplitFractions::default(),
            max_train_images: 0,
            max_val_images: 0,
            photos_per_identity: 0,
            also_train_on: Vec::new(),
        }
    }
}

/// A config value out of its range, in words (derefs to them, so a caller can search it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidConfig(pub String);

impl std::ops::Deref for InvalidConfig {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl TrainConfig {
    pub fn from_file(path: &Path) -> Result<Self, TrainError> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        let config: TrainConfig = toml::from_str(&text).map_err(|e| TrainError::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        config.validate().map_err(|invalid| TrainError::Config {
            path: path.to_path_buf(),
            message: invalid.0,
        })?;
        Ok(config)
    }

    /// Every value in its range; the first that is not, said in words.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        self.check().map_err(InvalidConfig)
    }

    fn check(&self) -> Result<(), String> {
        self.model.check()?;
        if self.loss.identity < 0.0 || self.loss.identity_scale <= 0.0 {
            return Err("loss.identity must be ≥ 0 and loss.identity_scale positive".into());
        }
        if !IDENTITY_KINDS.contains(&self.loss.identity_kind.as_str()) {
            return Err(format!(
                "loss.identity_kind {:?}: expected one of {}",
                self.loss.identity_kind,
                IDENTITY_KINDS.join(", ")
            ));
        }
        if identity_kind_uses_pairs(&self.loss.identity_kind) && self.data.photos_per_identity < 2 {
            return Err(format!(
                "loss.identity_kind {:?} learns from pairs of one item in a batch: set \
                 data.photos_per_identity to 2 or more (it is {})",
                self.loss.identity_kind, self.data.photos_per_identity
            ));
        }
        if !(0.0..1.0).contains(&self.loss.identity_margin) {
            return Err(format!(
                "loss.identity_margin {}: expected 0 to 1",
                self.loss.identity_margin
            ));
        }
        if self.optimizer.batch_size == 0 || self.optimizer.learning_rate <= 0.0 {
            return Err("batch_size and learning_rate must be positive".into());
        }
        if self
            .optimizer
            .head_learning_rate
            .is_some_and(|lr| lr < 0.0 || !lr.is_finite())
        {
            return Err("optimizer.head_learning_rate must be ≥ 0 (0 freezes the pretrained head)".into());
        }
        if self
            .optimizer
            .trunk_learning_rate
            .is_some_and(|lr| lr < 0.0 || !lr.is_finite())
        {
            return Err("optimizer.trunk_learning_rate must be ≥ 0 (0 freezes the tuned blocks)".into());
        }
        if !(0.0..=1.0).contains(&self.augment.greyscale) {
            return Err(format!(
                "augment.greyscale {}: a probability, 0 to 1",
                self.augment.greyscale
            ));
        }
        let grey_gamma = self.augment.grey_gamma;
        if !grey_gamma.is_finite() || grey_gamma < 1.0 {
            return Err(format!(
                "augment.grey_gamma {grey_gamma}: the largest gamma, ≥ 1 (1 = off)"
            ));
        }
        self.data.split.validate().map_err(|e| e.to_string())
    }

    pub fn seed_config(&self, num_labels: usize) -> SeedConfig {
        self.model.seed_config(num_labels)
    }

    pub fn loss_weights(&self) -> LossWeights {
        let l = &self.loss;
        LossWeights::new()
            .with_diversity(l.diversity)
            .with_localisation(l.localisation)
            .with_anchor(l.anchor)
            .with_positive(l.positive)
            .with_max_scale(l.max_scale)
            .with_min_scale(l.min_scale)
    }

    pub fn vocabulary_config(&self) -> VocabularyConfig {
        VocabularyConfig {
            columns: self.labels.columns.clone(),
            min_count: self.labels.min_count,
            include_colour: self.labels.include_colour,
            ..VocabularyConfig::default()
        }
    }

    /// The preprocessing of the configured network ([`ModelSection::image_spec`]).
    pub fn image_spec(&self) -> ImageSpec {
        self.model.image_spec()
    }
}

#[cfg(test)]
mod tests {
    use super::{Schedule, TrainConfig};

    #[test]
    fn grey_gamma_is_a_gamma_of_at_least_one() {
        let with_gamma = |g: f32| {
            let mut config = TrainConfig::default();
            config.augment.grey_gamma = g;
            config.validate().map_err(|invalid| invalid.0)
        };
        assert!(with_gamma(1.0).is_ok() && with_gamma(3.0).is_ok());
        for bad in [0.5, 0.0, -2.0, f32::NAN, f32::INFINITY] {
            let message = with_gamma(bad).expect_err("out of range");
            assert!(message.contains("augment.grey_gamma"), "{bad}: {message}");
        }
        // Off unless asked for, so earlier configs train as they did.
        assert_eq!(TrainConfig::default().augment.grey_gamma, 1.0);
    }

    #[test]
    fn a_cosine_schedule_falls_from_the_rate_to_nothing() {
        let cosine = |done| Schedule::Cosine.factor(done, 100);
        assert_eq!(cosine(0), 1.0);
        assert!((cosine(50) - 0.5).abs() < 1e-12 && (cosine(25) - (0.5 + 0.5 * 0.5f64.sqrt())).abs() < 1e-12);
        assert!(
            cosine(100).abs() < 1e-12 && cosine(150).abs() < 1e-12,
            "no rise past the end"
        );
        assert!((1..=100).all(|d| cosine(d) < cosine(d - 1)), "falling all the way");
        assert!((0..200).all(|d| Schedule::Constant.factor(d, 100) == 1.0));
        let parsed: TrainConfig = toml::from_str("[optimizer]\nschedule = \"cosine\"").unwrap();
        assert_eq!(parsed.optimizer.schedule, Schedule::Cosine);
        assert_eq!(TrainConfig::default().optimizer.schedule, Schedule::Constant);
    }
}
