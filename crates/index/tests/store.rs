//! The on-disk index: round trip, interrupted commits, incremental updates, damage detection.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use lookbook_index::store::FailPoint;
use lookbook_index::{IndexContents, IndexError, IndexInfo, IndexReader, IndexWriter, Metric, Record, VectorIndex};

fn info() -> IndexInfo {
    IndexInfo {
        dim: 3,
        metric: Metric::Euclidean,
        parts: 2,
        part_dim: 2,
        model: "runs/test/epoch-0001".into(),
        catalog_root: PathBuf::from("/data/hm"),
        columns: vec!["colour".into()],
    }
}

fn record(key: u64, colour: &str) -> Record {
    Record {
        key,
        item_id: format!("item{}", key / 10),
        image: PathBuf::from(format!("images/{key}.jpg")),
        attributes: BTreeMap::from([("colour".to_string(), colour.to_string())]),
    }
}

fn contents(keys: &[u64]) -> IndexContents {
    let mut c = IndexContents::new(info());
    for &key in keys {
        let k = key as f32;
        c.upsert(
            record(key, if key % 2 == 0 { "Black" } else { "Red" }),
            &[k, k + 0.5, -k],
            &[k, 1.0, 2.0, k],
        )
        .unwrap();
    }
    c
}

#[test]
fn an_index_reads_back_as_written_and_answers_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let written = contents(&[10, 11, 20, 31]);
    IndexWriter::new(dir.path()).unwrap().commit(&written).unwrap();
    let read = IndexReader::open(dir.path()).unwrap();
    assert_eq!(read, written);
    let query = [10.2f32, 10.6, -10.1];
    let before = written.exact_index().unwrap().search(&query, 3, None).unwrap();
    let after = read.exact_index().unwrap().search(&query, 3, None).unwrap();
    assert_eq!(before, after);
    assert_eq!(after[0].key, 10);
    assert_eq!(read.parts_of(1), &[11.0, 1.0, 2.0, 11.0]);
    assert_eq!(read.row_of(20), Some(2));
    assert_eq!(read.row_of(99), None);
}

#[test]
fn an_interrupted_commit_leaves_the_previous_index_readable() {
    let dir = tempfile::tempdir().unwrap();
    let first = contents(&[1, 2, 3]);
    IndexWriter::new(dir.path()).unwrap().commit(&first).unwrap();
    for point in [FailPoint::AfterVectors, FailPoint::BeforeManifest] {
        let mut writer = IndexWriter::new(dir.path()).unwrap();
        writer.fail_at = Some(point);
        let err = writer.commit(&contents(&[1, 2, 3, 4, 5])).unwrap_err();
        assert!(matches!(err, IndexError::Interrupted(_)), "{err}");
        assert_eq!(
            IndexReader::open(dir.path()).unwrap(),
            first,
            "after a failure at {point:?}"
        );
    }
    // The next full commit wins and sweeps the leftovers of the interrupted ones.
    let second = contents(&[4, 5]);
    IndexWriter::new(dir.path()).unwrap().commit(&second).unwrap();
    assert_eq!(IndexReader::open(dir.path()).unwrap(), second);
    let files = fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, 4, "manifest + one generation's three files");
}

#[test]
fn add_and_remove_update_the_index_without_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let writer = IndexWriter::new(dir.path()).unwrap();
    writer.commit(&contents(&[1, 2, 3])).unwrap();
    let mut index = IndexReader::open(dir.path()).unwrap();
    index
        .upsert(record(7, "Red"), &[7.0, 7.5, -7.0], &[7.0, 1.0, 2.0, 7.0])
        .unwrap();
    // The same key again replaces its row.
    index.upsert(record(2, "Green"), &[0.0, 0.0, 0.0], &[0.0; 4]).unwrap();
    assert_eq!(index.remove_where(|r| r.key == 1), 1);
    writer.commit(&index).unwrap();
    let read = IndexReader::open(dir.path()).unwrap();
    let keys: Vec<u64> = read.records.iter().map(|r| r.key).collect();
    assert_eq!(keys, vec![2, 3, 7]);
    assert_eq!(read.records[0].attributes["colour"], "Green");
    assert_eq!(&read.vectors[..3], &[0.0, 0.0, 0.0]);
    assert_eq!(read.parts_of(2), &[7.0, 1.0, 2.0, 7.0]);
    // A filter on the stored attributes still returns k results.
    let exact = read.exact_index().unwrap();
    let red = |key: u64| {
        read.records
            .iter()
            .any(|r| r.key == key && r.attributes["colour"] == "Red")
    };
    let hits = exact.search(&[0.0, 0.0, 0.0], 2, Some(&red)).unwrap();
    assert_eq!(hits.iter().map(|h| h.key).collect::<Vec<_>>(), vec![3, 7]);
}

#[test]
fn damaged_or_foreign_files_are_reported_not_read() {
    let dir = tempfile::tempdir().unwrap();
    IndexWriter::new(dir.path())
        .unwrap()
        .commit(&contents(&[1, 2]))
        .unwrap();
    let vectors = fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("vectors-"))
        .unwrap()
        .path();
    let mut bytes = fs::read(&vectors).unwrap();
    bytes[0] ^= 0xff;
    fs::write(&vectors, &bytes).unwrap();
    let err = IndexReader::open(dir.path()).unwrap_err();
    assert!(matches!(err, IndexError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("checksum"), "{err}");

    fs::write(dir.path().join("manifest.json"), r#"{"format":"something-else"}"#).unwrap();
    assert!(matches!(IndexReader::open(dir.path()), Err(IndexError::Corrupt { .. })));
    let missing = IndexReader::open(dir.path().join("nowhere")).unwrap_err();
    assert!(missing.to_string().contains("nowhere"), "{missing}");
}
