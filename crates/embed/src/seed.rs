//! The trained seed model of a run folder as an [`Embedder`].

use std::path::Path;

use burn::tensor::{Tensor, TensorData};
use image::RgbImage;
use lookbook_imaging::{BadImage, FRAME_LEN, ImageError, ImageSpec, Preprocessor};
use lookbook_model::{EfficientNetLite, InferBackend, LiteCpu, SavedModel, SeedModel, SeedOutput, Theta};

use crate::explain::{PhotoBoxes, upright_size};
use crate::{EmbedError, EmbeddedBatch, Embedder};

/// Floats after an item's garment frame: the upright photo's width and height in pixels,
/// so the batch that embeds it can give its attention boxes in the photo's own pixels.
const SIZE_LEN: usize = 2;

/// The retrieval embedding (global feature ⊕ each step's encoding, each L2-normalised) and
/// the per-step part vectors of a trained model, on the CPU.
pub struct SeedEmbedder {
    pub(crate) model: SeedModel<InferBackend>,
    /// The pretrained trunk the model's head starts from (pretrained backbones only): its
    /// frozen blocks then the model's fine-tuned ones, compiled for our CPU kernels.
    trunk: Option<LiteCpu>,
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
            let network = EfficientNetLite::<InferBackend>::pretrained(&config.backbone, None, &Default::default())?;
            // The model holds the trunk's last blocks when they were fine-tuned.
            let frozen = network.blocks.len() - model.tuned_blocks();
            Some(LiteCpu::new(&network, frozen, &model.pretrained_blocks, false))
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

    /// `n` loaded images (each its pixels, its garment frame, its photo's size) → the model's
    /// outputs (through the pretrained trunk when there is one), and the items' frames.
    pub(crate) fn forward(&self, items: &[f32], n: usize) -> (SeedOutput<InferBackend>, Vec<f32>, Vec<(u32, u32)>) {
        let (h, w) = (self.spec.height as usize, self.spec.width as usize);
        let item_len = crate::Embedder::item_len(self);
        assert_eq!(items.len(), n * item_len, "n loaded items");
        let pixels_len = 3 * h * w;
        // Each item: its pixels, its garment frame, its photo's size (see `item_of`).
        let mut frames = Vec::with_capacity(n * FRAME_LEN);
        let mut sizes = Vec::with_capacity(n);
        for item in items.chunks_exact(item_len) {
            let (frame, size) = item[pixels_len..].split_at(FRAME_LEN);
            frames.extend_from_slice(frame);
            sizes.push((size[0] as u32, size[1] as u32));
        }
        let device = Default::default();
        let frame_tensor = Some(Tensor::from_data(
            TensorData::new(frames.clone(), [n, FRAME_LEN]),
            &device,
        ));
        let output = match &self.trunk {
            Some(trunk) => {
                let (values, shape) = trunk.trunk_nhwc_items(items, item_len, n, h, w);
                let trunk = Tensor::<InferBackend, 4>::from_data(TensorData::new(values, shape), &device);
                self.model.forward_head_nhwc(trunk, frame_tensor)
            }
            None => {
                let pixels: Vec<f32> = items
                    .chunks_exact(item_len)
                    .flat_map(|item| &item[..pixels_len])
                    .copied()
                    .collect();
                let images = Tensor::<InferBackend, 4>::from_data(TensorData::new(pixels, [n, 3, h, w]), &device);
                self.model.forward_in(images, frame_tensor)
            }
        };
        (output, frames, sizes)
    }
}

impl SeedEmbedder {
    /// A decoded photo (`header`: its stored size, when known) as one item: its pixels, its
    /// garment frame and its upright size.
    pub(crate) fn item_of(&self, photo: &RgbImage, header: Option<(u32, u32)>, out: &mut [f32]) {
        let (framed, size) = out.split_at_mut(out.len() - SIZE_LEN);
        self.preprocessor.framed_into(photo, framed);
        let (width, height) = upright_size(photo.dimensions(), header);
        size.copy_from_slice(&[width as f32, height as f32]);
    }

    /// Each image's step boxes in its photo's pixels, named against its garment frame.
    fn boxes_of(&self, output: &SeedOutput<InferBackend>, frames: &[f32], sizes: &[(u32, u32)]) -> Vec<PhotoBoxes> {
        let thetas: Vec<Vec<Theta>> = output.thetas.iter().map(|t| Theta::from_tensor(t.clone())).collect();
        sizes
            .iter()
            .zip(frames.chunks_exact(FRAME_LEN))
            .enumerate()
            .map(|(i, (&(width, height), frame))| {
                let steps: Vec<Theta> = thetas.iter().map(|step| step[i]).collect();
                PhotoBoxes::of_steps(&steps, frame, &self.spec, width, height)
            })
            .collect()
    }

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
        self.spec.tensor_len() + FRAME_LEN + SIZE_LEN
    }

    fn load_item(&self, path: &Path, out: &mut [f32]) -> Result<(), BadImage> {
        let photo = self.preprocessor.decode(path)?;
        self.item_of(&photo, image::image_dimensions(path).ok(), out);
        Ok(())
    }

    fn load_bytes(&self, bytes: &[u8], out: &mut [f32]) -> Result<(), ImageError> {
        let photo = self.preprocessor.decode_bytes(bytes)?;
        self.item_of(&photo, crate::explain::header_size(bytes), out);
        Ok(())
    }

    fn mirror(&self, item: &mut [f32]) -> bool {
        let framed = item.len() - SIZE_LEN;
        crate::mirror_item(
            &mut item[..framed],
            self.spec.height as usize,
            self.spec.width as usize,
            true,
        );
        true
    }

    fn grey(&self, item: &mut [f32]) -> bool {
        crate::grey_item(item, &self.spec);
        true
    }

    fn embed_batch(&self, items: &[f32], n: usize) -> (Vec<f32>, Vec<f32>) {
        let (output, _, _) = self.forward(items, n);
        self.vectors_of(&output, n)
    }

    fn embed_batch_boxed(&self, items: &[f32], n: usize) -> EmbeddedBatch {
        let (output, frames, sizes) = self.forward(items, n);
        let (vectors, parts) = self.vectors_of(&output, n);
        let boxes = match self.parts.0 > 1 {
            true => self.boxes_of(&output, &frames, &sizes),
            false => Vec::new(),
        };
        EmbeddedBatch { vectors, parts, boxes }
    }
}
