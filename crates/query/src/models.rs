//! The model an index names, opened by one dispatch: the histogram baseline, an ImageNet
//! network, or a trained run folder (which also explains: attention boxes).

use std::path::Path;
use std::sync::Arc;

use lookbook_embed::{EmbedError, Embedder, HistogramEmbedder, ImageNetEmbedder, SeedEmbedder};

/// The `model` an index records for the histogram baseline.
pub const HISTOGRAM_MODEL: &str = "baseline:histogram";
/// `--model imagenet:NAME`: a pretrained network's pooled features, untrained here.
pub const IMAGENET_PREFIX: &str = "imagenet:";

/// What an index's `model` string (or `--model`) names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelName<'a> {
    Histogram,
    /// `imagenet:NAME`.
    ImageNet(&'a str),
    /// A run folder (its latest checkpoint) or a checkpoint folder.
    Run(&'a Path),
}

impl<'a> ModelName<'a> {
    pub fn parse(model: &'a Path) -> Self {
        if model.as_os_str() == HISTOGRAM_MODEL {
            return ModelName::Histogram;
        }
        match model.to_str().and_then(|m| m.strip_prefix(IMAGENET_PREFIX)) {
            Some(name) => ModelName::ImageNet(name),
            None => ModelName::Run(model),
        }
    }
}

/// An opened model: what embeds, the seed model behind it when it is one (boxes), and the
/// `model` string an index built with it records.
#[derive(Clone)]
pub struct OpenedModel {
    pub embedder: Arc<dyn Embedder>,
    pub seed: Option<Arc<SeedEmbedder>>,
    pub recorded: String,
}

impl OpenedModel {
    /// The model `model` names (a run folder is recorded by its canonical checkpoint path).
    pub fn open(model: &Path) -> Result<OpenedModel, EmbedError> {
        Ok(match ModelName::parse(model) {
            ModelName::Histogram => OpenedModel {
                embedder: Arc::new(HistogramEmbedder::new()),
                seed: None,
                recorded: HISTOGRAM_MODEL.into(),
            },
            ModelName::ImageNet(name) => OpenedModel {
                embedder: Arc::new(ImageNetEmbedder::new(name, None)?),
                seed: None,
                recorded: format!("{IMAGENET_PREFIX}{name}"),
            },
            ModelName::Run(run) => {
                let seed = Arc::new(SeedEmbedder::from_run(run)?);
                let dir = seed.checkpoint().dir.clone();
                let dir = dir.canonicalize().unwrap_or(dir);
                OpenedModel {
                    embedder: Arc::clone(&seed) as Arc<dyn Embedder>,
                    seed: Some(seed),
                    recorded: dir.display().to_string(),
                }
            }
        })
    }

    /// The seed model `model` names, when it names a run (`None` for a baseline).
    pub fn open_seed(model: &Path) -> Result<Option<Arc<SeedEmbedder>>, EmbedError> {
        match ModelName::parse(model) {
            ModelName::Run(run) => Ok(Some(Arc::new(SeedEmbedder::from_run(run)?))),
            _ => Ok(None),
        }
    }
}
