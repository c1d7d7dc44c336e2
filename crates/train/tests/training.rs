//! The model learns; checkpoints round-trip; `--resume` continues where a run stopped.

use std::fs;
use std::path::{Path, PathBuf};

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::{Distribution, Tensor, TensorData};
use image::{Rgb, RgbImage};
use lookbook_catalog::{Catalog, LabelVocabulary, OpenOptions, Split, VocabularyConfig};
use lookbook_imaging::{ImageSpec, Preprocessor};
use lookbook_model::SeedModel;
use lookbook_model::losses::seed_loss;
use lookbook_train::checkpoint::{self, CheckpointMeta, FORMAT_VERSION};
use lookbook_train::{Checkpoint, TrainConfig, Trainer, TrainingEvent};

type AD = Autodiff<Flex>;

/// burn's CPU backend draws initial weights and dropout masks from one process-wide
/// generator: tests that seed it and compare runs must not interleave with others.
static BACKEND_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    BACKEND_RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn tiny_config() -> TrainConfig {
    let mut c = TrainConfig::default();
    c.model.input_height = 96;
    c.model.input_width = 64;
    c.model.region_height = 3;
    c.model.region_width = 2;
    c.model.codewords = 8;
    c.model.encoding_dim = 32;
    c.model.lstm_hidden = 32;
    c.model.steps = 2;
    c.model.dropout = 0.0;
    c.labels.min_count = 1;
    c.optimizer.learning_rate = 1e-3;
    c.optimizer.batch_size = 4;
    c.optimizer.epochs = 2;
    c.augment.flip = true;
    c.augment.scale_jitter = 0.1;
    c.data.threads = 1;
    c
}

/// A labelled list of 16 generated photos: 8 items × 2 colourways, labels by pattern.
fn fixture(root: &Path) {
    let mut csv = String::from("image,item_id,labels\n");
    for i in 0..16u32 {
        let item = i / 2;
        let striped = item % 2 == 0;
        let img = RgbImage::from_fn(64, 96, |x, y| {
            let band = if striped { (y / 8) % 2 == 0 } else { (x / 8) % 2 == 0 };
            let base = if band { 200 } else { 40 };
            Rgb([base, (base as u32 * (i + 1) / 17) as u8, (item * 30) as u8])
        });
        img.save(root.join(format!("{i}.png"))).unwrap();
        let labels = if striped { "stripes|top" } else { "checks|bottom" };
        csv.push_str(&format!("{i}.png,item{item},{labels}\n"));
    }
    // Splits: 70/10/20 by item hash; keep everything in train and val for the test.
    fs::write(root.join("list.csv"), csv).unwrap();
}

fn hm_root() -> Option<PathBuf> {
    let root = std::env::var_os("LOOKBOOK_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
        .join("hm");
    if root.is_dir() {
        return Some(root);
    }
    assert!(std::env::var_os("CI").is_none(), "CI must provide {}", root.display());
    eprintln!("skipped: no H&M data at {}", root.display());
    None
}

#[test]
fn overfits_a_handful_of_real_photos() {
    let Some(root) = hm_root() else { return };
    let _guard = serial();
    let catalog = Catalog::open(&root, &OpenOptions::default()).unwrap();
    let vocab = LabelVocabulary::build(&catalog, &catalog.entries, &VocabularyConfig::default());
    let encoder = vocab.encoder(&catalog);
    let entries: Vec<_> = catalog.entries.iter().step_by(900).take(8).collect();
    let spec = ImageSpec::with_size(96, 64);
    let pre = Preprocessor::new(spec).unwrap();
    let mut pixels = vec![0.0; entries.len() * spec.tensor_len()];
    for (e, out) in entries.iter().zip(pixels.chunks_mut(spec.tensor_len())) {
        pre.load_into(&catalog.image_path(e), out).unwrap();
    }
    let targets: Vec<f32> = entries.iter().flat_map(|e| encoder.multi_hot(e)).collect();
    let device = Default::default();
    <AD as burn::tensor::backend::Backend>::seed(&device, 7);
    let config = tiny_config().seed_config(vocab.len());
    let mut model = SeedModel::<AD>::new(&config, &device);
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init::<AD, SeedModel<AD>>();
    let weights = tiny_config().loss_weights();
    let images = Tensor::<AD, 4>::from_data(TensorData::new(pixels, [8, 3, 96, 64]), &device);
    let targets = Tensor::<AD, 2>::from_data(TensorData::new(targets, [8, vocab.len()]), &device);
    let mut losses = Vec::new();
    for _ in 0..60 {
        let loss = seed_loss(&model.forward(images.clone()), targets.clone(), &weights);
        losses.push(loss.total.clone().into_scalar());
        if losses.len() % 10 == 0 {
            eprintln!("step {}: loss {:.4}", losses.len(), losses.last().unwrap());
        }
        let grads = GradientsParams::from_grads(loss.total.backward(), &model);
        model = optim.step(3e-3, model, grads);
    }
    let (first, last) = (losses[0], *losses.last().unwrap());
    eprintln!("over-fit: loss {first:.4} → {last:.4} over {} steps", losses.len());
    assert!(
        last <= 0.1 * first,
        "training loss must fall by ≥ 90%: {first} → {last}"
    );
}

#[test]
fn checkpoint_round_trip_gives_identical_outputs() {
    let _guard = serial();
    let dir = tempfile::tempdir().unwrap();
    let device = Default::default();
    let config = tiny_config();
    let seed_config = config.seed_config(3);
    let model = SeedModel::<AD>::new(&seed_config, &device);
    let optim = AdamConfig::new().init::<AD, SeedModel<AD>>();
    let vocabulary = LabelVocabulary {
        config: VocabularyConfig::default(),
        columns: vec![],
        labels: (0..3)
            .map(|i| lookbook_catalog::Label {
                column: "label".into(),
                value: format!("v{i}"),
                count: 5,
            })
            .collect(),
    };
    let meta = CheckpointMeta {
        format_version: FORMAT_VERSION,
        epoch: 1,
        config,
        vocabulary,
        history: vec![],
        catalog: PathBuf::from("x"),
        identities: 0,
    };
    checkpoint::save(dir.path(), &model, &optim, &meta).unwrap();
    let loaded = Checkpoint::open(dir.path()).unwrap();
    assert_eq!(loaded.meta.epoch, 1);
    let input = Tensor::<Flex, 4>::random([2, 3, 96, 64], Distribution::Normal(0.0, 1.0), &device);
    let want = model.valid().forward(input.clone());
    let back = loaded.load_model::<Flex>(&device).unwrap();
    let got = back.forward(input);
    assert_eq!(
        got.scores.clone().into_data(),
        want.scores.clone().into_data(),
        "identical scores"
    );
    assert_eq!(
        got.embedding().into_data(),
        want.embedding().into_data(),
        "identical embeddings"
    );
    // A truncated state file is a clear error, not a panic.
    fs::write(loaded.dir.join("train-state.bin"), b"short").unwrap();
    let fresh = SeedModel::<AD>::new(&loaded.meta.seed_config(), &device);
    let Err(err) = loaded.load_training_state(fresh, AdamConfig::new().init::<AD, SeedModel<AD>>(), &device) else {
        panic!("a truncated state file must not load");
    };
    assert!(err.to_string().contains("truncated"), "{err}");
}

fn epoch_losses(run: &Path, catalogue: &Path, resume: bool, epochs: usize) -> Vec<lookbook_train::EpochReport> {
    let trainer = Trainer::new(catalogue, tiny_config(), run, resume, Some(epochs)).unwrap();
    let mut reports = Vec::new();
    trainer
        .run::<AD>(&Default::default(), |event| {
            if let TrainingEvent::Epoch(r) = event {
                reports.push(r.clone());
            }
        })
        .unwrap();
    reports
}

#[test]
fn resume_continues_from_the_saved_epoch_and_optimiser_state() {
    let _guard = serial();
    let data = tempfile::tempdir().unwrap();
    fixture(data.path());
    let runs = tempfile::tempdir().unwrap();

    let straight = runs.path().join("straight");
    let full = epoch_losses(&straight, data.path(), false, 3);
    assert_eq!(full.len(), 3);
    assert!(full.iter().all(|r| r.loss.is_finite() && r.train_images > 0));
    let csv = fs::read_to_string(straight.join("metrics.csv")).unwrap();
    assert!(straight.join("curves.png").is_file(), "curves.png beside metrics.csv");
    assert_eq!(csv.lines().count(), 4, "header + 3 epochs");

    let split = runs.path().join("split");
    let first = epoch_losses(&split, data.path(), false, 2);
    assert_eq!(first.len(), 2);
    // Without --resume an existing run is refused rather than overwritten.
    assert!(Trainer::new(data.path(), tiny_config(), &split, false, Some(3)).is_err());
    let rest = epoch_losses(&split, data.path(), true, 3);
    eprintln!("straight {:?}", full.iter().map(|r| r.loss).collect::<Vec<_>>());
    eprintln!(
        "split {:?} then {:?}",
        first.iter().map(|r| r.loss).collect::<Vec<_>>(),
        rest[0].loss
    );
    assert_eq!(rest.len(), 1, "only the third epoch is trained");
    assert_eq!(rest[0].epoch, 3);
    let rel = (rest[0].loss - full[2].loss).abs() / full[2].loss;
    assert!(
        rel < 1e-3,
        "resumed epoch 3 loss {} vs uninterrupted {}",
        rest[0].loss,
        full[2].loss
    );
    let meta = Checkpoint::open(&split).unwrap().meta;
    assert_eq!(meta.epoch, 3);
    assert_eq!(meta.history.len(), 3);
    // Only the latest checkpoint is kept.
    let kept: Vec<_> = fs::read_dir(&split)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("epoch-"))
        .collect();
    assert_eq!(kept.len(), 1);
}

/// A catalogue in Myntra's layout: `n` products of one generated photo each, T-shirts and jeans.
fn myntra_fixture(root: &Path, n: u32) {
    fs::create_dir_all(root.join("images")).unwrap();
    let mut styles = String::from(
        "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName\n",
    );
    for id in 0..n {
        let shirt = id % 2 == 0;
        let img = RgbImage::from_fn(64, 96, |x, y| {
            let on = if shirt { y < 48 } else { x < 32 };
            if on {
                Rgb([200, (id * 9) as u8, 40])
            } else {
                Rgb([250, 250, 250])
            }
        });
        img.save(root.join(format!("images/{id}.jpg"))).unwrap();
        let (sub, article) = if shirt {
            ("Topwear", "Tshirts")
        } else {
            ("Bottomwear", "Jeans")
        };
        styles.push_str(&format!(
            "{id},Men,Apparel,{sub},{article},Red,Summer,2012,Casual,Item {id}\n"
        ));
    }
    fs::write(root.join("styles.csv"), styles).unwrap();
}

#[test]
fn joins_another_catalogues_training_photos_with_their_labels_but_not_single_photo_products() {
    let _guard = serial();
    let data = tempfile::tempdir().unwrap();
    fixture(data.path());
    let other = tempfile::tempdir().unwrap();
    let myntra = other.path().join("myntra");
    myntra_fixture(&myntra, 24);
    let runs = tempfile::tempdir().unwrap();
    let mut alone_config = tiny_config();
    alone_config.loss.identity = 1.0;
    let mut config = alone_config.clone();
    config.data.also_train_on = vec![myntra.clone()];

    let alone = Trainer::new(data.path(), alone_config, &runs.path().join("alone"), false, Some(1)).unwrap();
    let joined = Trainer::new(data.path(), config, &runs.path().join("joined"), false, Some(1)).unwrap();
    let theirs: Vec<_> = Catalog::open(&myntra, &OpenOptions::default())
        .unwrap()
        .split(Split::Train)
        .map(|e| format!("myntra:{}", e.item_id))
        .collect();
    assert!(!theirs.is_empty());
    assert_eq!(joined.train_items().len(), alone.train_items().len() + theirs.len());
    assert!(alone.known_labels(0).is_none(), "one catalogue: every label is known");

    // The vocabulary has both catalogues' labels; each photo's loss sees only its own.
    let names = joined.vocabulary.names();
    let at = |name: &str| {
        names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("{name} in {names:?}"))
    };
    let (shirt, stripes) = (at("articleType=Tshirts"), at("label=stripes"));
    let own = joined.train_items()[0];
    let joined_photo = *joined.train_items().last().unwrap();
    assert!(theirs.contains(&joined.catalog.entries[joined_photo].item_id));
    assert!(joined.sources.is_own(own) && !joined.sources.is_own(joined_photo));
    let own_known = joined.known_labels(own).unwrap();
    let their_known = joined.known_labels(joined_photo).unwrap();
    assert_eq!((own_known[shirt], own_known[stripes]), (0.0, 1.0));
    assert_eq!((their_known[shirt], their_known[stripes]), (1.0, 0.0));

    // It trains, on every photo; products with one photo stay out of the identity loss.
    let mut reports = Vec::new();
    let checkpoint = joined
        .run::<AD>(&Default::default(), |event| {
            if let TrainingEvent::Epoch(r) = event {
                reports.push(r.clone());
            }
        })
        .unwrap();
    assert_eq!(reports[0].train_images, joined.train_items().len());
    assert!(reports[0].loss.is_finite() && reports[0].identity.is_finite() && reports[0].identity > 0.0);
    let own_products: std::collections::HashSet<_> = alone
        .train_items()
        .iter()
        .map(|&i| alone.catalog.entries[i].item_id.clone())
        .collect();
    assert_eq!(checkpoint.meta.identities, own_products.len());
    assert!(checkpoint.meta.config.data.also_train_on == vec![myntra]);
}
