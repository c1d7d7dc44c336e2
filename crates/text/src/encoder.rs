//! The text encoder: sub-word embeddings, mean-pooled over the text, then a two-layer MLP with
//! a linear shortcut into the image embedding space, unit length. A bag of sub-words, not a
//! transformer: a catalogue has a few thousand captions, and a shopper's query is a bag of
//! words ("black ribbed jumper") whose order carries little (BENCHMARKS.md, issue 23).
//! It learns a temperature too (CLIP's), the scale of the contrastive loss's logits.

use burn::module::{Module, Param};
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// The encoder's shape.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EncoderShape {
    /// Sub-word vocabulary size.
    pub vocab: usize,
    /// Width of each sub-word's embedding.
    pub width: usize,
    /// Width of the MLP's hidden layer.
    pub hidden: usize,
    /// The image embedding's length: what the encoder outputs.
    pub dim: usize,
}

/// CLIP's starting temperature: logits = cosine / 0.07.
const INITIAL_LOG_SCALE: f32 = 2.659_26;
/// CLIP's ceiling on the scale (100), which keeps training stable.
pub const MAX_LOG_SCALE: f32 = 4.605_17;

#[derive(Module, Debug)]
pub struct TextEncoder<B: Backend> {
    pieces: Embedding<B>,
    hidden: Linear<B>,
    output: Linear<B>,
    shortcut: Linear<B>,
    /// ln of the logits' scale (1 / temperature).
    log_scale: Param<Tensor<B, 1>>,
}

/// A batch of texts as ids, padded: `ids [n, t]` and `mask [n, t]` (1 where a piece is).
pub struct Batch<B: Backend> {
    pub ids: Tensor<B, 2, Int>,
    pub mask: Tensor<B, 2>,
}

impl<B: Backend> Batch<B> {
    /// Pads each text's ids with `pad` to the longest (at least one piece each).
    pub fn new(texts: &[Vec<u32>], pad: u32, device: &B::Device) -> Self {
        let n = texts.len();
        let t = texts.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let mut ids = vec![pad as i64; n * t];
        let mut mask = vec![0.0f32; n * t];
        for (row, text) in texts.iter().enumerate() {
            for (col, &id) in text.iter().enumerate() {
                ids[row * t + col] = id as i64;
                mask[row * t + col] = 1.0;
            }
        }
        Batch {
            ids: Tensor::from_data(TensorData::new(ids, [n, t]), device),
            mask: Tensor::from_data(TensorData::new(mask, [n, t]), device),
        }
    }
}

impl<B: Backend> TextEncoder<B> {
    pub fn new(shape: &EncoderShape, device: &B::Device) -> Self {
        TextEncoder {
            pieces: EmbeddingConfig::new(shape.vocab, shape.width).init(device),
            hidden: LinearConfig::new(shape.width, shape.hidden).init(device),
            output: LinearConfig::new(shape.hidden, shape.dim).init(device),
            shortcut: LinearConfig::new(shape.width, shape.dim).with_bias(false).init(device),
            log_scale: Param::from_tensor(Tensor::from_floats([INITIAL_LOG_SCALE], device)),
        }
    }

    /// Unit-length vectors `[n, dim]` of a batch of texts.
    pub fn forward(&self, batch: &Batch<B>) -> Tensor<B, 2> {
        let [n, t] = batch.mask.dims();
        let mask = batch.mask.clone().reshape([n, t, 1]);
        let pieces = self.pieces.forward(batch.ids.clone()) * mask.clone();
        let width = pieces.dims()[2];
        // The mean over the text's pieces (padding masked out).
        let count = mask.sum_dim(1).reshape([n, 1]).clamp_min(1.0);
        let pooled = pieces.sum_dim(1).reshape([n, width]) / count;
        let out = self.output.forward(gelu(self.hidden.forward(pooled.clone()))) + self.shortcut.forward(pooled);
        unit_rows(out)
    }

    /// The logits' scale, `exp(log_scale)`, at most 100.
    pub fn scale(&self) -> Tensor<B, 1> {
        self.log_scale.val().clamp_max(MAX_LOG_SCALE).exp()
    }
}

/// Each row divided by its length.
pub fn unit_rows<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let norm = x.clone().powf_scalar(2.0).sum_dim(1).sqrt().clamp_min(1e-6);
    x / norm
}
