//! Images to vectors, in batches, with decoding in parallel ahead of the model.
//!
//! An [`Embedder`] says how one image becomes floats on a loader thread
//! ([`Embedder::load_item`]) and how a batch of those becomes vectors
//! ([`Embedder::embed_batch`]). [`SeedEmbedder`] is the trained model of a run folder (the
//! retrieval embedding plus per-part vectors); [`HistogramEmbedder`] is the 8×8×8 RGB
//! histogram the evaluation reports as a sanity row; [`ImageNetEmbedder`] is an
//! ImageNet-pretrained network's pooled features, the baseline a trained model must beat. [`embed_images`] drives either over
//! a list of catalogue entries and keeps going past bad photos.

mod explain;
mod histogram;
mod imagenet;
mod seed;
mod views;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use lookbook_catalog::Catalog;
use lookbook_imaging::{BadImage, BatchLoader, ImageError, LoaderOptions};

pub use explain::{Explanation, ExplanationReport, PhotoBoxes, Region, RegionReport, region_box};
pub use histogram::{HistogramEmbedder, rgb_histogram};
pub use imagenet::{IMAGENET_MODELS, ImageNetEmbedder};
pub use seed::SeedEmbedder;
pub use views::{View, ViewAveraged, grey_item, mirror_item};

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error(transparent)]
    Model(#[from] lookbook_model::ModelError),
    #[error(transparent)]
    Image(#[from] lookbook_imaging::ImageError),
    #[error(transparent)]
    Weights(#[from] lookbook_pretrained::WeightsError),
    #[error("unknown model {0}")]
    UnknownModel(String),
    #[error(transparent)]
    Draw(#[from] lookbook_imaging::draw::DrawError),
}

/// How images become vectors.
pub trait Embedder: Send + Sync {
    /// For the index manifest: what produced the vectors.
    fn describe(&self) -> String;
    /// Length of the retrieval vector.
    fn dim(&self) -> usize;
    /// Per-part vectors per image and their length (0, 0 when there are none).
    fn parts(&self) -> (usize, usize);
    /// Floats [`Embedder::load_item`] writes per image.
    fn item_len(&self) -> usize;
    /// Decode `path` into `out` (runs on loader threads).
    fn load_item(&self, path: &Path, out: &mut [f32]) -> Result<(), BadImage>;
    /// [`Embedder::load_item`] for a photo in memory (an upload to the server).
    fn load_bytes(&self, bytes: &[u8], out: &mut [f32]) -> Result<(), ImageError>;
    /// Whether the last of the parts is the image's label scores rather than an attention step.
    fn label_part(&self) -> bool {
        false
    }
    /// Mirrors one loaded item left-right in place ([`ViewAveraged`]); false (untouched) when
    /// the embedder's items are not images it can mirror.
    fn mirror(&self, _item: &mut [f32]) -> bool {
        false
    }
    /// Turns one loaded item grey in place ([`grey_item`]); false (untouched) when the
    /// embedder's items are not colour images.
    fn grey(&self, _item: &mut [f32]) -> bool {
        false
    }
    /// `n` loaded items → (`n × dim` vectors, `n × parts × part_dim` part vectors). The items
    /// are borrowed so the loader can reuse their buffer for the next batch.
    fn embed_batch(&self, items: &[f32], n: usize) -> (Vec<f32>, Vec<f32>);
    /// [`Embedder::embed_batch`] with each image's attention boxes from the same forward pass
    /// (none for an embedder without attention steps), so an index can store them and answers
    /// need not run the model again (issue 20).
    fn embed_batch_boxed(&self, items: &[f32], n: usize) -> EmbeddedBatch {
        let (vectors, parts) = self.embed_batch(items, n);
        EmbeddedBatch {
            vectors,
            parts,
            boxes: Vec::new(),
        }
    }
}

/// What [`Embedder::embed_batch_boxed`] gives for a batch.
#[derive(Debug, Default)]
pub struct EmbeddedBatch {
    pub vectors: Vec<f32>,
    pub parts: Vec<f32>,
    /// One per image, or empty when the embedder has no attention steps.
    pub boxes: Vec<PhotoBoxes>,
}

/// What [`embed_images`] produced: rows in the order embedded (bad images left out).
#[derive(Debug, Default)]
pub struct Embedded {
    /// The catalogue entry of each row.
    pub entries: Vec<usize>,
    pub vectors: Vec<f32>,
    pub parts: Vec<f32>,
    /// Each row's attention boxes, or empty when the embedder has no attention steps.
    pub boxes: Vec<PhotoBoxes>,
    pub bad: Vec<BadImage>,
}

/// Progress of [`embed_images`], for a bar.
#[derive(Debug, Clone, Copy)]
pub struct EmbedProgress {
    pub done: usize,
    pub total: usize,
    pub images_per_second: f64,
    /// Seconds so far in the model, and waiting for the loader's next decoded batch (decoding
    /// runs on loader threads beside the model: the wait is what it did not hide).
    pub model_seconds: f64,
    pub waited_seconds: f64,
}

/// Images per forward pass when embedding a catalogue (`index`, `eval`). Our kernels run
/// the trunk image by image, so a batch only amortises the attention branch: measured on all
/// 7,175 H&M photos with the 384×256 `effnet-cpu` model, 16 took 2:00 and peaked at 350 MB
/// RSS, 32 took 2:04 and 422 MB (BENCHMARKS.md, issue 20).
pub const DEFAULT_BATCH: usize = 16;

/// How [`embed_images`] loads batches of `batch` images: each decoded while the one before
/// is embedded, and handed over only when asked for (prefetch 0), so two batch buffers go
/// round — a third, waiting, bought no speed (the model is slower than decoding).
pub fn loader_options(batch: usize) -> LoaderOptions {
    LoaderOptions {
        batch_size: batch.max(1),
        prefetch: 0,
        ..LoaderOptions::default()
    }
}

/// Embeds `catalog.entries[i]` for each `i` in `order`, in batches of `batch_size`.
pub fn embed_images(
    embedder: Arc<dyn Embedder>,
    catalog: &Catalog,
    order: Vec<usize>,
    options: LoaderOptions,
    mut progress: impl FnMut(EmbedProgress),
) -> Result<Embedded, EmbedError> {
    let total = order.len();
    let paths: Arc<Vec<PathBuf>> = Arc::new(catalog.entries.iter().map(|e| catalog.image_path(e)).collect());
    let loader_embedder = embedder.clone();
    let mut loader = BatchLoader::spawn(order, embedder.item_len(), options, move |item, out| {
        loader_embedder.load_item(&paths[item], out)
    })?;
    let mut embedded = Embedded::default();
    let start = Instant::now();
    let mut done = 0;
    let (mut model_seconds, mut waited_seconds) = (0.0, 0.0);
    let mut waiting = Instant::now();
    while let Some(mut batch) = loader.next() {
        waited_seconds += waiting.elapsed().as_secs_f64();
        done += batch.items.len() + batch.failures.len();
        embedded.bad.extend(batch.failures.drain(..).map(|(_, bad)| bad));
        if !batch.items.is_empty() {
            let started = Instant::now();
            let output = embedder.embed_batch_boxed(&batch.pixels, batch.items.len());
            model_seconds += started.elapsed().as_secs_f64();
            embedded.entries.extend_from_slice(&batch.items);
            embedded.vectors.extend(output.vectors);
            embedded.parts.extend(output.parts);
            embedded.boxes.extend(output.boxes);
        }
        // The same few batch buffers go round: memory stays the loader's prefetch, and no
        // batch faults fresh pages in.
        loader.recycle(batch);
        progress(EmbedProgress {
            done,
            total,
            images_per_second: done as f64 / start.elapsed().as_secs_f64().max(1e-9),
            model_seconds,
            waited_seconds,
        });
        waiting = Instant::now();
    }
    Ok(embedded)
}
