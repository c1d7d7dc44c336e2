//! Training the text encoder against a frozen image space ("locked-image tuning"): each
//! training article's caption (a random part of it, mostly) is pulled towards its photo's
//! vector and away from the batch's other photos (symmetric InfoNCE, learned temperature).
//! The image side never changes, so the index already built answers text queries.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::{Tensor, TensorData};
use lookbook_model::saved::{META_FILE, checkpoint_dir, commit_checkpoint};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;

use crate::TextError;
use crate::caption::Caption;
use crate::config::TextConfig;
use crate::curves::write_curves;
use crate::encoder::{Batch, EncoderShape, TextEncoder};
use crate::loss::{logits, symmetric_info_nce};
use crate::retrieval::{first_hit_ranks, recall_at, unit};
use crate::saved::{
    FORMAT_VERSION, STATE_FILE, TOKENIZER_FILE, TextEpoch, TextMeta, WEIGHTS_FILE, read_meta, read_tokenizer,
    weights_bytes,
};
use crate::tokenizer::TextTokenizer;

type TrainBackend = Autodiff<Flex>;

/// Captions with their photos' vectors (`dim` floats each, row `i` for caption `i`).
pub struct Pairs {
    pub captions: Vec<Caption>,
    pub vectors: Vec<f32>,
}

impl Pairs {
    pub fn len(&self) -> usize {
        self.captions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.captions.is_empty()
    }
}

/// What a training run starts from.
pub struct TextTraining {
    pub config: TextConfig,
    /// Where checkpoints, `metrics.csv` and `curves.png` go.
    pub out: PathBuf,
    /// The image vectors' length and the model that made them (the index's).
    pub dim: usize,
    pub image_model: String,
    pub index: String,
    /// Continue the latest checkpoint in `out` (its tokenizer and optimizer state) until
    /// `config.epochs`.
    pub resume: bool,
}

/// Trains on `train` (validating on `val` after each epoch), writes a checkpoint per epoch and
/// returns the last one's meta. `on_epoch` sees each epoch's numbers as they come.
pub fn train_text(
    run: &TextTraining,
    train: &Pairs,
    val: &Pairs,
    mut on_epoch: impl FnMut(&TextEpoch),
) -> Result<TextMeta, TextError> {
    let dim = run.dim;
    if train.len() < 2 || train.vectors.len() != train.len() * dim || val.vectors.len() != val.len() * dim {
        return Err(TextError::Data(format!(
            "text training needs at least 2 captions with {dim}-d vectors; got {} ({} floats)",
            train.len(),
            train.vectors.len()
        )));
    }
    let config = &run.config;
    fs::create_dir_all(&run.out).map_err(|e| TextError::io(&run.out, e))?;
    let device = Default::default();
    let image_norm = mean_norm(&train.vectors, dim);
    let mut images = train.vectors.clone();
    unit(&mut images, dim);

    let adam = AdamConfig::new();
    let (tokenizer, mut meta, mut encoder, mut optimizer) = match run.resume && checkpoint_dir(&run.out).is_ok() {
        true => {
            let dir = checkpoint_dir(&run.out)?;
            let mut meta = read_meta(&dir)?;
            if meta.shape.dim != dim || meta.image_model != run.image_model {
                return Err(TextError::saved(
                    &dir,
                    format!(
                        "trained for {}-d vectors of `{}`, not {dim}-d of `{}`",
                        meta.shape.dim, meta.image_model, run.image_model
                    ),
                ));
            }
            let tokenizer = read_tokenizer(&dir, &meta)?;
            let (encoder, optimizer) = load_state(&dir, &meta, adam.init(), &device)?;
            meta.config.epochs = config.epochs;
            (tokenizer, meta, encoder, optimizer)
        }
        false => {
            let corpus: Vec<String> = train.captions.iter().map(Caption::full).collect();
            let tokenizer = TextTokenizer::train(&corpus, config.vocab_size, config.max_tokens)?;
            let shape = EncoderShape {
                vocab: tokenizer.vocab_size(),
                width: config.width,
                hidden: config.hidden,
                dim,
            };
            let meta = TextMeta {
                format_version: FORMAT_VERSION,
                epoch: 0,
                config: config.clone(),
                shape,
                image_model: run.image_model.clone(),
                index: run.index.clone(),
                image_norm,
                pairs: train.len(),
                val_pairs: val.len(),
                known_words: tokenizer.known_words().clone(),
                history: Vec::new(),
            };
            <TrainBackend as burn::tensor::backend::Backend>::seed(&device, config.seed);
            (
                tokenizer,
                meta,
                TextEncoder::<TrainBackend>::new(&shape, &device),
                adam.init(),
            )
        }
    };

    let val_texts: Vec<String> = val.captions.iter().map(Caption::full).collect();
    let mut val_images = val.vectors.clone();
    unit(&mut val_images, dim);
    let pad = tokenizer.pad_id();
    let batch_size = config.batch_size.clamp(2, train.len());
    for epoch in meta.epoch + 1..=config.epochs {
        let start = Instant::now();
        let mut rng = SmallRng::seed_from_u64(config.seed.wrapping_add(epoch as u64));
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut rng);
        // A cosine from the full rate to a tenth of it over the run.
        let progress = (epoch - 1) as f64 / config.epochs.max(2).saturating_sub(1) as f64;
        let rate = config.learning_rate * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()));
        let (mut loss_sum, mut batches) = (0.0, 0usize);
        // A last batch smaller than half a batch is dropped: too few negatives to learn from.
        for chunk in order.chunks(batch_size).filter(|c| c.len() * 2 >= batch_size) {
            let ids = chunk
                .iter()
                .map(|&i| {
                    let text = train.captions[i].sample(&mut rng, config.full_text_share);
                    tokenizer.tokens(&text).map(|t| t.ids)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let targets: Vec<f32> = chunk
                .iter()
                .flat_map(|&i| images[i * dim..(i + 1) * dim].iter().copied())
                .collect();
            let targets = Tensor::<TrainBackend, 2>::from_data(TensorData::new(targets, [chunk.len(), dim]), &device);
            let texts = encoder.forward(&Batch::new(&ids, pad, &device));
            let loss = symmetric_info_nce(logits(texts, targets, encoder.scale()));
            loss_sum += loss.clone().into_scalar() as f64;
            batches += 1;
            let grads = GradientsParams::from_grads(loss.backward(), &encoder);
            encoder = optimizer.step(rate, encoder, grads);
        }
        let valid = encoder.valid();
        let (val_recall_1, val_recall_10) = validate(&valid, &tokenizer, &val_texts, &val_images, dim)?;
        let report = TextEpoch {
            epoch,
            loss: loss_sum / batches.max(1) as f64,
            val_recall_1,
            val_recall_10,
            temperature: 1.0 / valid.scale().into_scalar() as f64,
            seconds: start.elapsed().as_secs_f64(),
        };
        on_epoch(&report);
        meta.history.push(report);
        meta.epoch = epoch;
        save(&run.out, &encoder, &optimizer, &tokenizer, &meta)?;
        write_metrics(&run.out, &meta.history)?;
        write_curves(&run.out, &meta.history)?;
    }
    Ok(meta)
}

/// Recall@1 and @10 of the validation captions among the validation images.
fn validate(
    encoder: &TextEncoder<Flex>,
    tokenizer: &TextTokenizer,
    texts: &[String],
    images: &[f32],
    dim: usize,
) -> Result<(f64, f64), TextError> {
    if texts.is_empty() {
        return Ok((0.0, 0.0));
    }
    let ids = texts
        .iter()
        .map(|t| tokenizer.tokens(t).map(|t| t.ids))
        .collect::<Result<Vec<_>, _>>()?;
    let mut vectors = Vec::with_capacity(texts.len() * dim);
    for chunk in ids.chunks(512) {
        let out = encoder.forward(&Batch::new(chunk, tokenizer.pad_id(), &Default::default()));
        vectors.extend(out.into_data().iter::<f32>());
    }
    let ranks = first_hit_ranks(&vectors, images, dim, |q, g| q == g);
    Ok((recall_at(&ranks, 1), recall_at(&ranks, 10)))
}

fn mean_norm(vectors: &[f32], dim: usize) -> f32 {
    let rows = vectors.len() / dim.max(1);
    let total: f32 = vectors
        .chunks_exact(dim.max(1))
        .map(|v| v.iter().map(|x| x * x).sum::<f32>().sqrt())
        .sum();
    if rows == 0 { 1.0 } else { total / rows as f32 }
}

fn save<O: Optimizer<TextEncoder<TrainBackend>, TrainBackend>>(
    out: &Path,
    encoder: &TextEncoder<TrainBackend>,
    optimizer: &O,
    tokenizer: &TextTokenizer,
    meta: &TextMeta,
) -> Result<(), TextError> {
    use burn::module::Module;
    let weights = weights_bytes(&encoder.valid(), out)?;
    let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
    let bad = |e: burn::record::RecorderError| TextError::saved(out, e);
    let model_state = Recorder::<TrainBackend>::record(&recorder, encoder.clone().into_record(), ()).map_err(bad)?;
    let optim_state = Recorder::<TrainBackend>::record(&recorder, optimizer.to_record(), ()).map_err(bad)?;
    let mut state = (model_state.len() as u64).to_le_bytes().to_vec();
    state.extend_from_slice(&model_state);
    state.extend_from_slice(&optim_state);
    let meta_json = serde_json::to_vec_pretty(meta).map_err(|e| TextError::saved(out, e))?;
    let tokenizer_json = tokenizer.to_json()?;
    let files: [(&str, &[u8]); 4] = [
        (WEIGHTS_FILE, &weights),
        (TOKENIZER_FILE, tokenizer_json.as_bytes()),
        (META_FILE, &meta_json),
        (STATE_FILE, &state),
    ];
    commit_checkpoint(out, &format!("epoch-{:04}", meta.epoch), &files)?;
    Ok(())
}

fn load_state<O: Optimizer<TextEncoder<TrainBackend>, TrainBackend>>(
    dir: &Path,
    meta: &TextMeta,
    optimizer: O,
    device: &burn::tensor::Device<TrainBackend>,
) -> Result<(TextEncoder<TrainBackend>, O), TextError> {
    use burn::module::Module;
    let path = dir.join(STATE_FILE);
    let bytes = fs::read(&path).map_err(|e| TextError::io(&path, e))?;
    let split = bytes
        .get(..8)
        .and_then(|b| Some(u64::from_le_bytes(b.try_into().ok()?) as usize))
        .filter(|&n| n <= bytes.len() - 8)
        .ok_or_else(|| TextError::saved(&path, "truncated training state"))?;
    let (model_state, optim_state) = bytes[8..].split_at(split);
    let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
    let bad = |e: burn::record::RecorderError| TextError::saved(&path, e);
    let record = Recorder::<TrainBackend>::load(&recorder, model_state.to_vec(), device).map_err(bad)?;
    // The shape comes from meta; the weights (and their parameter ids, which Adam's state is
    // keyed by) from the record.
    let encoder = TextEncoder::<TrainBackend>::new(&meta.shape, device).load_record(record);
    let optim_record = Recorder::<TrainBackend>::load(&recorder, optim_state.to_vec(), device).map_err(bad)?;
    Ok((encoder, optimizer.load_record(optim_record)))
}

/// `metrics.csv`, one row per epoch (written whole at the end, to a temp file then renamed).
fn write_metrics(out: &Path, history: &[TextEpoch]) -> Result<(), TextError> {
    let mut csv = String::from("epoch,loss,val_recall_1,val_recall_10,temperature,seconds\n");
    for e in history {
        csv.push_str(&format!(
            "{},{:.5},{:.4},{:.4},{:.5},{:.2}\n",
            e.epoch, e.loss, e.val_recall_1, e.val_recall_10, e.temperature, e.seconds
        ));
    }
    let path = out.join("metrics.csv");
    let tmp = out.join("metrics.csv.tmp");
    fs::write(&tmp, csv).map_err(|e| TextError::io(&tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| TextError::io(&path, e))
}
