//! Training the text encoder on a hand-built image space: each caption's words name which
//! axes its photo's vector points along, so a working encoder must learn to compose them.
//! Checked: it learns (validation recall), checkpoints reopen as a `TextModel` that embeds at
//! the images' length and names unknown words, `--resume` continues the same run, and a model
//! for another image space is refused.

use std::collections::BTreeMap;

use lookbook_text::{Caption, Pairs, TextConfig, TextModel, TextTraining, train_text};

const COLOURS: [&str; 4] = ["red", "blue", "green", "yellow"];
const KINDS: [&str; 3] = ["dress", "jumper", "trousers"];
const DIM: usize = 8;

/// `n` photos: colour c and kind k point along axes c and 4 + k (and the vector is 3× longer
/// than unit, as an index's concatenated blocks can be).
fn pairs(n: usize, offset: usize) -> Pairs {
    let mut captions = Vec::new();
    let mut vectors = Vec::new();
    for i in offset..offset + n {
        let (c, k) = (i % COLOURS.len(), (i / COLOURS.len()) % KINDS.len());
        let attributes = BTreeMap::from([
            ("name".to_string(), format!("{} {}", COLOURS[c], KINDS[k])),
            ("colour".to_string(), COLOURS[c].to_string()),
            ("category".to_string(), KINDS[k].to_string()),
        ]);
        captions.push(Caption::of(&attributes));
        let mut v = vec![0.0f32; DIM];
        v[c] = 3.0 / 2f32.sqrt();
        v[4 + k] = 3.0 / 2f32.sqrt();
        vectors.extend(v);
    }
    Pairs { captions, vectors }
}

fn config(epochs: usize) -> TextConfig {
    TextConfig {
        vocab_size: 200,
        width: 32,
        hidden: 64,
        epochs,
        batch_size: 12,
        learning_rate: 1e-2,
        ..TextConfig::default()
    }
}

#[test]
fn the_encoder_learns_resumes_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("text");
    let (train, val) = (pairs(48, 0), pairs(12, 48));
    let mut run = TextTraining {
        config: config(15),
        out: out.clone(),
        dim: DIM,
        image_model: "runs/hand-built".into(),
        index: "an index".into(),
        resume: false,
    };
    let mut seen = Vec::new();
    let meta = train_text(&run, &train, &val, |e| seen.push(e.epoch)).unwrap();
    assert_eq!(seen, (1..=15).collect::<Vec<_>>());
    assert_eq!(meta.epoch, 15);
    let first = &meta.history[0];
    let last = meta.history.last().unwrap();
    assert!(last.loss < first.loss, "loss {} → {}", first.loss, last.loss);
    // 12 validation photos, 12 distinct (colour, kind) pairs: each caption finds its photo.
    assert_eq!(last.val_recall_1, 1.0, "{:?}", meta.history);
    for file in ["latest.json", "metrics.csv", "curves.png", "epoch-0015/tokenizer.json"] {
        assert!(out.join(file).is_file(), "{file}");
    }
    assert!(!out.join("epoch-0014").exists(), "the previous checkpoint is removed");

    // Reopened: words → a vector at the images' length, nearest its photo's direction.
    let model = TextModel::open(&out).unwrap();
    let query = model.embed("Green Trousers").unwrap();
    let length = query.vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((length - 3.0).abs() < 1e-3, "{length}");
    let best = (0..DIM)
        .max_by(|&a, &b| query.vector[a].total_cmp(&query.vector[b]))
        .unwrap();
    assert!(best == 2 || best == 6, "{:?}", query.vector);
    assert_eq!(
        model.embed("green velvet trousers").unwrap().unknown_words,
        vec!["velvet"]
    );
    assert!(model.embed("   ").is_err());
    assert!(model.fits(DIM, "runs/hand-built").is_ok());
    let other = model.fits(DIM, "runs/other").unwrap_err().to_string();
    assert!(
        other.contains("runs/other") && other.contains("runs/hand-built"),
        "{other}"
    );

    // Resumed to 20 epochs: the same run goes on (history kept, tokenizer reused).
    run.config = config(20);
    run.resume = true;
    let mut resumed = Vec::new();
    let meta = train_text(&run, &train, &val, |e| resumed.push(e.epoch)).unwrap();
    assert_eq!(resumed, (16..=20).collect::<Vec<_>>());
    assert_eq!(meta.history.len(), 20);
    // A resume into another image space is refused, saying which.
    run.image_model = "runs/other".into();
    let refused = train_text(&run, &train, &val, |_| {}).unwrap_err().to_string();
    assert!(refused.contains("runs/other"), "{refused}");
}

#[test]
fn the_quick_configs_text_section_reads_as_the_defaults_it_documents() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/quick.toml");
    assert_eq!(TextConfig::read(&path).unwrap(), TextConfig::default());
    // A file without the section gets the defaults; a misspelt key is refused.
    let dir = tempfile::tempdir().unwrap();
    let (plain, typo) = (dir.path().join("plain.toml"), dir.path().join("typo.toml"));
    std::fs::write(&plain, "seed = 1\n[model]\nsteps = 2\n").unwrap();
    std::fs::write(&typo, "[text]\nepoch = 3\n").unwrap();
    assert_eq!(TextConfig::read(&plain).unwrap(), TextConfig::default());
    assert!(TextConfig::read(&typo).unwrap_err().to_string().contains("epoch"));
}
