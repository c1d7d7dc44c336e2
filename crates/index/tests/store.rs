//! The on-disk index: round trip, interrupted commits, incremental updates, damage detection.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use lookbook_index::store::FailPoint;
use lookbook_index::synthetic::Clusters;
use lookbook_index::{
    HnswConfig, IndexContents, IndexError, IndexInfo, IndexReader, IndexWriter, IvfConfig, Metric, Quantization,
    Record, SearchMode, VectorIndex,
};

fn info() -> IndexInfo {
    IndexInfo {
        dim: 3,
        metric: Metric::Euclidean,
        parts: 2,
        part_dim: 2,
        label_part: false,
        model: "runs/test/epoch-0001".into(),
        catalog_root: PathBuf::from("/data/hm"),
        columns: vec!["colour".into()],
        ann: None,
        ivf: None,
    }
}

fn record(key: u64, colour: &str) -> Record {
    Record {
        key,
        item_id: format!("item{}", key / 10),
        image: PathBuf::from(format!("images/{key}.jpg")),
        attributes: BTreeMap::from([("colour".to_string(), colour.to_string())]),
        boxes: None,
    }
}

/// The index file whose name starts with `prefix` (e.g. `vectors-`).
fn file_of(dir: &std::path::Path, prefix: &str) -> PathBuf {
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .unwrap()
        .path()
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
    let mut written = contents(&[10, 11, 20, 31]);
    IndexWriter::new(dir.path()).unwrap().commit(&mut written).unwrap();
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
    let mut first = contents(&[1, 2, 3]);
    IndexWriter::new(dir.path()).unwrap().commit(&mut first).unwrap();
    for point in [FailPoint::AfterVectors, FailPoint::BeforeManifest] {
        let mut writer = IndexWriter::new(dir.path()).unwrap();
        writer.fail_at = Some(point);
        let err = writer.commit(&mut contents(&[1, 2, 3, 4, 5])).unwrap_err();
        assert!(matches!(err, IndexError::Interrupted(_)), "{err}");
        assert_eq!(
            IndexReader::open(dir.path()).unwrap(),
            first,
            "after a failure at {point:?}"
        );
    }
    // The next full commit wins and sweeps the leftovers of the interrupted ones.
    let mut second = contents(&[4, 5]);
    IndexWriter::new(dir.path()).unwrap().commit(&mut second).unwrap();
    assert_eq!(IndexReader::open(dir.path()).unwrap(), second);
    let files = fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, 5, "manifest + one generation's four files");
}

#[test]
fn add_and_remove_update_the_index_without_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let writer = IndexWriter::new(dir.path()).unwrap();
    writer.commit(&mut contents(&[1, 2, 3])).unwrap();
    let mut index = IndexReader::open(dir.path()).unwrap();
    index
        .upsert(record(7, "Red"), &[7.0, 7.5, -7.0], &[7.0, 1.0, 2.0, 7.0])
        .unwrap();
    // The same key again replaces its row.
    index.upsert(record(2, "Green"), &[0.0, 0.0, 0.0], &[0.0; 4]).unwrap();
    assert_eq!(index.remove_where(|r| r.key == 1).unwrap(), 1);
    writer.commit(&mut index).unwrap();
    let read = IndexReader::open(dir.path()).unwrap();
    let keys: Vec<u64> = read.records.keys().to_vec();
    assert_eq!(keys, vec![2, 3, 7]);
    assert_eq!(read.records.get(0).unwrap().attributes["colour"], "Green");
    assert_eq!(&read.vectors[..3], &[0.0, 0.0, 0.0]);
    assert_eq!(read.parts_of(2), &[7.0, 1.0, 2.0, 7.0]);
    // A filter on the stored attributes still returns k results.
    let exact = read.exact_index().unwrap();
    let red = |key: u64| {
        read.records.iter().any(|r| {
            let r = r.unwrap();
            r.key == key && r.attributes["colour"] == "Red"
        })
    };
    let hits = exact.search(&[0.0, 0.0, 0.0], 2, Some(&red)).unwrap();
    assert_eq!(hits.iter().map(|h| h.key).collect::<Vec<_>>(), vec![3, 7]);
}

#[test]
fn damaged_or_foreign_files_are_reported_not_read() {
    let dir = tempfile::tempdir().unwrap();
    IndexWriter::new(dir.path())
        .unwrap()
        .commit(&mut contents(&[1, 2]))
        .unwrap();
    let vectors = file_of(dir.path(), "vectors-");
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

/// 2,000 clustered 32-d vectors, every third "Black", in an index `configure` sets up.
fn clustered_contents(configure: impl Fn(&mut IndexInfo)) -> (IndexContents, Vec<f32>) {
    let dim = 32;
    let mut info = info();
    info.dim = dim;
    info.parts = 0;
    info.part_dim = 0;
    configure(&mut info);
    let vectors = Clusters::new(dim, 20).sample(2_000, 0, 9);
    let mut c = IndexContents::new(info);
    for (key, v) in vectors.chunks_exact(dim).enumerate() {
        c.upsert(
            record(key as u64, if key.is_multiple_of(3) { "Black" } else { "Red" }),
            v,
            &[],
        )
        .unwrap();
    }
    (c, vectors)
}

/// An index with an HNSW graph.
fn graph_contents(quantization: Quantization) -> (IndexContents, Vec<f32>) {
    clustered_contents(|info| {
        info.ann = Some(HnswConfig {
            quantization,
            ..HnswConfig::default()
        })
    })
}

#[test]
fn an_index_with_a_graph_opens_read_or_mapped_with_the_same_answers() {
    for quantization in [Quantization::F32, Quantization::I8] {
        let dir = tempfile::tempdir().unwrap();
        let (mut written, vectors) = graph_contents(quantization);
        let writer = IndexWriter::new(dir.path()).unwrap();
        writer.commit(&mut written).unwrap();
        assert!(written.graph().is_some(), "commit builds the graph");
        let queries = &vectors[..10 * 32];
        let want = written.search_batch(queries, 10, None, SearchMode::Auto).unwrap();
        let exact = written.search_batch(queries, 10, None, SearchMode::Exact).unwrap();
        let overlap: usize = want
            .iter()
            .zip(&exact)
            .map(|(w, e)| w.iter().filter(|h| e.iter().any(|x| x.key == h.key)).count())
            .sum();
        assert!(overlap >= 95, "{quantization}: graph and exact share {overlap}/100");
        let read = IndexReader::open(dir.path()).unwrap();
        let mapped = IndexReader::open_mapped(dir.path()).unwrap();
        assert!(mapped.vectors.is_mapped() && mapped.graph().unwrap().is_mapped());
        assert!(!read.vectors.is_mapped() && !read.graph().unwrap().is_mapped());
        assert_eq!(read, written);
        assert_eq!(mapped, written);
        for opened in [&read, &mapped] {
            assert_eq!(opened.search_batch(queries, 10, None, SearchMode::Auto).unwrap(), want);
        }
        // A filter through the graph still returns k results, all accepted.
        let black = |key: u64| key.is_multiple_of(3);
        let hits = mapped
            .search(&vectors[..32], 10, Some(&black), SearchMode::Auto)
            .unwrap();
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|h| black(h.key)));
        IndexReader::verify(dir.path()).unwrap();
    }
}

#[test]
fn updates_keep_the_graph_in_step_loaded_or_rebuild_it_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let (mut written, vectors) = graph_contents(Quantization::F32);
    let writer = IndexWriter::new(dir.path()).unwrap();
    writer.commit(&mut written).unwrap();
    let new_vector: Vec<f32> = vectors[5 * 32..6 * 32].iter().map(|x| -x).collect();
    for mapped in [false, true] {
        let mut index = match mapped {
            false => IndexReader::open(dir.path()).unwrap(),
            true => IndexReader::open_mapped(dir.path()).unwrap(),
        };
        index.upsert(record(90_000, "Green"), &new_vector, &[]).unwrap();
        assert_eq!(index.remove_where(|r| r.key == 5).unwrap(), 1);
        // A loaded graph took both changes; a mapped one cannot, so it is gone until commit.
        assert_eq!(index.graph().is_some(), !mapped);
        let hits = index.search(&new_vector, 1, None, SearchMode::Auto).unwrap();
        assert_eq!(hits[0].key, 90_000);
        let hits = index
            .search(&vectors[5 * 32..6 * 32], 10, None, SearchMode::Auto)
            .unwrap();
        assert!(hits.iter().all(|h| h.key != 5));
        writer.commit(&mut index).unwrap();
        let reread = IndexReader::open_mapped(dir.path()).unwrap();
        assert_eq!(reread.graph().unwrap().len(), 2_000);
        let hits = reread.search(&new_vector, 1, None, SearchMode::Auto).unwrap();
        assert_eq!(hits[0].key, 90_000);
        // Back to the original rows for the next round.
        let mut reset = graph_contents(Quantization::F32).0;
        writer.commit(&mut reset).unwrap();
    }
}

#[test]
fn verify_finds_damage_that_a_mapped_open_does_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let (mut written, _) = graph_contents(Quantization::F32);
    IndexWriter::new(dir.path()).unwrap().commit(&mut written).unwrap();
    let vectors = file_of(dir.path(), "vectors-");
    let mut bytes = fs::read(&vectors).unwrap();
    bytes[100] ^= 0x01;
    fs::write(&vectors, &bytes).unwrap();
    // Same length: a mapped open checks lengths only and succeeds; verify and a full read fail.
    assert!(IndexReader::open_mapped(dir.path()).is_ok());
    let err = IndexReader::verify(dir.path()).unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
    assert!(IndexReader::open(dir.path()).is_err());
    // A truncated graph fails even the mapped open.
    let graph = file_of(dir.path(), "graph-");
    let len = fs::metadata(&graph).unwrap().len();
    fs::File::options()
        .write(true)
        .open(&graph)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let err = IndexReader::open_mapped(dir.path()).unwrap_err();
    assert!(err.to_string().contains("graph-"), "{err}");
}

#[test]
fn a_mapped_open_reads_records_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let mut written = contents(&[10, 11, 20, 31]);
    let writer = IndexWriter::new(dir.path()).unwrap();
    writer.commit(&mut written).unwrap();
    let mapped = IndexReader::open_mapped(dir.path()).unwrap();
    assert!(mapped.records.is_lazy());
    assert_eq!(mapped, written);
    assert_eq!(mapped.records.keys(), &[10, 11, 20, 31]);
    assert_eq!(mapped.records.get(2).unwrap().image, PathBuf::from("images/20.jpg"));
    // Item ids are found in the text: item1 is keys 10 and 11 (first row 0), item3 key 31.
    assert_eq!(mapped.records.find_item("item1").unwrap(), Some(0));
    assert_eq!(mapped.records.find_item("item3").unwrap(), Some(3));
    assert_eq!(mapped.records.find_item("item").unwrap(), None);
    // A change parses every row once; committing writes them back unchanged.
    let mut changed = IndexReader::open_mapped(dir.path()).unwrap();
    changed.upsert(record(40, "Red"), &[1.0, 2.0, 3.0], &[0.0; 4]).unwrap();
    assert!(!changed.records.is_lazy());
    writer.commit(&mut changed).unwrap();
    let reread = IndexReader::open_mapped(dir.path()).unwrap();
    assert_eq!(reread.records.len(), 5);
    assert_eq!(reread.records.get(4).unwrap().key, 40);
    assert_eq!(reread.records.get(0).unwrap().attributes["colour"], "Black");

    // A damaged line (same length) surfaces as an error when that row is read, not a panic.
    let records_file = file_of(dir.path(), "records-");
    let mut text = fs::read(&records_file).unwrap();
    text[1] = b'X';
    fs::write(&records_file, &text).unwrap();
    let damaged = IndexReader::open_mapped(dir.path()).unwrap();
    let err = damaged.records.get(0).unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
    assert!(damaged.records.get(1).is_ok());
    assert!(
        IndexReader::open(dir.path()).is_err(),
        "a full read checks the checksum"
    );

    // An index written before the keys file existed is parsed on open.
    fs::write(&records_file, {
        let mut t = text.clone();
        t[1] = b'"';
        t
    })
    .unwrap();
    let manifest_path = dir.path().join("manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_slice(&fs::read(&manifest_path).unwrap()).unwrap();
    manifest.as_object_mut().unwrap().remove("keys");
    fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let old = IndexReader::open_mapped(dir.path()).unwrap();
    assert!(!old.records.is_lazy());
    assert_eq!(old.records.len(), 5);
}

#[test]
fn ivf_lists_are_kept_in_step_committed_and_reopened_with_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (mut written, vectors) = clustered_contents(|info| info.ivf = Some(IvfConfig::default()));
    let writer = IndexWriter::new(dir.path()).unwrap();
    writer.commit(&mut written).unwrap();
    let ivf = written.ivf().expect("commit builds the lists");
    assert_eq!((ivf.len(), ivf.config().lists), (2_000, 45));
    assert!(file_of(dir.path(), "lists-").exists());
    let queries = &vectors[..10 * 32];
    let want = written.search_batch(queries, 10, None, SearchMode::Auto).unwrap();
    let exact = written.search_batch(queries, 10, None, SearchMode::Exact).unwrap();
    let overlap: usize = want
        .iter()
        .zip(&exact)
        .map(|(w, e)| w.iter().filter(|h| e.iter().any(|x| x.key == h.key)).count())
        .sum();
    assert!(overlap >= 95, "IVF and exact share {overlap}/100");
    for mut opened in [
        IndexReader::open(dir.path()).unwrap(),
        IndexReader::open_mapped(dir.path()).unwrap(),
    ] {
        let got = opened.search_batch(queries, 10, None, SearchMode::Auto).unwrap();
        for (g, w) in got.iter().zip(&want) {
            let keys = |hits: &[lookbook_index::Hit]| hits.iter().map(|h| h.key).collect::<Vec<_>>();
            assert_eq!(keys(g), keys(w));
        }
        let black = |key: u64| key.is_multiple_of(3);
        let hits = opened
            .search(&vectors[..32], 10, Some(&black), SearchMode::Auto)
            .unwrap();
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|h| black(h.key)));
        // The lists follow upserts and removals whether the vectors are mapped or not.
        let new_vector: Vec<f32> = vectors[5 * 32..6 * 32].iter().map(|x| -x).collect();
        opened.upsert(record(90_000, "Green"), &new_vector, &[]).unwrap();
        assert_eq!(opened.remove_where(|r| r.key == 5).unwrap(), 1);
        assert_eq!(opened.ivf().unwrap().len(), 2_000);
        assert_eq!(
            opened.search(&new_vector, 1, None, SearchMode::Auto).unwrap()[0].key,
            90_000
        );
        let near_5 = opened
            .search(&vectors[5 * 32..6 * 32], 10, None, SearchMode::Auto)
            .unwrap();
        assert!(near_5.iter().all(|h| h.key != 5));
    }
    IndexReader::verify(dir.path()).unwrap();
    // A flipped byte in the lists: verify and a checked open say which file.
    let lists = file_of(dir.path(), "lists-");
    let mut bytes = fs::read(&lists).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    fs::write(&lists, &bytes).unwrap();
    for err in [
        IndexReader::verify(dir.path()).unwrap_err(),
        IndexReader::open(dir.path()).unwrap_err(),
    ] {
        assert!(err.to_string().contains("lists-"), "{err}");
    }
    // A graph and lists at once is refused before anything is written.
    written.info.ann = Some(HnswConfig::default());
    let err = writer.commit(&mut written).unwrap_err();
    assert!(matches!(err, IndexError::Invalid(_)), "{err}");
    assert_eq!(file_of(dir.path(), "lists-"), lists, "the previous generation stays");
}
