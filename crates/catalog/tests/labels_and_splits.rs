//! Label vocabulary, item-id splits, the inspect summary, and the real H&M catalogue.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use lookbook_catalog::{
    Catalog, CatalogSummary, LabelVocabulary, OpenOptions, Split, SplitFractions, VocabularyConfig, split_for_item,
};

/// A labelled list whose items and labels are chosen by the test.
fn labelled(rows: &[(&str, &str, &str)]) -> (tempfile::TempDir, Catalog) {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("image,item_id,labels,colour,fit\n");
    for (i, (item, labels, colour)) in rows.iter().enumerate() {
        csv.push_str(&format!("{i}.jpg,{item},{labels},{colour},slim\n"));
        fs::write(dir.path().join(format!("{i}.jpg")), b"x").unwrap();
    }
    fs::write(dir.path().join("list.csv"), csv).unwrap();
    let catalog = Catalog::open(dir.path(), &OpenOptions::default()).unwrap();
    (dir, catalog)
}

#[test]
fn vocabulary_keeps_frequent_values_and_drops_colour() {
    let rows = [
        ("a", "floral|dress", "red"),
        ("b", "floral", "red"),
        ("c", "dress|floral", "blue"),
        ("d", "stripe", "red"),
    ];
    let (_dir, catalog) = labelled(&rows);
    let config = VocabularyConfig {
        columns: Some(vec!["colour".into(), "fit".into()]),
        min_count: 2,
        ..Default::default()
    };
    let vocab = LabelVocabulary::build(&catalog, &catalog.entries, &config);
    assert_eq!(vocab.columns, vec!["fit"], "colour columns are left out by default");
    assert_eq!(vocab.names(), vec!["fit=slim", "label=dress", "label=floral"]);
    assert_eq!(vocab.labels[2].count, 3);
    let encoder = vocab.encoder(&catalog);
    assert_eq!(encoder.encode(&catalog.entries[0]), vec![0, 1, 2]);
    assert_eq!(encoder.encode(&catalog.entries[3]), vec![0], "stripe is too rare");
    assert_eq!(encoder.multi_hot(&catalog.entries[1]), vec![1.0, 0.0, 1.0]);

    let with_colour = VocabularyConfig {
        include_colour: true,
        ..config
    };
    let vocab = LabelVocabulary::build(&catalog, &catalog.entries, &with_colour);
    assert!(vocab.names().contains(&"colour=red".to_string()));
    assert!(
        !vocab.names().contains(&"colour=blue".to_string()),
        "blue has 1 image < min_count 2"
    );

    // The vocabulary travels with a model, so it must round-trip through serialisation.
    let json = serde_json::to_string(&vocab).unwrap();
    let back: LabelVocabulary = serde_json::from_str(&json).unwrap();
    assert_eq!(back, vocab);
}

#[test]
fn splits_are_by_item_and_deterministic() {
    let fractions = SplitFractions::default();
    let mut counts: HashMap<Split, usize> = HashMap::new();
    for i in 0..20_000 {
        let item = format!("item-{i}");
        let split = split_for_item(&item, &fractions);
        assert_eq!(split, split_for_item(&item, &fractions));
        *counts.entry(split).or_default() += 1;
    }
    let share = |s| counts[&s] as f64 / 20_000.0;
    assert!((share(Split::Train) - 0.7).abs() < 0.02, "{counts:?}");
    assert!((share(Split::Val) - 0.1).abs() < 0.02, "{counts:?}");
    assert!((share(Split::Test) - 0.2).abs() < 0.02, "{counts:?}");
    // Pinned values: a change of hash would silently move items between splits.
    // (XXH3-64 of the id's bytes, mod 10^6, against the cumulative fractions.)
    let pinned = [
        ("108775", Split::Train),
        ("look-1", Split::Test),
        ("a", Split::Val),
        ("b", Split::Val),
    ];
    for (item, split) in pinned {
        assert_eq!(split_for_item(item, &fractions), split, "{item}");
    }
    let all_train = SplitFractions {
        train: 1.0,
        val: 0.0,
        test: 0.0,
    };
    assert_eq!(split_for_item("anything", &all_train), Split::Train);
    assert!(
        SplitFractions {
            train: 0.8,
            val: 0.3,
            test: 0.1
        }
        .validate()
        .is_err()
    );
}

#[test]
fn photos_of_one_item_share_a_split() {
    let rows: Vec<(String, String, String)> = (0..300)
        .map(|i| (format!("it{}", i / 3), "x".to_string(), "red".to_string()))
        .collect();
    let rows: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    let (_dir, catalog) = labelled(&rows);
    let mut split_of: HashMap<&str, Split> = HashMap::new();
    for e in &catalog.entries {
        let s = *split_of.entry(&e.item_id).or_insert(e.split);
        assert_eq!(s, e.split, "item {} crosses splits", e.item_id);
    }
    assert_eq!(catalog.split_sizes().len(), 3);
}

#[test]
fn summary_histogram_and_counts() {
    let rows = [
        ("a", "x", ""),
        ("a", "x", ""),
        ("b", "x", ""),
        ("c", "x", ""),
        ("c", "x", ""),
        ("c", "x", ""),
    ];
    let (_dir, catalog) = labelled(&rows);
    let vocab = LabelVocabulary::build(&catalog, &catalog.entries, &VocabularyConfig::default());
    let summary = CatalogSummary::new(&catalog, &vocab);
    assert_eq!(summary.images, 6);
    assert_eq!(summary.items, 3);
    let hist: Vec<(String, usize)> = summary
        .images_per_item
        .iter()
        .map(|b| (b.images.clone(), b.items))
        .collect();
    assert_eq!(hist, vec![("1".into(), 1), ("2".into(), 1), ("3".into(), 1)]);
    assert_eq!(summary.splits.values().sum::<usize>(), 6);
    assert_eq!(summary.label_vocabulary_size, 0, "6 images: no value reaches 20");
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
fn real_hm_catalogue() {
    let Some(root) = hm_root() else { return };
    let catalog = Catalog::open(&root, &OpenOptions::default()).unwrap();
    assert_eq!(catalog.format, lookbook_catalog::CatalogFormat::Hm);
    assert_eq!(catalog.entries.len(), 7_175);
    assert_eq!(catalog.item_count(), 4_062);
    assert!(
        catalog.problems.is_empty(),
        "{:?}",
        &catalog.problems[..catalog.problems.len().min(5)]
    );
    let vocab = LabelVocabulary::build(&catalog, &catalog.entries, &VocabularyConfig::default());
    assert!(vocab.columns.iter().all(|c| !c.contains("colour")));
    assert!(vocab.len() > 50, "{} labels", vocab.len());
    let encoder = vocab.encoder(&catalog);
    let labelled = catalog.entries.iter().filter(|e| !encoder.encode(e).is_empty()).count();
    assert!(labelled > 7_000, "{labelled} images carry at least one label");
    let sizes = catalog.split_sizes();
    let train = sizes[&Split::Train] as f64 / 7_175.0;
    assert!((0.6..0.8).contains(&train), "train share {train}");
}

#[test]
fn another_catalogues_training_photos_join_with_their_own_ids_and_columns() {
    // This catalogue: a labelled list with a `fit` column; the other: Myntra's layout.
    let (_dir, mut catalog) = labelled(&[("a", "floral", "red"), ("a", "floral", "blue"), ("b", "stripe", "red")]);
    let other_dir = tempfile::tempdir().unwrap();
    let other = other_dir.path().join("myntra");
    fs::create_dir_all(other.join("images")).unwrap();
    let mut styles = String::from(
        "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName\n",
    );
    for id in 0..40 {
        styles.push_str(&format!(
            "{id},Men,Apparel,Topwear,Tshirts,Red,Summer,2012,Casual,Shirt {id}\n"
        ));
        fs::write(other.join(format!("images/{id}.jpg")), b"x").unwrap();
    }
    fs::write(other.join("styles.csv"), styles).unwrap();
    let myntra = Catalog::open(&other, &OpenOptions::default()).unwrap();
    let own_columns = catalog.columns.clone();
    let own = catalog.entries.clone();

    let joined = catalog.append_training_photos(&myntra);

    let myntra_train: Vec<_> = myntra.split(Split::Train).collect();
    assert!(!myntra_train.is_empty() && myntra_train.len() < myntra.entries.len());
    assert_eq!(
        joined,
        own.len()..own.len() + myntra_train.len(),
        "appended after this catalogue's own"
    );
    assert_eq!(
        &catalog.columns[..own_columns.len()],
        &own_columns[..],
        "own columns first, in place"
    );
    assert!(catalog.column_index("articleType").is_some());
    for (before, after) in own.iter().zip(&catalog.entries) {
        assert_eq!(
            (&before.item_id, before.split, &before.image),
            (&after.item_id, after.split, &after.image)
        );
        assert_eq!(
            catalog.attribute(after, "articleType"),
            None,
            "unknown in this catalogue's rows"
        );
        assert_eq!(catalog.attribute(after, "fit"), Some("slim"));
    }
    for (source, entry) in myntra_train.iter().zip(&catalog.entries[joined]) {
        assert_eq!(
            entry.item_id,
            format!("myntra:{}", source.item_id),
            "ids of another numbering"
        );
        assert_eq!(entry.split, Split::Train);
        assert!(
            catalog.image_path(entry).is_file(),
            "{} is found",
            catalog.image_path(entry).display()
        );
        assert_eq!(catalog.attribute(entry, "articleType"), Some("Tshirts"));
        assert_eq!(catalog.attribute(entry, "fit"), None);
    }
}
