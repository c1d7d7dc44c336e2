//! An ImageNet-pretrained network's pooled features as an [`Embedder`]: the baseline a
//! trained model must beat (`--model imagenet:efficientnet-lite0`, `imagenet:efficientnet-lite2`).

use std::path::{Path, PathBuf};

use burn::tensor::{Tensor, TensorData};
use lookbook_imaging::{BadImage, Fit, ImageError, ImageSpec, Preprocessor, ResizeFilter};
use lookbook_model::{EfficientNetLite, InferBackend, LITE_VARIANTS, LiteCpu, LiteVariant};
use lookbook_pretrained::locate;

use crate::{EmbedError, Embedder};

/// The networks `--model imagenet:NAME` accepts.
pub const IMAGENET_MODELS: [&str; 2] = ["efficientnet-lite0", "efficientnet-lite2"];

/// EfficientNet-Lite's L2-normalised 1280-d average-pooled features, preprocessed as its
/// PyTorch reference: the whole photo stretched to the variant's square (224 px for Lite0,
/// 260 for Lite2, bicubic), x = (p/255 − ½)/½.
pub struct ImageNetEmbedder {
    variant: &'static LiteVariant,
    network: EfficientNetLite<InferBackend>,
    /// The same network compiled for our CPU kernels: what embedding runs.
    fast: LiteCpu,
    preprocessor: Preprocessor,
    spec: ImageSpec,
    weights: PathBuf,
}

impl ImageNetEmbedder {
    /// The preprocessing `variant`'s published weights were evaluated with.
    pub fn reference_spec(variant: &LiteVariant) -> ImageSpec {
        let side = variant.resolution as u32;
        ImageSpec {
            height: side,
            width: side,
            pad: [255, 255, 255],
            mean: [0.5; 3],
            std: [0.5; 3],
            fit: Fit::Stretch,
            filter: ResizeFilter::Bicubic,
        }
    }

    /// `name` (one of [`IMAGENET_MODELS`]) with weights from `weights` or where
    /// [`lookbook_pretrained::locate`] finds them.
    pub fn new(name: &str, weights: Option<&Path>) -> Result<Self, EmbedError> {
        let Some(variant) = LITE_VARIANTS.iter().find(|v| v.weights.name == name) else {
            return Err(EmbedError::UnknownModel(format!(
                "imagenet:{name} (known: {})",
                IMAGENET_MODELS.map(|m| format!("imagenet:{m}")).join(", ")
            )));
        };
        let path = locate(&variant.weights, weights)?;
        let network = EfficientNetLite::from_file(variant, &path, &Default::default())?;
        let spec = Self::reference_spec(variant);
        Ok(ImageNetEmbedder {
            variant,
            fast: LiteCpu::whole(&network),
            network,
            preprocessor: Preprocessor::new(spec)?,
            spec,
            weights: path,
        })
    }

    pub fn network(&self) -> &EfficientNetLite<InferBackend> {
        &self.network
    }

    pub fn spec(&self) -> &ImageSpec {
        &self.spec
    }

    /// `n` loaded images → the raw pooled features `[n, 1280]` (not normalised), through
    /// [`LiteCpu`].
    pub fn pooled(&self, items: &[f32], n: usize) -> Tensor<InferBackend, 2> {
        let (h, w) = (self.spec.height as usize, self.spec.width as usize);
        let pooled = self.fast.pooled(items, n, h, w);
        Tensor::from_data(TensorData::new(pooled, [n, Self::FEATURES]), &Default::default())
    }

    /// As [`ImageNetEmbedder::pooled`] through burn's ops (the reference the kernels are
    /// tested and benchmarked against).
    pub fn pooled_burn(&self, items: &[f32], n: usize) -> Tensor<InferBackend, 2> {
        let (h, w) = (self.spec.height as usize, self.spec.width as usize);
        let images =
            Tensor::<InferBackend, 4>::from_data(TensorData::new(items.to_vec(), [n, 3, h, w]), &Default::default());
        self.network.pooled(images)
    }

    const FEATURES: usize = EfficientNetLite::<InferBackend>::FEATURE_CHANNELS;
}

impl Embedder for ImageNetEmbedder {
    fn describe(&self) -> String {
        format!("imagenet:{} ({})", self.variant.weights.name, self.weights.display())
    }

    fn dim(&self) -> usize {
        EfficientNetLite::<InferBackend>::FEATURE_CHANNELS
    }

    fn parts(&self) -> (usize, usize) {
        (0, 0)
    }

    fn item_len(&self) -> usize {
        self.spec.tensor_len()
    }

    fn load_item(&self, path: &Path, out: &mut [f32]) -> Result<(), BadImage> {
        self.preprocessor.load_into(path, out)
    }

    fn load_bytes(&self, bytes: &[u8], out: &mut [f32]) -> Result<(), ImageError> {
        self.preprocessor.load_bytes_into(bytes, out)
    }

    fn mirror(&self, item: &mut [f32]) -> bool {
        crate::mirror_item(item, self.spec.height as usize, self.spec.width as usize, false);
        true
    }

    fn grey(&self, item: &mut [f32]) -> bool {
        crate::grey_item(item, &self.spec);
        true
    }

    fn embed_batch(&self, items: &[f32], n: usize) -> (Vec<f32>, Vec<f32>) {
        let pooled = self.pooled(items, n);
        let norm = pooled.clone().powf_scalar(2.0).sum_dim(1).sqrt().clamp_min(1e-12);
        let vectors = (pooled / norm)
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .expect("f32 tensor");
        (vectors, Vec::new())
    }
}
