//! The pgvector index against a real PostgreSQL 18 + pgvector 0.8 (scripts/postgres.sh):
//! the shared conformance suite (exact by sequential scan, and through the HNSW index),
//! bulk load and read-back, SQL filters that still return k, clear errors, and a server
//! stopped in the middle of a bulk load.
//!
//! The server's URL comes from `LOOKBOOK_PG_URL` (and its binaries from `LOOKBOOK_PG_BIN`
//! for the fault test, which starts a private server it can stop). Outside CI these tests
//! skip with a printed reason when it is unset; in CI they fail.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use lookbook_index::conformance::{Backend, run};
use lookbook_index::synthetic::Clusters;
use lookbook_index::{
    ExactIndex, HnswConfig, IndexContents, IndexError, IndexInfo, Metric, Predicate, Record, SearchMode, StepBox,
    StepBoxes, VectorIndex,
};
use lookbook_pgvector::{PgError, PgIndex, PgLocation};

/// The test server's URL, or None (outside CI) when there is none.
fn server() -> Option<String> {
    match std::env::var("LOOKBOOK_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("LOOKBOOK_PG_URL is not set: CI must start PostgreSQL (scripts/postgres.sh start)")
        }
        _ => {
            eprintln!("skipped: LOOKBOOK_PG_URL is not set (scripts/postgres.sh start prints it)");
            None
        }
    }
}

static TABLES: AtomicUsize = AtomicUsize::new(0);

/// A location for a table no other test (or run) uses.
fn location(base: &str, name: &str) -> PgLocation {
    let n = TABLES.fetch_add(1, Ordering::Relaxed);
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}table={name}_{}_{n}", std::process::id())
        .parse()
        .expect("a valid location")
}

fn info(dim: usize, metric: Metric, parts: (usize, usize), columns: &[&str], hnsw: bool) -> IndexInfo {
    IndexInfo {
        dim,
        metric,
        parts: parts.0,
        part_dim: parts.1,
        label_part: false,
        model: "test".into(),
        catalog_root: "/catalogue".into(),
        columns: columns.iter().map(|c| c.to_string()).collect(),
        ann: hnsw.then(HnswConfig::default),
        ivf: None,
    }
}

struct Pg {
    base: String,
    exact: bool,
}

impl Backend for Pg {
    type Index = PgIndex;
    fn name(&self) -> String {
        format!(
            "pgvector {}",
            if self.exact { "exact (sequential scan)" } else { "HNSW" }
        )
    }
    fn approximate(&self) -> bool {
        !self.exact
    }
    fn create(&mut self, dim: usize, metric: Metric) -> Result<PgIndex, IndexError> {
        let index = PgIndex::create(
            &location(&self.base, "conformance"),
            info(dim, metric, (0, 0), &[], true),
        )?;
        index.set_exact(self.exact);
        Ok(index)
    }
    fn reopen(&mut self, index: PgIndex) -> Result<PgIndex, IndexError> {
        let location = index.location().clone();
        drop(index);
        let index = PgIndex::open(&location)?;
        index.set_exact(self.exact);
        Ok(index)
    }
}

#[test]
fn pgvector_by_sequential_scan_passes_the_conformance_suite_exactly() {
    let Some(base) = server() else { return };
    run(&mut Pg { base, exact: true });
}

#[test]
fn pgvector_through_its_hnsw_index_passes_the_conformance_suite() {
    let Some(base) = server() else { return };
    run(&mut Pg { base, exact: false });
}

const COLOURS: [&str; 10] = [
    "black", "white", "red", "blue", "green", "grey", "pink", "beige", "navy", "yellow",
];

/// `n` records of `dim`-d clustered vectors with 2 parts of 4: colour cycles through 10 values,
/// item = row / 3 (three images per item), `rare` is set on rows 0, 500, 1000, ...
fn catalogue(n: usize, dim: usize, hnsw: bool) -> IndexContents {
    let vectors = Clusters::new(dim, 12).sample(n, 3, 4);
    let mut contents = IndexContents::new(info(dim, Metric::Euclidean, (2, 4), &["colour", "rare"], hnsw));
    for row in 0..n {
        let mut attributes = BTreeMap::from([("colour".to_string(), COLOURS[row % 10].to_string())]);
        if row % 500 == 0 {
            attributes.insert("rare".into(), "yes".into());
        }
        let record = Record {
            key: 10_000 + row as u64 * 2,
            item_id: format!("item-{}", row / 3),
            image: PathBuf::from(format!("img/{row:05}.jpg")),
            attributes,
            // Every third row has attention boxes (an index built before them has none).
            boxes: (row % 3 == 0).then(|| StepBoxes {
                size: [360, 540],
                steps: vec![StepBox {
                    bbox: [row as f32, 1.5, 100.25, 200.0],
                    name: "upper left".into(),
                }],
            }),
        };
        let parts: Vec<f32> = (0..8).map(|i| (row * 8 + i) as f32 / 1e4).collect();
        contents
            .upsert(record, &vectors[row * dim..][..dim], &parts)
            .expect("upsert");
    }
    contents
}

#[test]
fn a_bulk_load_reads_back_identically_and_searches_in_sql_return_k_matching_rows() {
    let Some(base) = server() else { return };
    let (n, dim) = (3000, 32);
    let contents = catalogue(n, dim, true);
    let location = location(&base, "load");
    let (_, stats) = PgIndex::replace(&location, &contents).expect("bulk load");
    assert_eq!(stats.rows, n);
    assert!(stats.copy_seconds > 0.0 && stats.index_seconds > 0.0, "{stats:?}");

    let back = PgIndex::open(&location).expect("open").snapshot().expect("snapshot");
    assert_eq!(back, contents, "records, vectors and parts read back as loaded");
    assert!(back.external().is_some(), "Auto searches go to PostgreSQL");
    let reference = contents.exact_index().unwrap();

    let queries = Clusters::new(dim, 12).sample(20, 3, 99);
    let mut found_total = 0.0;
    for query in queries.chunks_exact(dim) {
        // Unfiltered: HNSW against exact.
        let hits = back.search(query, 10, None, SearchMode::Auto).unwrap();
        let truth = reference.search(query, 10, None).unwrap();
        found_total += hits.iter().filter(|h| truth.iter().any(|t| t.key == h.key)).count() as f64 / 10.0;
        // A 1-in-10 attribute filter in SQL: 10 rows, every one matching, the query item left out.
        let predicate = Predicate {
            attributes: vec![("colour".into(), "red".into())],
            exclude_item: Some("item-2".into()),
        };
        let hits = back.search_matching(query, 10, &predicate, SearchMode::Auto).unwrap();
        assert_eq!(hits.len(), 10, "a filter in SQL still returns k rows");
        let exact = back.search_matching(query, 10, &predicate, SearchMode::Exact).unwrap();
        let overlap = hits.iter().filter(|h| exact.iter().any(|e| e.key == h.key)).count();
        assert!(overlap >= 8, "filtered HNSW found {overlap} of the exact 10");
        for hit in &hits {
            let record = back.records.get(back.row_of(hit.key).unwrap()).unwrap();
            assert_eq!(record.attributes["colour"], "red");
            assert_ne!(record.item_id, "item-2");
        }
        // Six rows of 3000 are rare: all six come back, nearest first.
        let rare = Predicate {
            attributes: vec![("rare".into(), "yes".into())],
            exclude_item: None,
        };
        let hits = back.search_matching(query, 10, &rare, SearchMode::Auto).unwrap();
        let mut keys: Vec<u64> = hits.iter().map(|h| h.key).collect();
        keys.sort_unstable();
        let expected: Vec<u64> = (0..n).step_by(500).map(|r| 10_000 + r as u64 * 2).collect();
        assert_eq!(keys, expected, "a filter only 6 rows pass returns those 6");
        // Conflicting values for one column match nothing.
        let none = Predicate {
            attributes: vec![("colour".into(), "red".into()), ("colour".into(), "blue".into())],
            exclude_item: None,
        };
        assert!(
            back.search_matching(query, 10, &none, SearchMode::Auto)
                .unwrap()
                .is_empty()
        );
    }
    let recall = found_total / 20.0;
    assert!(recall >= 0.95, "recall@10 {recall}");

    // Row-level changes: upsert a new row and replace one, remove two.
    let index = PgIndex::open(&location).unwrap();
    let parts = [0.5f32; 8];
    let new_record = Record {
        key: 7,
        item_id: "new".into(),
        image: "img/new.jpg".into(),
        attributes: BTreeMap::from([("colour".to_string(), "red".to_string())]),
        boxes: None,
    };
    let replaced = Record {
        item_id: "renamed".into(),
        ..contents.records.get(0).unwrap().into_owned()
    };
    index
        .upsert(&[
            (new_record, &queries[..dim], &parts),
            (replaced, contents.vector_of(0), &parts),
        ])
        .unwrap();
    assert_eq!(index.len(), n + 1);
    assert_eq!(index.remove_keys(&[7, 10_002, 123]).unwrap(), 2);
    assert_eq!(index.len(), n - 1);
    let back = PgIndex::open(&location).unwrap().snapshot().unwrap();
    assert_eq!(back.records.len(), n - 1);
    assert_eq!(
        back.records.get(back.row_of(10_000).unwrap()).unwrap().item_id,
        "renamed"
    );
    assert!(back.row_of(10_002).is_none() && back.row_of(7).is_none());
}

#[test]
fn unreachable_servers_missing_indexes_and_newer_schemas_are_clear_errors() {
    let Some(base) = server() else { return };
    // Nothing listens on port 1.
    let error = PgIndex::open(&"postgres://lookbook@127.0.0.1:1/lookbook?table=x".parse().unwrap()).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, PgError::Unreachable { .. }), "{text}");
    assert!(
        text.contains("cannot reach PostgreSQL at postgres://lookbook@127.0.0.1:1/lookbook"),
        "{text}"
    );

    let missing = location(&base, "missing");
    let text = PgIndex::open(&missing).unwrap_err().to_string();
    assert!(
        text.contains("no lookbook index") && text.contains(&missing.table),
        "{text}"
    );

    let newer = location(&base, "newer");
    PgIndex::create(&newer, info(4, Metric::Euclidean, (0, 0), &[], true)).unwrap();
    let mut client = newer.config.connect(postgres::NoTls).unwrap();
    client
        .execute(
            "UPDATE lookbook_indexes SET schema_version = 99 WHERE name = $1",
            &[&newer.table],
        )
        .unwrap();
    let text = PgIndex::open(&newer).unwrap_err().to_string();
    assert!(
        text.contains("schema version 99, newer than this lookbook understands (2)"),
        "{text}"
    );

    // A table of schema 1 (before each row's boxes were stored) is brought up to date when
    // opened, and reads back without boxes.
    let older = location(&base, "older");
    let contents = catalogue(12, 4, true);
    PgIndex::replace(&older, &contents).unwrap();
    client
        .batch_execute(&format!(
            "ALTER TABLE {t} DROP COLUMN boxes; UPDATE lookbook_indexes SET schema_version = 1 WHERE name = '{t}'",
            t = older.table
        ))
        .unwrap();
    let back = PgIndex::open(&older).unwrap().snapshot().unwrap();
    assert_eq!(back.records.len(), 12);
    assert!(back.records.iter().all(|r| r.unwrap().boxes.is_none()));
    let version: i32 = client
        .query_one(
            "SELECT schema_version FROM lookbook_indexes WHERE name = $1",
            &[&older.table],
        )
        .unwrap()
        .get(0);
    assert_eq!(version, 2);

    // A fresh database: no index there (not an extension error); creating one creates the
    // extension. With lookbook's table there but the extension dropped, the error says so.
    let database = format!("noext_{}", std::process::id());
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {database}"))
        .unwrap();
    client.batch_execute(&format!("CREATE DATABASE {database}")).unwrap();
    let mut config = newer.config.clone();
    config.dbname(&database);
    let bare = PgLocation {
        config: config.clone(),
        ..newer.clone()
    };
    let text = PgIndex::open(&bare).unwrap_err().to_string();
    assert!(text.contains("no lookbook index"), "{text}");
    assert!(!PgIndex::exists(&bare).unwrap());
    drop(PgIndex::create(&bare, info(4, Metric::Euclidean, (0, 0), &[], true)).unwrap());
    let mut inside = config.connect(postgres::NoTls).unwrap();
    inside
        .batch_execute(&format!("DROP TABLE {}; DROP EXTENSION vector", bare.table))
        .unwrap();
    drop(inside);
    let text = PgIndex::open(&bare).unwrap_err().to_string();
    assert!(
        text.contains("not created in this database") && text.contains("CREATE EXTENSION vector"),
        "{text}"
    );
    client
        .batch_execute(&format!("DROP DATABASE {database} WITH (FORCE)"))
        .unwrap();

    let ivf = lookbook_index::IvfConfig::default();
    let text = PgIndex::create(
        &location(&base, "ivf"),
        IndexInfo {
            ivf: Some(ivf),
            ..info(4, Metric::Euclidean, (0, 0), &[], false)
        },
    )
    .unwrap_err()
    .to_string();
    assert!(text.contains("IVF lists are for index folders"), "{text}");
}

#[path = "support/private_server.rs"]
mod private_server;
use private_server::PrivateServer;

#[test]
fn a_server_stopped_in_the_middle_of_a_bulk_load_leaves_the_old_contents() {
    if server().is_none() {
        return;
    }
    let Some(private) = PrivateServer::start() else { return };
    let location: PgLocation = private.url("fault").parse().unwrap();
    let old = catalogue(1000, 16, true);
    PgIndex::replace(&location, &old).expect("first load");

    // A load big enough to be caught in the middle: 300k rows by COPY.
    let new = catalogue(300_000, 64, false);
    let watcher_config = location.config.clone();
    let error = std::thread::scope(|scope| {
        let load = scope.spawn(|| PgIndex::replace(&location, &new));
        // Wait until COPY has streamed rows, then stop the server dead.
        let mut watcher = watcher_config.connect(postgres::NoTls).unwrap();
        let started = std::time::Instant::now();
        loop {
            let copied: i64 = watcher
                .query_one(
                    "SELECT coalesce(max(tuples_processed), 0) FROM pg_stat_progress_copy",
                    &[],
                )
                .unwrap()
                .get(0);
            if copied > 10_000 {
                break;
            }
            assert!(!load.is_finished(), "the load finished before it could be interrupted");
            assert!(started.elapsed().as_secs() < 60, "COPY never started");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        drop(watcher);
        private.stop_now();
        load.join().unwrap().expect_err("a load whose server stopped fails")
    });
    let text = error.to_string();
    assert!(
        text.contains("bulk load of 300000 rows into `fault`") && text.contains("rolled back"),
        "the error says what failed and what it means: {text}"
    );

    private.run();
    let back = PgIndex::open(&location).expect("open after restart");
    assert_eq!(back.len(), 1000, "the old table, not half the new one");
    assert_eq!(back.snapshot().unwrap(), old, "the old contents exactly");
    // And the next load goes through.
    let (index, stats) = PgIndex::replace(&location, &catalogue(2000, 16, true)).unwrap();
    assert_eq!((index.len(), stats.rows), (2000, 2000));
    let reference: ExactIndex = catalogue(2000, 16, true).exact_index().unwrap();
    assert_eq!(reference.len(), index.len());
}

/// Connections are not checked on every checkout (that was a second round trip per search):
/// after the server restarts, every pooled connection is closed, and the next search, read
/// and write must still succeed — each on a new connection — rather than fail once per stale one.
#[test]
fn searches_reads_and_writes_go_on_after_the_server_restarts() {
    if server().is_none() {
        return;
    }
    let Some(private) = PrivateServer::start() else { return };
    let location: PgLocation = format!("{}&pool=4", private.url("restart")).parse().unwrap();
    let contents = catalogue(500, 16, true);
    PgIndex::replace(&location, &contents).unwrap();
    let index = PgIndex::open(&location).unwrap();
    let query = contents.vector_of(7).to_vec();
    // Four searches at once: four connections in the pool.
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..20 {
                    assert_eq!(index.search(&query, 5, None).unwrap().len(), 5);
                }
            });
        }
    });
    private.stop_now();
    private.run();
    assert_eq!(
        index.search(&query, 5, None).unwrap()[0].key,
        contents.records.keys()[7]
    );
    let item = contents.records.get(7).unwrap().item_id.clone();
    assert_eq!(
        lookbook_index::Gallery::item_keys(&index, &item).unwrap().len(),
        contents
            .records
            .iter()
            .filter(|r| r.as_ref().unwrap().item_id == item)
            .count()
    );
    let record = Record {
        key: 1,
        item_id: "after-restart".into(),
        image: "new.jpg".into(),
        attributes: BTreeMap::new(),
        boxes: None,
    };
    private.stop_now();
    private.run();
    index.upsert(&[(record, &query, &[0.5; 8])]).unwrap();
    assert_eq!(index.search(&query, 1, None).unwrap()[0].distance, 0.0);
}
