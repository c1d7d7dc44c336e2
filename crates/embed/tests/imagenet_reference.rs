//! lookbook's EfficientNet-Lite0 and -Lite2 against PyTorch's: for the 8 H&M photos of
//! `../shared/reference/efficientnet_lite{0,2}_hm8.json`, the same top-1 ImageNet class and
//! pooled features with cosine similarity ≥ 0.99 (Lite0) and ≥ 0.999 (Lite2); and our CPU
//! kernels' features against burn's ops on the same network (≥ 0.9999).
//!
//! Needs the weights (`scripts/setup-weights.sh`) and the shared data; outside CI it skips
//! with the reason when either is missing, in CI (`CI` set) that is a failure.

use std::path::{Path, PathBuf};

use burn::tensor::activation::softmax;
use lookbook_embed::{EmbedError, Embedder, ImageNetEmbedder};

fn shared(name: &str) -> Option<PathBuf> {
    let root = std::env::var_os("LOOKBOOK_DATA")
        .map(|d| PathBuf::from(d).join(".."))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let reference = root.join(reference_file(name));
    if reference.is_file() && root.join("data/hm").is_dir() {
        return Some(root);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must provide {}",
        reference.display()
    );
    eprintln!("skipped: no reference at {}", reference.display());
    None
}

/// `efficientnet-lite0` → `reference/efficientnet_lite0_hm8.json`.
fn reference_file(name: &str) -> String {
    format!("reference/{}_hm8.json", name.replace('-', "_"))
}

fn embedder(name: &str) -> Option<ImageNetEmbedder> {
    match ImageNetEmbedder::new(name, None) {
        Ok(embedder) => Some(embedder),
        Err(EmbedError::Weights(lookbook_pretrained::WeightsError::NotFound(why))) => {
            assert!(std::env::var_os("CI").is_none(), "CI installs the weights: {why}");
            eprintln!("skipped: {why}");
            None
        }
        Err(other) => panic!("loading {name}: {other}"),
    }
}

#[test]
fn lite0_features_and_classes_match_pytorch() {
    features_and_classes_match_pytorch("efficientnet-lite0", 0.99);
}

#[test]
fn lite2_features_and_classes_match_pytorch() {
    features_and_classes_match_pytorch("efficientnet-lite2", 0.999);
}

fn features_and_classes_match_pytorch(name: &str, min_cosine: f64) {
    let (Some(shared), Some(embedder)) = (shared(name), embedder(name)) else {
        return;
    };
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(shared.join(reference_file(name))).unwrap()).unwrap();
    let images = reference["images"].as_array().unwrap();
    assert_eq!(images.len(), 8);
    let len = embedder.item_len();
    let mut pixels = vec![0.0f32; len * images.len()];
    for (image, out) in images.iter().zip(pixels.chunks_mut(len)) {
        let path = shared.join("data/hm").join(image["path"].as_str().unwrap());
        embedder.load_item(&path, out).unwrap();
    }
    // Embedding runs our CPU kernels; burn's ops on the same network are the features as they
    // were before them (issue 20: cosine ≥ 0.9999 photo by photo).
    let through_burn: Vec<f32> = embedder
        .pooled_burn(&pixels, images.len())
        .into_data()
        .into_vec()
        .unwrap();
    let pooled = embedder.pooled(&pixels, images.len());
    let probabilities = softmax(embedder.network().classify(pooled.clone()), 1);
    let pooled: Vec<f32> = pooled.into_data().into_vec().unwrap();
    let probabilities: Vec<f32> = probabilities.into_data().into_vec().unwrap();
    let mut worst = 1.0f64;
    for (i, image) in images.iter().enumerate() {
        let ours = &pooled[i * 1280..(i + 1) * 1280];
        let theirs: Vec<f64> = image["pooled_feature_1280"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let dot: f64 = ours.iter().zip(&theirs).map(|(a, b)| *a as f64 * b).sum();
        let norm_ours = ours.iter().map(|a| (*a as f64).powi(2)).sum::<f64>().sqrt();
        let norm_theirs = theirs.iter().map(|b| b * b).sum::<f64>().sqrt();
        let cosine = dot / (norm_ours * norm_theirs);
        worst = worst.min(cosine);
        let burn = &through_burn[i * 1280..(i + 1) * 1280];
        let dot_burn: f64 = ours.iter().zip(burn).map(|(a, b)| *a as f64 * *b as f64).sum();
        let norm_burn = burn.iter().map(|b| (*b as f64).powi(2)).sum::<f64>().sqrt();
        let cosine_burn = dot_burn / (norm_ours * norm_burn);
        assert!(
            cosine_burn >= 0.9999,
            "{name} {}: kernels vs burn cosine {cosine_burn}",
            image["path"]
        );

        let probs = &probabilities[i * 1000..(i + 1) * 1000];
        let top1 = (0..1000).max_by(|&a, &b| probs[a].total_cmp(&probs[b])).unwrap();
        let expected = image["top5_imagenet_class_index"][0].as_u64().unwrap() as usize;
        let expected_prob = image["top5_prob"][0].as_f64().unwrap();
        eprintln!(
            "{}: cosine {cosine:.5} (kernels vs burn {cosine_burn:.7}), norm {norm_ours:.3} vs {norm_theirs:.3}, top-1 {top1} p {:.4} vs {expected} p {expected_prob:.4}",
            image["path"].as_str().unwrap(),
            probs[top1]
        );
        assert!(cosine >= min_cosine, "{name} {}: cosine {cosine}", image["path"]);
        assert_eq!(top1, expected, "{}: top-1 class", image["path"]);
    }
    eprintln!("{name}: worst cosine over 8 images: {worst:.5}");
}
