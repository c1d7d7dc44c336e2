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
use lookbook_train::trunk::{TrunkCache, View, load_backbone};
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
    assert!(TrunkCache::load(&path, "k").is_none(), "from before grey rows");
    // Item 3 in colour, then in grey (the grey photo's garment box found a little wider).
    let mut with_grey =
        b"{\"key\":\"k\",\"shape\":[1,2,1],\"items\":[3,3],\"grey\":[false,true],\"frames\":[0.5,1.0,-0.5,0.0,0.6,1.0,-0.4,0.0]}\n"
            .to_vec();
    with_grey.extend_from_slice(body);
    with_grey.extend_from_slice(b"\x00\x00\x40\x40\x00\x00\x80\x40");
    fs::write(&path, &with_grey).unwrap();
    let cache = TrunkCache::load(&path, "k").expect("a well-formed cache");
    assert!(cache.has_grey(3));
    let view = |flip, grey| move |_| View { flip, grey };
    // Each item: its map, then its frame; mirrored, the frame's centre moves to the right.
    assert_eq!(cache.gather(&[3], view(false, false)), [1.0, 2.0, 0.5, 1.0, -0.5, 0.0]);
    assert_eq!(
        cache.gather(&[3], view(true, false)),
        [2.0, 1.0, 0.5, 1.0, 0.5, 0.0],
        "mirrored row"
    );
    assert_eq!(
        cache.gather(&[3], view(false, true)),
        [3.0, 4.0, 0.6, 1.0, -0.4, 0.0],
        "the grey photo's row"
    );
    assert_eq!(
        cache.gather(&[3], view(true, true)),
        [4.0, 3.0, 0.6, 1.0, 0.4, 0.0],
        "mirrored grey row"
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
    let tuned =
        TrainConfig::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/effnet-tuned-cpu.toml"))
            .unwrap();
    assert_eq!(tuned.model.tuned_blocks, 2);

    let mut c = config();
    c.model.tuned_blocks = 17;
    assert!(c.validate().unwrap_err().contains("has 16 blocks"));
    c.model.tuned_blocks = 16;
    assert!(c.validate().is_ok(), "the whole trunk may be tuned");
    c.model.backbone = "seed".into();
    assert!(c.validate().unwrap_err().contains("pretrained backbone"));
    c.model.tuned_blocks = 0;
    c.augment.greyscale = 1.5;
    assert!(c.validate().unwrap_err().contains("greyscale"));
    c.augment.greyscale = 0.5;
    c.optimizer.trunk_learning_rate = Some(-1.0);
    assert!(c.validate().unwrap_err().contains("trunk_learning_rate"));
    c.optimizer.trunk_learning_rate = None;
    c.loss.identity_kind = "triplet".into();
    assert!(c.validate().unwrap_err().contains("identity_kind"));
    c.loss.identity_kind = "multi-similarity".into();
    assert!(c.validate().unwrap_err().contains("photos_per_identity"));
    c.loss.identity_kind = "multi-similarity+softmax".into();
    assert!(c.validate().unwrap_err().contains("photos_per_identity"));
    c.data.photos_per_identity = 4;
    assert!(c.validate().is_ok());
    c.data.photos_per_identity = 0;
    c.loss.identity_kind = "proxy-anchor".into();
    assert!(c.validate().is_ok());
}

/// The network's features are the same whether its last blocks are the trunk's or the
/// model's own (a run's cache holds the output of the blocks before them).
#[test]
fn a_trunk_split_before_its_tuned_blocks_gives_the_whole_networks_features() {
    if !weights_present() {
        return;
    }
    let device = Default::default();
    let network = load_backbone::<Flex>("efficientnet-lite0", &device).unwrap();
    let images = Tensor::<Flex, 4>::random([2, 3, 64, 96], burn::tensor::Distribution::Uniform(-1.0, 1.0), &device);
    let whole = network.head(network.trunk(images.clone()));
    let mut c = config();
    c.model.input_width = 96;
    c.model.gem_power = 1.0;
    for tuned in [1, 3, 16] {
        c.model.tuned_blocks = tuned;
        let model = lookbook_model::SeedModel::<Flex>::new(&c.seed_config(2), &device).with_pretrained_head(&network);
        assert_eq!(model.tuned_blocks(), tuned);
        let frozen = network.trunk_until(images.clone(), 16 - tuned);
        let split = model.forward_trunk(frozen.clone(), None).global_feature;
        // The whole network's head output, average-pooled (gem_power 1).
        let [n, channels, _, _] = whole.dims();
        let pooled = whole.clone().mean_dim(3).mean_dim(2).reshape([n, channels]);
        let difference = max_difference(split.clone().unsqueeze::<4>(), pooled.unsqueeze::<4>());
        assert!(difference < 1e-4, "{tuned} blocks: {difference}");
        // Channels-last (how training feeds a cached row) is the same network.
        let nhwc = model
            .forward_trunk_nhwc(frozen.permute([0, 2, 3, 1]), None)
            .global_feature;
        assert!(max_difference(nhwc.unsqueeze::<4>(), split.unsqueeze::<4>()) < 1e-5);
    }
}

/// A run that fine-tunes the trunk's last block on colour and grey photos: the cache holds
/// the frozen blocks' output (and a grey row per training photo), the block's weights move
/// (or stay, at rate 0), and the embedder of the run feeds the model the frozen part's output.
#[test]
fn fine_tunes_the_last_block_on_colour_and_grey_photos_and_embeds_with_it() {
    if !weights_present() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    fixture(data.path());
    let runs = tempfile::tempdir().unwrap();
    let device = Default::default();
    let network = load_backbone::<Flex>("efficientnet-lite0", &device).unwrap();
    let tuned_block_after = |rate: Option<f64>, name: &str| {
        let mut c = config();
        // Proxy-Anchor here, the softmax in the other tests.
        c.loss.identity_kind = "proxy-anchor".into();
        c.loss.identity_scale = 32.0;
        c.model.tuned_blocks = 1;
        c.optimizer.trunk_learning_rate = rate;
        c.augment.greyscale = 0.5;
        let run = runs.path().join(name);
        let (cached, reports) = train_with(c, data.path(), &run, false, 1);
        assert!(reports[0].loss.is_finite(), "{:?}", reports[0]);
        let checkpoint = Checkpoint::open(&run).unwrap();
        let train_photos = checkpoint.meta.history[0].train_images;
        let val_photos = checkpoint.meta.history[0].val_images;
        assert_eq!(
            cached,
            2 * train_photos + val_photos,
            "colour and grey for training photos, colour for validation"
        );
        let model = checkpoint.load_model::<Flex>(&device).unwrap();
        assert_eq!(model.tuned_blocks(), 1);
        (run, model.pretrained_blocks[0].project.weight.val())
    };
    let imagenet = network.blocks[15].project.weight.val();
    let (_, frozen) = tuned_block_after(Some(0.0), "frozen");
    assert_eq!(
        max_difference(frozen, imagenet.clone()),
        0.0,
        "rate 0 keeps ImageNet's block"
    );
    let (run, tuned) = tuned_block_after(Some(1e-3), "tuned");
    assert!(max_difference(tuned, imagenet) > 1e-5, "the block trained");

    // The run's embedder: the photo through the frozen 15 blocks, then the model.
    let embedder = lookbook_embed::SeedEmbedder::from_run(&run).unwrap();
    let mut item = vec![0.0f32; lookbook_embed::Embedder::item_len(&embedder)];
    lookbook_embed::Embedder::load_item(&embedder, &data.path().join("0.png"), &mut item).unwrap();
    let (vector, _) = lookbook_embed::Embedder::embed_batch(&embedder, &item, 1);
    let model = Checkpoint::open(&run).unwrap().load_model::<Flex>(&device).unwrap();
    let pixels = item[..3 * 64 * 64].to_vec();
    let frame = item[3 * 64 * 64..3 * 64 * 64 + 4].to_vec();
    let frozen = network.trunk_until(Tensor::from_data(TensorData::new(pixels, [1, 3, 64, 64]), &device), 15);
    let frames = Tensor::from_data(TensorData::new(frame, [1, 4]), &device);
    let expected: Vec<f32> = model
        .forward_trunk(frozen, Some(frames))
        .embedding()
        .into_data()
        .into_vec()
        .unwrap();
    assert_eq!(vector.len(), expected.len());
    let gap = vector
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(gap < 1e-4, "embedder and model differ by {gap}");
}

/// Multi-similarity learns from pairs in a batch: with batches in groups of 2 photos of one
/// item (`data.photos_per_identity`), its loss is there and finite, and the run reopens. The
/// photos are made hard — an item's two colourways differ in colour, and other items of the
/// same pattern share it — since on easy pairs the mining rightly leaves nothing (loss 0).
#[test]
fn multi_similarity_trains_on_batches_grouped_by_item() {
    if !weights_present() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let mut csv = String::from("image,item_id,labels\n");
    for i in 0..12u32 {
        let (item, red) = (i / 2, i % 2 == 0);
        let striped = item % 2 == 0;
        let img = RgbImage::from_fn(64, 64, |x, y| {
            let band = if striped { (y / 8) % 2 == 0 } else { (x / 8) % 2 == 0 };
            let on = if band { 220 } else { 30 };
            let shade = (item * 6) as u8;
            if red {
                Rgb([on, shade, 30])
            } else {
                Rgb([30, shade, on])
            }
        });
        img.save(data.path().join(format!("{i}.png"))).unwrap();
        let labels = if striped { "stripes" } else { "checks" };
        csv.push_str(&format!("{i}.png,item{item},{labels}\n"));
    }
    fs::write(data.path().join("list.csv"), csv).unwrap();
    let run = tempfile::tempdir().unwrap();
    let mut c = config();
    c.loss.identity_kind = "multi-similarity".into();
    c.data.photos_per_identity = 2;
    let (_, reports) = train_with(c, data.path(), run.path(), false, 1);
    let identity = reports[0].identity;
    assert!(identity.is_finite() && identity > 0.0, "{:?}", reports[0]);
    assert!(Checkpoint::open(run.path()).is_ok());
}
