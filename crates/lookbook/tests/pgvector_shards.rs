//! A build split into shards (`lookbook index --shard I/N`, issue 22): four processes fill one
//! PostgreSQL table at once, one of them dies after its first commit and is rerun, then
//! `index finish` builds the HNSW index — and the table holds exactly what a single build
//! writes: the same keys in the same order, the same vectors, the same eval table.
//!
//! Needs `LOOKBOOK_PG_URL` (scripts/postgres.sh start; scripts/test.sh starts one): skips
//! with a printed reason outside CI when it is unset, fails in CI.

mod common;

use std::process::{Command, Stdio};

use common::{lookbook_ok, pg_server, pg_table_url, shared_data, stdout};

/// Keys, items and vectors of an index, in row order (read from a folder copy of it).
fn rows(index: &str, dir: &std::path::Path) -> Vec<(u64, String, Vec<f32>)> {
    let folder = dir.join(format!("copy-{}", index.len() + dir.read_dir().unwrap().count()));
    lookbook_ok(&["index", "copy", "--from", index, "--to", folder.to_str().unwrap()]);
    let contents = lookbook_index::IndexReader::open(&folder).unwrap();
    (0..contents.records.len())
        .map(|row| {
            let record = contents.records.get(row).unwrap();
            (record.key, record.item_id.clone(), contents.vector_of(row).to_vec())
        })
        .collect()
}

#[test]
fn four_shards_fill_one_table_as_a_single_build_does_even_after_a_kill() {
    let Some(base) = pg_server() else { return };
    let Some(hm) = shared_data("hm") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (single, sharded) = (pg_table_url(&base, "hm_single"), pg_table_url(&base, "hm_sharded"));
    // The histogram baseline on H&M's test split (1,470 photos; no model to train), a commit
    // every 64 images so shards interleave their transactions.
    let source = [
        "--baseline",
        "histogram",
        "--catalog",
        hm.to_str().unwrap(),
        "--split",
        "test",
        "--ann",
        "hnsw",
        "--commit-every",
        "0",
        "--chunk",
        "64",
    ];
    lookbook_ok(&[&["-q", "index", "--out", &single][..], &source].concat());

    let shard = |i: usize, abort: bool| {
        let shard = format!("{i}/4");
        let mut command = Command::new(env!("CARGO_BIN_EXE_lookbook"));
        command
            .args([&["-q", "index", "--out", &sharded, "--shard", &shard][..], &source].concat())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if abort {
            // Dies (abort: no handler, no flush) right after its first intermediate commit.
            command.env("LOOKBOOK_ABORT_AFTER_COMMIT", "1");
        }
        command.spawn().unwrap()
    };
    let children: Vec<_> = (1..=4).map(|i| (i, shard(i, i == 2))).collect();
    for (i, child) in children {
        let output = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        match i {
            2 => assert!(
                !output.status.success() && err.contains("LOOKBOOK_ABORT_AFTER_COMMIT"),
                "{err}"
            ),
            _ => assert!(output.status.success(), "shard {i}/4: {err}"),
        }
    }
    // The killed shard reruns and embeds only what it had not committed.
    let rerun = shard(2, false).wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&rerun.stderr);
    assert!(rerun.status.success(), "{err}");
    let resumed: usize = err
        .split(" images to embed, ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{err}"));
    assert!(resumed >= 64, "the rerun kept the killed shard's commit: {err}");
    let out = stdout(&lookbook_ok(&["index", "finish", "--index", &sharded]));
    assert!(out.contains("HNSW m 16"), "{out}");

    // Exactly the single build's rows, in its order (each shard wrote its rows where a single
    // build puts them), and the same eval table.
    let (single_rows, sharded_rows) = (rows(&single, dir.path()), rows(&sharded, dir.path()));
    assert_eq!(single_rows.len(), 1470);
    assert!(
        single_rows == sharded_rows,
        "the sharded table differs from the single build"
    );
    let eval = |index: &str| stdout(&lookbook_ok(&["eval", "--index", index, "--protocol", "product-code"]));
    let (a, b) = (eval(&single), eval(&sharded));
    let table = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with('|'))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(table(&a), table(&b));
    assert!(!table(&a).is_empty(), "{a}");

    // A shard never writes into a table of another build, nor into a folder.
    let refused = |out: &str, extra: &[&str]| {
        let hm = hm.to_str().unwrap();
        let base = [
            "-q",
            "index",
            "--out",
            out,
            "--shard",
            "1/2",
            "--baseline",
            "histogram",
            "--catalog",
            hm,
        ];
        let output = common::lookbook(&[&base[..], &["--split", "test"], extra].concat());
        assert!(!output.status.success(), "{out}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let err = refused(&single, &["--metric", "cosine"]);
    assert!(err.contains("holds another build"), "{err}");
    let folder = dir.path().join("folder-index");
    let err = refused(folder.to_str().unwrap(), &[]);
    assert!(err.contains("is a folder"), "{err}");
    assert!(!folder.exists(), "nothing written");
}
