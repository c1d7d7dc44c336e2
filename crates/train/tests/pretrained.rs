//! Training the attention branch on EfficientNet-Lite0's pretrained trunk: the trunk's output
//! is computed once (and reused by a resumed run), the head and branch train with the study's
//! losses plus the identity loss, and the checkpoint reloads into a model of the same shape.
//!
//! Needs the converted weights (`scripts/setup-weights.sh`): skipped with the reason outside
//! CI when they are missing, a failure in CI.

use std::fs;
use std::path::Path;

use burn::backend::{Autodiff, Flex};
use burn::tensor::{Tensor, TensorData};
use image::{Rgb, RgbImage};
use lookbook_pretrained::{EFFICIENTNET_LITE0, WeightsError, locate};
use lookbook_train::trunk::{TrunkCache, load_backbone};
use lookbook_train::{Checkpoint, TrainConfig, Trainer, TrainingEvent};

type AD = Autodiff<Flex>;

fn weights_present() -> bool {
    match locate(&EFFICIENTNET_LITE0, None) {
        Ok(_) => true,
        Err(WeightsError::NotFound(why)) => {
            assert!(std::env::var_os("CI").is_none(), "CI installs the weights: {why}");
            eprintln!("skipped: {why}");
            false
        }
        Err(other) => panic!("{other}"),
    }
}

fn config() -> TrainConfig {
    let mut c = TrainConfig::default();
    c.model.backbone = "efficientnet-lite0".into();
    c.model.input_height = 64;
    c.model.input_width = 64;
    c.model.region_height = 1;
    c.model.region_width = 1;
    c.model.codewords = 4;
    c.model.encoding_dim = 16;
    c.model.lstm_hidden = 16;
    c.model.steps = 2;
    c.model.projection_dim = 16;
    c.labels.min_count = 1;
    c.loss.identity = 1.0;
    c.optimizer.learning_rate = 1e-3;
    c.optimizer.batch_size = 4;
    c.data.threads = 1;
    c
}

/// 12 generated photos: 6 items × 2 colourways, striped or checked.
fn fixture(root: &Path) {
    let mut csv = String::from("image,item_id,labels\n");
    for i in 0..12u32 {
        let item = i / 2;
        let striped = item % 2 == 0;
        let img = RgbImage::from_fn(64, 64, |x, y| {
            let band = if striped { (y / 8) % 2 == 0 } else { (x / 8) % 2 == 0 };
            let base = if band { 220 } else { 30 };
            Rgb([base, (i * 20) as u8, (item * 40) as u8])
        });
        img.save(root.join(format!("{i}.png"))).unwrap();
        let labels = if striped { "stripes" } else { "checks" };
        csv.push_str(&format!("{i}.png,item{item},{labels}\n"));
    }
    fs::write(root.join("list.csv"), csv).unwrap();
}

fn train(catalogue: &Path, run: &Path, resume: bool, epochs: usize) -> (usize, Vec<lookbook_train::EpochReport>) {
    train_with(config(), catalogue, run, resume, epochs)
}

fn train_with(
    config: TrainConfig,
    catalogue: &Path,
    run: &Path,
    resume: bool,
    epochs: usize,
) -> (usize, Vec<lookbook_train::EpochReport>) {
    let trainer = Trainer::new(catalogue, config, run, resume, Some(epochs)).unwrap();
    let mut cached = 0;
    let mut reports = Vec::new();
    trainer
        .run::<AD>(&Default::default(), |event| match event {
            TrainingEvent::Caching { done, .. } => cached = cached.max(done),
            TrainingEvent::Epoch(report) => reports.push(report.clone()),
            _ => {}
        })
        .unwrap();
    (cached, reports)
}

#[test]
fn trains_on_the_cached_trunk_and_reloads() {
    if !weights_present() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    fixture(data.path());
    let runs = tempfile::tempdir().unwrap();
    let run = runs.path().join("effnet");

    let (cached, reports) = train(data.path(), &run, false, 2);
    assert!(cached > 0, "the trunk ran over the photos once");
    assert_eq!(reports.len(), 2);
    for r in &reports {
        assert!(
            r.loss.is_finite() && r.identity.is_finite() && r.identity > 0.0,
            "{r:?}"
        );
    }
    assert!(run.join("trunk-cache.bin").is_file());

    // A resumed run reads the cache instead of running the trunk again.
    let (cached_again, more) = train(data.path(), &run, true, 3);
    assert_eq!(cached_again, 0, "the saved trunk output was reused");
    assert_eq!(more.len(), 1);

    // The checkpoint reloads into the same shape; the embedding is the unit-length projection.
    let checkpoint = Checkpoint::open(&run).unwrap();
    assert!(checkpoint.meta.identities > 0);
    let model = checkpoint.load_model::<Flex>(&Default::default()).unwrap();
    let network = load_backbone::<Flex>("efficientnet-lite0", &Default::default()).unwrap();
    let images = Tensor::<Flex, 4>::from_data(
        TensorData::new(vec![0.1f32; 3 * 64 * 64], [1, 3, 64, 64]),
        &Default::default(),
    );
    let trunk = network.trunk(images);
    assert_eq!(trunk.dims(), [1, 320, 2, 2]);
    let embedding: Vec<f32> = model
        .forward_trunk(trunk, None)
        .embedding()
        .into_data()
        .into_vec()
        .unwrap();
    assert_eq!(embedding.len(), 16);
    let norm = embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
}

/// The largest |a − b| over two tensors' values.
fn max_difference(a: Tensor<Flex, 4>, b: Tensor<Flex, 4>) -> f32 {
    let a: Vec<f32> = a.into_data().into_vec().unwrap();
    let b: Vec<f32> = b.into_data().into_vec().unwrap();
    a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn a_zero_head_rate_keeps_the_imagenet_head_and_the_projection_sees_the_global_feature() {
    if !weights_present() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    fixture(data.path());
    let runs = tempfile::tempdir().unwrap();
    let network = load_backbone::<Flex>("efficientnet-lite0", &Default::default()).unwrap();
    let head_after = |head_learning_rate: Option<f64>, name: &str| {
        let mut c = config();
        c.optimizer.head_learning_rate = head_learning_rate;
        c.model.gem_power = 3.0;
        c.model.projection_input = "global".into();
        let run = runs.path().join(name);
        let (_, reports) = train_with(c, data.path(), &run, false, 1);
        assert!(reports[0].loss.is_finite(), "{:?}", reports[0]);
        let model = Checkpoint::open(&run)
            .unwrap()
            .load_model::<Flex>(&Default::default())
            .unwrap();
        assert_eq!(
            model.gem_power, 3.0,
            "the config's pooling comes back with the checkpoint"
        );
        assert!(model.projects_global);
        let [input, output] = model.projection.as_ref().unwrap().weight.dims();
        assert_eq!(
            [input, output],
            [1280, 16],
            "the projection sees the global feature alone"
        );
        model.pretrained_head.unwrap().weight.val()
    };
    let frozen = head_after(Some(0.0), "frozen");
    assert_eq!(max_difference(frozen, network.head.weight.val()), 0.0);
    let tuned = head_after(None, "tuned");
    assert!(
        max_difference(tuned, network.head.weight.val()) > 1e-5,
        "the head trained at the main rate"
    );

    let mut c = config();
    c.model.gem_power = 0.5;
    assert!(c.validate().unwrap_err().contains("gem_power"));
    c.model.gem_power = 1.0;
    c.optimizer.head_learning_rate = Some(-1.0);
    assert!(c.validate().unwrap_err().contains("head_learning_rate"));
    c.optimizer.head_learning_rate = None;
    c.model.projection_input = "parts".into();
    assert!(c.validate().unwrap_err().contains("projection_input"));
}

#[test]
fn a_damaged_or_foreign_cache_is_recomputed_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trunk-cache.bin");
    assert!(TrunkCache::load(&path, "k").is_none(), "absent");
    // One photo, a 1×2×1 map (h, w, channels) holding 1.0 and 2.0, its garment frame the
    // left half of the picture. A cache from before frames is not trusted.
    let body = b"\x00\x00\x80\x3f\x00\x00\x00\x40";
    let mut old = b"{\"key\":\"k\",\"shape\":[1,2,1],\"items\":[3]}\n".to_vec();
    old.extend_from_slice(body);
    fs::write(&path, &old).unwrap();
    assert!(TrunkCache::load(&path, "k").is_none(), "no frames");
    let mut framed = b"{\"key\":\"k\",\"shape\":[1,2,1],\"items\":[3],\"frames\":[0.5,1.0,-0.5,0.0]}\n".to_vec();
    framed.extend_from_slice(body);
    fs::write(&path, &framed).unwrap();
    let cache = TrunkCache::load(&path, "k").expect("a well-formed cache");
    // Each item: its map, then its frame; mirrored, the frame's centre moves to the right.
    assert_eq!(cache.gather(&[3], |_| false), [1.0, 2.0, 0.5, 1.0, -0.5, 0.0]);
    assert_eq!(
        cache.gather(&[3], |_| true),
        [2.0, 1.0, 0.5, 1.0, 0.5, 0.0],
        "mirrored row"
    );
    assert!(
        TrunkCache::load(&path, "other").is_none(),
        "another catalogue or preprocessing"
    );
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    assert!(TrunkCache::load(&path, "k").is_none(), "truncated");
}

#[test]
fn configs_name_a_known_backbone_and_a_size_it_divides() {
    let mut c = config();
    assert!(c.validate().is_ok());
    c.model.input_height = 80;
    assert!(c.validate().unwrap_err().contains("multiple of 32"));
    c.model.input_height = 64;
    c.model.backbone = "resnet-9000".into();
    assert!(c.validate().unwrap_err().contains("backbone"));
    let effnet =
        TrainConfig::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/effnet-cpu.toml")).unwrap();
    assert_eq!(effnet.image_spec().mean, [0.5; 3]);
    assert_eq!(effnet.seed_config(10).feature_height(), 12);
}
