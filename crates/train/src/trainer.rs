//! The training loop.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::{AutodiffModule, Module};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor, TensorData};
use lookbook_catalog::{Catalog, LabelVocabulary, OpenOptions, Split};
use lookbook_eval::catalogue::CategoryChoice;
use lookbook_imaging::{
    BadImage, Batch, BatchLoader, FRAME_LEN, LoaderOptions, Preprocessor, letterbox, letterboxed_frame, normalise_into,
};
use lookbook_model::losses::{identity_loss_of_kind, seed_loss_of_known};
use lookbook_model::{EfficientNetLite, SeedBackend, SeedModel};
use rand::Rng;
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::augment::{augment, rng_for};
use crate::checkpoint::{self, Checkpoint, CheckpointMeta, FORMAT_VERSION};
use crate::config::TrainConfig;
use crate::error::TrainError;
use crate::metrics;
use crate::reports::write_metrics_csv;
pub use crate::reports::{EpochReport, StepReport};
use crate::sampler::grouped_by_identity;
use crate::sources::Sources;
use crate::trunk::{CachedGrey, TrunkCache, View, cached_batches, forward_batch, load_backbone};
use crate::validation::{Validation, validation_category};

pub enum TrainingEvent<'a> {
    Started {
        epochs: usize,
        steps_per_epoch: usize,
        first_epoch: usize,
    },
    /// Photos run through the frozen pretrained trunk so far (once per run).
    Caching {
        done: usize,
        total: usize,
    },
    Step(&'a StepReport),
    BadImage(&'a BadImage),
    Epoch(&'a EpochReport),
}

/// A training run over one catalogue, writing into one run folder.
pub struct Trainer {
    pub config: TrainConfig,
    pub catalog: Catalog,
    pub vocabulary: LabelVocabulary,
    pub run_dir: PathBuf,
    resume_from: Option<Checkpoint>,
    /// The catalogues joined into `catalog` (`data.also_train_on`).
    pub sources: Sources,
    /// Multi-hot targets of every catalogue entry, row-major.
    targets: Arc<Vec<f32>>,
    /// Which of those targets are known (joined catalogues only): 1 = the label's column is
    /// one of the entry's catalogue's.
    known: Option<Arc<Vec<f32>>>,
    train_items: Vec<usize>,
    val_items: Vec<usize>,
    /// What validation ranks by: `None` = the item id (another photo of the same product is a
    /// hit); a category column when no validation item has two photos (issue 25).
    val_by: Option<CategoryChoice>,
}

impl Trainer {
    /// Prepare a run. With `resume`, the run folder's latest checkpoint supplies the
    /// config and label vocabulary (so the run continues exactly), except for
    /// `epochs_override`, which may extend it.
    pub fn new(
        catalog_dir: &Path,
        config: TrainConfig,
        run_dir: &Path,
        resume: bool,
        epochs_override: Option<usize>,
    ) -> Result<Self, TrainError> {
        let resume_from = if resume { Some(Checkpoint::open(run_dir)?) } else { None };
        if !resume && run_dir.join("latest.json").exists() {
            return Err(TrainError::RunExists {
                path: run_dir.to_path_buf(),
            });
        }
        let mut config = resume_from.as_ref().map_or(config, |c| c.meta.config.clone());
        if let Some(epochs) = epochs_override {
            config.optimizer.epochs = epochs;
        }
        let options = OpenOptions {
            fractions: config.data.split,
            ..OpenOptions::default()
        };
        let mut catalog = Catalog::open(catalog_dir, &options)?;
        let sources = Sources::join(&mut catalog, &config.data.also_train_on, &options)?;
        let vocabulary = match &resume_from {
            Some(c) => c.meta.vocabulary.clone(),
            None => {
                let mut wanted = config.vocabulary_config();
                wanted.columns = wanted.columns.or_else(|| sources.default_label_columns());
                LabelVocabulary::build(&catalog, catalog.split(Split::Train), &wanted)
            }
        };
        if vocabulary.is_empty() {
            return Err(TrainError::NoLabels);
        }
        let encoder = vocabulary.encoder(&catalog);
        let targets: Vec<f32> = catalog.entries.iter().flat_map(|e| encoder.multi_hot(e)).collect();
        let known = sources.known_labels(&vocabulary, catalog.entries.len()).map(Arc::new);
        let pick = |split: Split, max: usize| -> Vec<usize> {
            let mut items: Vec<usize> = catalog
                .entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.split == split)
                .map(|(i, _)| i)
                .collect();
            if max > 0 && items.len() > max {
                // A fixed subset, the same in every epoch and on resume.
                let mut rng = rand::rngs::SmallRng::seed_from_u64(config.seed);
                items.shuffle(&mut rng);
                items.truncate(max);
                items.sort_unstable();
            }
            items
        };
        let train_items = pick(Split::Train, config.data.max_train_images);
        let val_items = pick(Split::Val, config.data.max_val_images);
        if train_items.is_empty() {
            return Err(TrainError::NoData("train"));
        }
        let val_by = validation_category(&catalog, &val_items, config.labels.validation_attribute.as_deref())?;
        fs::create_dir_all(run_dir).map_err(|e| TrainError::io(run_dir, e))?;
        Ok(Trainer {
            config,
            catalog,
            vocabulary,
            run_dir: run_dir.to_path_buf(),
            resume_from,
            sources,
            targets: Arc::new(targets),
            known,
            train_items,
            val_items,
            val_by,
        })
    }

    pub fn train_items(&self) -> &[usize] {
        &self.train_items
    }

    /// One line on what validation ranks by, when it is not the item id.
    pub fn validation_note(&self) -> Option<String> {
        self.val_by.as_ref().map(|choice| {
            format!(
                "validation: no product has two photos, so top-k counts a neighbour of the same {} \
                 as a hit (chosen: {}; set [labels] validation_attribute to change it)",
                choice.column, choice.why
            )
        })
    }

    /// Train to the configured number of epochs, checkpointing after each.
    pub fn run<B: AutodiffBackend + SeedBackend>(
        &self,
        device: &B::Device,
        mut observer: impl FnMut(TrainingEvent),
    ) -> Result<Checkpoint, TrainError>
    where
        B::InnerBackend: SeedBackend,
    {
        let identities = self.identities();
        let seed_config = self
            .config
            .seed_config(self.vocabulary.len())
            .with_identities(identities.len());
        B::seed(device, self.config.seed);
        let opt = &self.config.optimizer;
        let adam = AdamConfig::new()
            .with_epsilon(opt.epsilon)
            .with_beta_1(opt.beta_1)
            .with_beta_2(opt.beta_2);
        let mut model = SeedModel::<B>::new(&seed_config, device);
        let cache = if seed_config.pretrained() {
            if self.resume_from.is_none() {
                let network = load_backbone::<B>(&seed_config.backbone, device)?;
                model = model.with_pretrained_head(&network);
            }
            let network = load_backbone::<B::InnerBackend>(&seed_config.backbone, device)?;
            Some(self.cache_trunk(&network, device, &mut observer)?)
        } else {
            None
        };
        let mut optimizer = adam.init::<B, SeedModel<B>>();
        let mut history = Vec::new();
        let mut first_epoch = 0;
        if let Some(checkpoint) = &self.resume_from {
            (model, optimizer) = checkpoint.load_training_state(model, optimizer, device)?;
            history = checkpoint.meta.history.clone();
            first_epoch = checkpoint.meta.epoch;
        }
        if opt.head_learning_rate == Some(0.0) {
            // Frozen: no gradient is even computed for the 1280×320 head.
            model.pretrained_head = model.pretrained_head.map(|head| head.no_grad());
        }
        let trunk_rate = opt.trunk_learning_rate.unwrap_or(opt.learning_rate);
        if trunk_rate == 0.0 {
            model.pretrained_blocks = model.pretrained_blocks.into_iter().map(|b| b.no_grad()).collect();
        }
        let batch_size = opt.batch_size;
        let steps = self.train_items.len().div_ceil(batch_size);
        observer(TrainingEvent::Started {
            epochs: opt.epochs,
            steps_per_epoch: steps,
            first_epoch,
        });
        let mut latest = self.resume_from.clone();
        let weights = self.config.loss_weights();
        let spec = self.config.image_spec();
        let [h, w] = [spec.height as usize, spec.width as usize];
        let labels = self.vocabulary.len();

        for epoch in first_epoch..opt.epochs {
            // Dropout draws from the backend's generator: reseed per epoch so a resumed
            // run continues as the uninterrupted one would.
            B::seed(device, self.config.seed.wrapping_add(epoch as u64 + 1));
            let started = Instant::now();
            let mut order = self.train_items.clone();
            order.shuffle(&mut rng_for(self.config.seed, epoch, usize::MAX));
            if self.config.data.photos_per_identity > 0 {
                let identity_of = |i: usize| identities.get(&self.catalog.entries[i].item_id).copied();
                let mut rng = rng_for(self.config.seed, epoch, usize::MAX - 1);
                order = grouped_by_identity(&order, identity_of, self.config.data.photos_per_identity, &mut rng);
            }
            let batches: Box<dyn Iterator<Item = Batch>> = match &cache {
                Some(cache) => {
                    let (flip, grey) = (self.config.augment.flip, self.config.augment.greyscale as f64);
                    let seed = self.config.seed;
                    Box::new(cached_batches(cache, order, batch_size, move |item| {
                        let mut rng = rng_for(seed, epoch, item);
                        View {
                            flip: flip && rng.random_bool(0.5),
                            grey: grey > 0.0 && rng.random_bool(grey),
                        }
                    }))
                }
                None => Box::new(self.loader(order, epoch, true)?),
            };
            let mut sums = [0.0f64; 8];
            let mut seen = 0usize;
            let mut bad = 0usize;
            for (step, batch) in batches.enumerate() {
                for (_, failure) in &batch.failures {
                    observer(TrainingEvent::BadImage(failure));
                }
                bad += batch.failures.len();
                let n = batch.len();
                if n == 0 {
                    continue;
                }
                let (targets, known) = self.targets_of::<B>(&batch.items, device);
                let output = forward_batch(&model, cache.as_ref(), batch.pixels, n, [h, w], device);
                let mut loss = seed_loss_of_known(&output, targets, known, &weights);
                let mut identity = loss.total.clone().mul_scalar(0.0);
                // Photos of a joined catalogue whose products have one photo each are left out.
                let (rows, ids): (Vec<i64>, Vec<i64>) = (batch.items.iter().enumerate())
                    .filter_map(|(row, i)| {
                        Some((row as i64, *identities.get(&self.catalog.entries[*i].item_id)? as i64))
                    })
                    .unzip();
                if let Some(proxies) = model.proxies.as_ref().filter(|_| !ids.is_empty()) {
                    let int = |v: Vec<i64>| {
                        let len = v.len();
                        Tensor::<B, 1, burn::tensor::Int>::from_data(TensorData::new(v, [len]), device)
                    };
                    let embedding = match rows.len() == n {
                        true => output.embedding(),
                        false => output.embedding().select(0, int(rows)),
                    };
                    let l = &self.config.loss;
                    identity = identity_loss_of_kind(
                        &l.identity_kind,
                        embedding,
                        proxies.val(),
                        int(ids),
                        l.identity_scale,
                        l.identity_margin,
                    );
                    loss.total = loss.total + identity.clone().mul_scalar(self.config.loss.identity);
                }
                let values = [
                    &loss.total,
                    &loss.classification,
                    &loss.diversity,
                    &loss.localisation,
                    &loss.scale,
                    &loss.anchor,
                    &loss.positive,
                    &identity,
                ]
                .map(|t| t.clone().into_scalar().elem::<f64>());
                let mut grads = loss.total.backward();
                // The pretrained head steps at its own rate (or not at all): one optimizer,
                // two steps over disjoint parameters, so its Adam state is checkpointed too.
                let head_grads = model
                    .pretrained_head
                    .as_ref()
                    .map(|head| GradientsParams::from_module(&mut grads, head));
                let trunk_grads = (!model.pretrained_blocks.is_empty())
                    .then(|| GradientsParams::from_module(&mut grads, &model.pretrained_blocks));
                let grads = GradientsParams::from_grads(grads, &model);
                let scale = opt.schedule.factor(epoch * steps + step, opt.epochs * steps);
                model = optimizer.step(opt.learning_rate * scale, model, grads);
                if let Some(head_grads) = head_grads {
                    let head_rate = opt.head_learning_rate.unwrap_or(opt.learning_rate);
                    if head_rate > 0.0 {
                        model = optimizer.step(head_rate * scale, model, head_grads);
                    }
                }
                if let Some(trunk_grads) = trunk_grads.filter(|_| trunk_rate > 0.0) {
                    model = optimizer.step(trunk_rate * scale, model, trunk_grads);
                }
                for (s, v) in sums.iter_mut().zip(values) {
                    *s += v * n as f64;
                }
                seen += n;
                observer(TrainingEvent::Step(&StepReport {
                    epoch,
                    step: step + 1,
                    steps,
                    loss: values[0],
                    classification: values[1],
                    diversity: values[2],
                    localisation: values[3],
                    identity: values[7],
                    images_per_second: seen as f64 / started.elapsed().as_secs_f64().max(1e-9),
                }));
            }
            let mean = |i: usize| if seen == 0 { f64::NAN } else { sums[i] / seen as f64 };
            let val = self.validate::<B::InnerBackend>(&model.valid(), cache.as_ref(), device, labels)?;
            let report = EpochReport {
                epoch: epoch + 1,
                train_images: seen,
                bad_images: bad,
                loss: mean(0),
                classification: mean(1),
                diversity: mean(2),
                localisation: mean(3),
                scale: mean(4),
                anchor: mean(5),
                positive: mean(6),
                identity: mean(7),
                val_images: val.images,
                val_map: val.map,
                val_prior_map: val.prior_map,
                val_queries: val.queries,
                val_top1: val.top[0],
                val_top5: val.top[1],
                val_top10: val.top[2],
                val_by: val.by,
                val_precision10: val.precision10,
                seconds: started.elapsed().as_secs_f64(),
            };
            history.push(report.clone());
            observer(TrainingEvent::Epoch(&report));
            let meta = CheckpointMeta {
                format_version: FORMAT_VERSION,
                epoch: epoch + 1,
                config: self.config.clone(),
                vocabulary: self.vocabulary.clone(),
                history: history.clone(),
                catalog: self.catalog.root.clone(),
                identities: identities.len(),
            };
            latest = Some(checkpoint::save(&self.run_dir, &model, &optimizer, &meta)?);
            write_metrics_csv(&self.run_dir, &history)?;
            // The curves are a convenience: a chart that cannot be drawn never stops training.
            if let Err(err) = crate::curves::write_curves(&self.run_dir, &history) {
                tracing::warn!("{err}");
            }
        }
        latest.ok_or(TrainError::NoData("epochs left to train (the run is already complete)"))
    }

    /// Identity-loss class of each training item id (none when the loss is off).
    fn identities(&self) -> std::collections::HashMap<String, usize> {
        let mut ids = std::collections::HashMap::new();
        if self.config.loss.identity > 0.0 {
            for &i in self.train_items.iter().filter(|&&i| self.sources.counts_identity(i)) {
                let next = ids.len();
                ids.entry(self.catalog.entries[i].item_id.clone()).or_insert(next);
            }
        }
        ids
    }

    /// The frozen trunk's output of every training and validation photo.
    fn cache_trunk<Bk: burn::tensor::backend::Backend>(
        &self,
        network: &EfficientNetLite<Bk>,
        device: &Bk::Device,
        observer: &mut impl FnMut(TrainingEvent),
    ) -> Result<TrunkCache, TrainError> {
        let items: Vec<usize> = self.train_items.iter().chain(&self.val_items).copied().collect();
        // The fine-tuned blocks run every step; the cache holds what comes before them.
        let frozen_blocks = network.blocks.len() - self.config.model.tuned_blocks;
        let grey_items = if self.config.augment.greyscale > 0.0 {
            self.train_items.clone()
        } else {
            Vec::new()
        };
        // Valid for this catalogue, these photos, this preprocessing and this split of the
        // trunk only (v3: with grey rows and the split).
        let key = format!(
            "v3 {} {:?} {} {:?} {:?} {frozen_blocks} {}",
            self.config.model.backbone,
            self.sources.roots(),
            self.catalog.entries.len(),
            items,
            self.config.image_spec(),
            grey_items.len(),
        );
        let grey = CachedGrey {
            max_gamma: self.config.augment.grey_gamma,
            seed: self.config.seed,
        };
        // Grey rows with their gamma are other rows (the key of a cache without stays as it was).
        let key = if grey.max_gamma > 1.0 {
            format!("{key} gamma {} seed {}", grey.max_gamma, grey.seed)
        } else {
            key
        };
        let key = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(key.as_bytes()));
        let path = self.run_dir.join("trunk-cache.bin");
        if let Some(cache) = TrunkCache::load(&path, &key) {
            return Ok(cache);
        }
        let options = LoaderOptions {
            batch_size: 16,
            prefetch: self.config.data.prefetch,
            threads: self.config.data.threads,
        };
        let (cache, bad) = TrunkCache::build(
            network,
            frozen_blocks,
            device,
            &self.catalog,
            items,
            grey_items,
            grey,
            self.config.image_spec(),
            options,
            |done, total| observer(TrainingEvent::Caching { done, total }),
        )?;
        bad.iter()
            .for_each(|failure| observer(TrainingEvent::BadImage(failure)));
        // A convenience for reruns: a cache that cannot be written never stops training.
        if let Err(err) = cache.save(&path, &key) {
            tracing::warn!("{err}");
        }
        Ok(cache)
    }

    /// The label targets of `items`, and which are known (joined catalogues only).
    fn targets_of<Bk: Backend>(&self, items: &[usize], device: &Bk::Device) -> (Tensor<Bk, 2>, Option<Tensor<Bk, 2>>) {
        let labels = self.vocabulary.len();
        let rows_of = |all: &[f32]| -> Tensor<Bk, 2> {
            let rows: Vec<f32> = items
                .iter()
                .flat_map(|&i| all[i * labels..(i + 1) * labels].iter().copied())
                .collect();
            Tensor::from_data(TensorData::new(rows, [items.len(), labels]), device)
        };
        (rows_of(&self.targets), self.known.as_deref().map(|k| rows_of(k)))
    }

    /// Entry `item`'s known labels (1 known, 0 not), when catalogues are joined.
    pub fn known_labels(&self, item: usize) -> Option<&[f32]> {
        let labels = self.vocabulary.len();
        self.known.as_deref().map(|k| &k[item * labels..(item + 1) * labels])
    }

    /// Batches of catalogue entries `order`, augmented when `train`.
    fn loader(&self, order: Vec<usize>, epoch: usize, train: bool) -> Result<BatchLoader, TrainError> {
        let spec = self.config.image_spec();
        let preprocessor = Preprocessor::new(spec)?;
        let paths: Arc<Vec<PathBuf>> = Arc::new(
            self.catalog
                .entries
                .iter()
                .map(|e| self.catalog.image_path(e))
                .collect(),
        );
        let augment_config = self.config.augment.clone();
        let seed = self.config.seed;
        let options = LoaderOptions {
            batch_size: self.config.optimizer.batch_size,
            prefetch: self.config.data.prefetch,
            threads: self.config.data.threads,
        };
        Ok(BatchLoader::spawn(
            order,
            spec.tensor_len() + FRAME_LEN,
            options,
            move |item, out| {
                let photo = preprocessor.decode(&paths[item])?;
                let mut frame = letterboxed_frame(&photo, &spec);
                let img = letterbox(&photo, &spec);
                let img = if train {
                    augment(img, &mut frame, &augment_config, &mut rng_for(seed, epoch, item))
                } else {
                    img
                };
                let (pixels, frame_out) = out.split_at_mut(spec.tensor_len());
                normalise_into(&img, &spec, pixels);
                frame_out.copy_from_slice(&frame);
                Ok(())
            },
        )?)
    }

    fn validate<Bk: SeedBackend>(
        &self,
        model: &SeedModel<Bk>,
        cache: Option<&TrunkCache>,
        device: &Bk::Device,
        labels: usize,
    ) -> Result<Validation, TrainError> {
        let spec = self.config.image_spec();
        let [h, w] = [spec.height as usize, spec.width as usize];
        let mut scores = Vec::new();
        let mut targets = Vec::new();
        let mut embeddings = Vec::new();
        let mut items = Vec::new();
        let mut val_rows = Vec::new();
        let mut dim = 0;
        let batches: Box<dyn Iterator<Item = Batch>> = match cache {
            Some(cache) => Box::new(cached_batches(cache, self.val_items.clone(), 32, |_| View::default())),
            None => Box::new(self.loader(self.val_items.clone(), 0, false)?),
        };
        for batch in batches {
            let n = batch.len();
            if n == 0 {
                continue;
            }
            let output = forward_batch(model, cache, batch.pixels, n, [h, w], device);
            let embedding = output.embedding();
            dim = embedding.dims()[1];
            scores.extend(output.scores.into_data().convert::<f32>().to_vec::<f32>().expect("f32"));
            embeddings.extend(embedding.into_data().convert::<f32>().to_vec::<f32>().expect("f32"));
            for &i in &batch.items {
                targets.extend_from_slice(&self.targets[i * labels..(i + 1) * labels]);
                items.push(self.catalog.entries[i].item_id.as_str());
                val_rows.push(i);
            }
        }
        let (top, precision10, queries) = match &self.val_by {
            None => {
                let (top, queries) = metrics::retrieval_top_k(&embeddings, dim.max(1), &items, &[1, 5, 10]);
                (top, None, queries)
            }
            Some(choice) => {
                let column = self
                    .catalog
                    .column_index(&choice.column)
                    .expect("checked in Trainer::new");
                let values: Vec<&str> = val_rows
                    .iter()
                    .map(|&i| self.catalog.entries[i].values[column].as_str())
                    .collect();
                let table = metrics::category_top_k(&embeddings, dim.max(1), &values, &[1, 5, 10]);
                (table.hit_rates, table.values.last().copied(), table.queries)
            }
        };
        Ok(Validation {
            images: items.len(),
            map: metrics::mean_average_precision(&scores, &targets, labels),
            prior_map: metrics::prior_mean_average_precision(&targets, labels),
            queries,
            top,
            by: self.val_by.as_ref().map(|c| c.column.clone()),
            precision10,
        })
    }
}
