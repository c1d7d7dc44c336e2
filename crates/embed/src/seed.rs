//! The trained seed model of a run folder as an [`Embedder`].

use std::path::Path;

use burn::tensor::{Tensor, TensorData};
use lookbook_imaging::{BadImage, FRAME_LEN, ImageError, ImageSpec, Preprocessor, split_frames};
use lookbook_model::{EfficientNetLite, InferBackend, SavedModel, SeedModel, SeedOutput};

use crate::{EmbedError, Embedder};

/// The retrieval embedding (global feature ⊕ each step's encoding, each L2-normalised) and
/// the per-step part vectors of a trained model, on the CPU.
pub struct SeedEmbedder {
    pub(crate) model: SeedModel<InferBackend>,
    /// The frozen pretrained trunk the model's head starts from (pretrained backbones only).
    trunk: Option<EfficientNetLite<InferBackend>>,
    pub(crate) preprocessor: Preprocessor,
    pub(crate) spec: ImageSpec,
    dim: usize,
    /// The attention steps' part vectors (K + 1 of them), and their length.
    parts: (usize, usize),
    /// Whether each image's label scores follow its step parts as one more part (when the
    /// vocabulary fits a part's length): what keeps a varied recommendation in the query's
    /// category (`lookbook_recommend::RecommendConfig::label_part`).
    label_part: bool,
    pub(crate) checkpoint: SavedModel,
}

impl SeedEmbedder {
    /// The latest checkpoint of the run folder `run` (or a checkpoint folder itself).
    pub fn from_run(run: &Path) -> Result<Self, EmbedError> {
        let checkpoint = SavedModel::open(run)?;
        let model = checkpoint.load::<InferBackend>(&Default::default())?;
        let config = checkpoint.seed_config();
        let spec = checkpoint.meta.model.image_spec();
        let trunk = if config.pretrained() {
            Some(EfficientNetLite::pretrained(
                &config.backbone,
                None,
                &Default::default(),
            )?)
        } else {
            None
        };
        Ok(SeedEmbedder {
            model,
            trunk,
            preprocessor: Preprocessor::new(spec)?,
            spec,
            dim: config.embedding_dim(),
            parts: (config.steps + 1, config.encoding_dim),
            label_part: config.steps > 0 && (1..=config.encoding_dim).contains(&config.num_labels),
            checkpoint,
        })
    }

    pub fn checkpoint(&self) -> &SavedModel {
        &self.checkpoint
    }

    /// How photos are prepared for the model.
    pub fn spec(&self) -> &ImageSpec {
        &self.spec
    }

    /// `n` loaded images (each its pixels, then its garment frame) → the model's outputs
    /// (through the pretrained trunk when there is one).
    pub fn forward(&self, items: Vec<f32>, n: usize) -> SeedOutput<InferBackend> {
        let (h, w) = (self.spec.height as usize, self.spec.width as usize);
        let (pixels, frames) = split_frames(items, n);
        let device = Default::default();
        let images = Tensor::<InferBackend, 4>::from_data(TensorData::new(pixels, [n, 3, h, w]), &device);
        let frames = Some(Tensor::from_data(TensorData::new(frames, [n, FRAME_LEN]), &device));
        match &self.trunk {
            Some(trunk) => self.model.forward_trunk(trunk.trunk(images), frames),
            None => self.model.forward_in(images, frames),
        }
    }
}

impl SeedEmbedder {
    /// The retrieval vectors and part vectors of `n` images' `output`: each image's step
    /// parts, then (with a label part) its label scores, L2-normalised and zero-padded to a
    /// part's length.
    pub(crate) fn vectors_of(&self, output: &SeedOutput<InferBackend>, n: usize) -> (Vec<f32>, Vec<f32>) {
        let floats = |data: TensorData| data.convert::<f32>().into_vec::<f32>().expect("f32 tensor");
        let vectors = floats(output.embedding().into_data());
        let parts = floats(output.parts().into_data());
        if !self.label_part {
            return (vectors, parts);
        }
        let scores = floats(output.scores.clone().into_data());
        let (steps, part_dim) = self.parts;
        let labels = scores.len() / n.max(1);
        let mut out = Vec::with_capacity(n * (steps + 1) * part_dim);
        for (row, scores) in parts
            .chunks_exact(steps * part_dim)
            .zip(scores.chunks_exact(labels.max(1)))
        {
            out.extend_from_slice(row);
            let norm = scores.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            out.extend(scores.iter().map(|v| v / norm));
            out.extend(std::iter::repeat_n(0.0, part_dim - labels));
        }
        (vectors, out)
    }
}

impl Embedder for SeedEmbedder {
    fn describe(&self) -> String {
        format!(
            "seed model {} (epoch {})",
            self.checkpoint.dir.display(),
            self.checkpoint.meta.epoch
        )
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn parts(&self) -> (usize, usize) {
        (self.parts.0 + usize::from(self.label_part), self.parts.1)
    }

    fn label_part(&self) -> bool {
        self.label_part
    }

    fn item_len(&self) -> usize {
        self.spec.tensor_len() + FRAME_LEN
    }

    fn load_item(&self, path: &Path, out: &mut [f32]) -> Result<(), BadImage> {
        self.preprocessor.load_framed_into(path, out)
    }

    fn load_bytes(&self, bytes: &[u8], out: &mut [f32]) -> Result<(), ImageError> {
        self.preprocessor.load_bytes_framed_into(bytes, out)
    }

    fn mirror(&self, item: &mut [f32]) -> bool {
        crate::mirror_item(item, self.spec.height as usize, self.spec.width as usize, true);
        true
    }

    fn embed_batch(&self, items: Vec<f32>, n: usize) -> (Vec<f32>, Vec<f32>) {
        let output = self.forward(items, n);
        self.vectors_of(&output, n)
    }
}
