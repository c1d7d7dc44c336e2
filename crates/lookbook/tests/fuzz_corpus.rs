//! Replays the fuzzing corpora (`fuzz/corpus/TARGET`, seeds and every crash once fixed)
//! through the parsers the AFL targets feed (`fuzz/src/lib.rs`): seconds in CI, and a crash
//! found by `scripts/fuzz.sh` stays fixed. A panic in any parser fails the test.

use std::fs;
use std::path::{Path, PathBuf};

/// The targets themselves (`fuzz/` is outside the workspace; its functions need only crates
/// this one has).
#[path = "../../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod targets;

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files
}

#[test]
fn the_image_corpus_decodes_or_fails_cleanly() {
    let limits = lookbook_imaging::DecodeLimits::default();
    let mut decoded = 0;
    for file in corpus("image") {
        let bytes = fs::read(&file).unwrap();
        decoded += usize::from(lookbook_imaging::decode(&bytes, &limits, Some((384, 256)), [255; 3]).is_ok());
    }
    assert!(decoded >= 6, "the seed photos decode");
}

#[test]
fn the_pth_corpus_parses_or_fails_cleanly() {
    let mut parsed = 0;
    for file in corpus("pth") {
        parsed += usize::from(lookbook_pretrained::parse_legacy(&fs::read(&file).unwrap()).is_ok());
    }
    assert!(parsed >= 1, "the seed file parses");
}

#[test]
fn the_catalogue_corpus_reads_or_fails_cleanly() {
    for file in corpus("catalogue") {
        let bytes = fs::read(&file).unwrap();
        let Some((&layout, text)) = bytes.split_first() else {
            continue;
        };
        let dir = tempfile::tempdir().unwrap();
        let name = ["articles.csv", "styles.csv", "list.csv"][usize::from(layout % 3)];
        fs::create_dir_all(dir.path().join("images")).unwrap();
        fs::write(dir.path().join(name), text).unwrap();
        // No photos are there: every row is a problem reported, or the file an error that says why.
        match lookbook_catalog::Catalog::open(dir.path(), &Default::default()) {
            Ok(catalog) => assert!(
                catalog.entries.is_empty() || !catalog.problems.is_empty(),
                "{}: photos that are not there were read",
                file.display()
            ),
            Err(error) => assert!(!error.to_string().is_empty(), "{}", file.display()),
        }
    }
}

#[test]
fn the_index_corpus_opens_or_fails_cleanly() {
    let mut opened = 0;
    for file in corpus("index") {
        let bytes = fs::read(&file).unwrap();
        let dir = tempfile::tempdir().unwrap();
        targets::unpack_index(&bytes, dir.path()).unwrap();
        match lookbook_index::IndexReader::open(dir.path()) {
            Ok(contents) => {
                opened += 1;
                assert!(!contents.records.is_empty(), "{}", file.display());
            }
            Err(error) => assert!(!error.to_string().is_empty(), "{}", file.display()),
        }
        // What the AFL target does with it: both readers, every row, a search. No panic.
        targets::index(&bytes);
    }
    assert!(opened >= 1, "the seed index opens");
}

#[test]
fn the_ivf_corpus_opens_or_fails_cleanly() {
    use lookbook_index::VectorIndex;
    let mut searched = 0;
    for file in corpus("ivf") {
        match lookbook_index::IvfIndex::open(&file, Default::default()) {
            Ok(index) => {
                let hits = index.search(&vec![0.25f32; index.dim()], 3, None).unwrap();
                searched += usize::from(hits.len() == 3);
            }
            Err(error) => assert!(!error.to_string().is_empty(), "{}", file.display()),
        }
        // What the AFL target does with it: open, search, add, remove. No panic.
        targets::ivf(&fs::read(&file).unwrap());
    }
    assert!(searched >= 2, "the seed files open and answer");
}

#[test]
fn the_checkpoint_corpus_loads_or_fails_cleanly() {
    let mut refused = Vec::new();
    for file in corpus("checkpoint") {
        let bytes = fs::read(&file).unwrap();
        let dir = tempfile::tempdir().unwrap();
        targets::unpack_checkpoint(&bytes, dir.path()).unwrap();
        let loaded = lookbook_model::SavedModel::open(dir.path())
            .and_then(|saved| saved.load::<lookbook_model::InferBackend>(&Default::default()));
        match loaded {
            Ok(_) => {}
            Err(error) => refused.push(format!("{}: {error}", file.display())),
        }
        // What the AFL target does with it. No panic.
        targets::checkpoint(&bytes);
    }
    let said = refused.join("\n");
    // The seeds: missing tensors, a tensor of the wrong shape, an architecture too large.
    assert!(said.contains("missing tensors"), "{said}");
    assert!(said.contains("lstm_hidden 100000: at most"), "{said}");
    assert!(said.contains("ShapeMismatch"), "{said}");
    // Found by fuzzing: an integer tensor where a float one belongs made burn's loader panic.
    assert!(
        said.contains("tensor step_offsets is I32; a checkpoint holds f32 tensors"),
        "{said}"
    );
    assert!(said.contains("tensor step_offsets is U32"), "{said}");
}

#[test]
fn the_router_corpus_gets_answers_and_no_server_errors() {
    let mut answered = Vec::new();
    for file in corpus("router") {
        // The target asserts no 5xx but 503; a panic fails this test with the request named.
        let status = targets::router(&fs::read(&file).unwrap());
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        answered.push((name, status.map(|s| s.as_u16())));
    }
    let status_of = |name: &str| answered.iter().find(|(n, _)| n == name).and_then(|(_, s)| *s);
    // The seeds are well-formed requests of every route: each answered as a client expects.
    for name in [
        "health.txt",
        "item.txt",
        "search-json.txt",
        "recommend-json.txt",
        "upload.txt",
        "openapi.txt",
    ] {
        assert_eq!(status_of(name), Some(200), "{name}: {answered:?}");
    }
    assert_eq!(status_of("traversal.txt"), Some(404), "{answered:?}");
}

#[test]
fn the_graph_corpus_opens_or_fails_cleanly() {
    let mut searched = 0;
    for file in corpus("graph") {
        let bytes = fs::read(&file).unwrap();
        let Some((&mode, graph)) = bytes.split_first() else {
            continue;
        };
        let copy = tempfile::NamedTempFile::new().unwrap();
        fs::write(copy.path(), graph).unwrap();
        let (metric, config, mapped) = targets::graph_mode(mode);
        let opened = lookbook_index::HnswIndex::open(copy.path(), metric, config, Default::default(), mapped);
        if let Ok(index) = opened {
            use lookbook_index::VectorIndex;
            searched += usize::from(
                index
                    .search(&vec![0.25f32; index.dim()], 3, None)
                    .is_ok_and(|hits| hits.len() == 3),
            );
        }
        // What the AFL target does with it: open as the first byte says, search, add, remove.
        targets::graph(&bytes);
    }
    assert!(searched >= 3, "the seed graphs open and answer");
}
