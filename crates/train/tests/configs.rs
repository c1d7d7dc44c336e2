//! The shipped configs parse, validate and describe the model they claim to.

use std::path::Path;

use lookbook_train::TrainConfig;

fn config(name: &str) -> TrainConfig {
    TrainConfig::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs").join(name)).unwrap()
}

#[test]
fn seed_config_is_the_study() {
    let c = config("seed.toml");
    assert_eq!((c.model.input_height, c.model.input_width), (384, 256));
    assert_eq!(
        (c.optimizer.learning_rate, c.optimizer.batch_size, c.optimizer.epochs),
        (1e-5, 64, 40)
    );
    assert_eq!(c.optimizer.epsilon, 1e-8, "PyTorch's Adam ε, not burn's 1e-5");
    let w = c.loss_weights();
    // γ₁ and γ₂ as the study; λ₁, λ₂ and β are where lookbook departs from it, so that the
    // steps stay distinct parts of the garment (docs/attention.md).
    assert_eq!(
        (
            w.diversity,
            w.localisation,
            w.anchor,
            w.positive,
            w.min_scale,
            w.max_scale
        ),
        (0.01, 0.1, 1.0, 1.0, 0.4, 0.5)
    );
    assert_eq!(c.model.attention_frame, "garment");
    let seed = c.seed_config(10);
    assert_eq!((seed.feature_height(), seed.feature_width()), (24, 16));
}

#[test]
fn every_shipped_config_places_its_steps_on_the_garment() {
    for name in [
        "seed.toml",
        "cpu.toml",
        "quick.toml",
        "effnet-cpu.toml",
        "effnet-tuned-cpu.toml",
        "effnet-gpu.toml",
    ] {
        let c = config(name);
        assert_eq!(c.model.attention_frame, "garment", "{name}");
        assert!(c.seed_config(3).garment_frame(), "{name}");
        let w = c.loss_weights();
        assert!(w.anchor >= 1.0 && w.min_scale >= 0.4, "{name}: {w:?}");
    }
}

#[test]
fn cpu_config_keeps_the_architecture_at_a_smaller_input() {
    let (cpu, seed) = (config("cpu.toml"), config("seed.toml"));
    assert_eq!((cpu.model.input_height, cpu.model.input_width), (96, 64));
    assert_eq!(cpu.model.steps, seed.model.steps);
    assert_eq!(cpu.model.codewords, seed.model.codewords);
    assert_eq!(cpu.model.lstm_hidden, seed.model.lstm_hidden);
}

#[test]
fn bad_configs_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[model]\ninput_height = 100\n").unwrap();
    let err = TrainConfig::from_file(&path).unwrap_err().to_string();
    assert!(err.contains("multiple of 16"), "{err}");
    std::fs::write(&path, "[optimiser]\nlr = 1\n").unwrap();
    let err = TrainConfig::from_file(&path).unwrap_err().to_string();
    assert!(err.contains("optimiser"), "unknown sections are named: {err}");
}

#[test]
fn the_tuned_configs_fine_tune_the_last_blocks_on_grey_photos_too() {
    for (name, blocks) in [("effnet-tuned-cpu.toml", 2), ("effnet-gpu.toml", 5)] {
        let c = config(name);
        assert_eq!(c.model.tuned_blocks, blocks, "{name}");
        assert!(c.optimizer.trunk_learning_rate.is_some_and(|lr| lr > 0.0), "{name}");
        assert!(
            c.optimizer.trunk_learning_rate < Some(c.optimizer.learning_rate),
            "{name}"
        );
        assert!(c.augment.greyscale > 0.0, "{name}");
    }
}
