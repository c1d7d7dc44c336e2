//! A server on a PostgreSQL table holds none of its rows (issue 22): every question a query,
//! a recommendation or the web page asks goes to SQL. These tests hold the table's answers to
//! those of the same rows in memory — each read of `Gallery`, then whole answers of the query
//! engine the server and CLI share (search, recommend with a filter, tag, items, facets,
//! images, boxes) — and check that the part searches use their own HNSW indexes.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::{pg_server, pg_table_url};
use lookbook_index::synthetic::Clusters;
use lookbook_index::{
    Gallery, HnswConfig, IndexContents, IndexInfo, Metric, Predicate, Record, SearchMode, StepBox, StepBoxes,
};
use lookbook_pgvector::{PgIndex, PgLocation};
use lookbook_query::{Engine, QuerySource, QuerySpec};

const DIM: usize = 16;
const PARTS: usize = 3;
const PART_DIM: usize = 8;
const COLOURS: [&str; 5] = ["black", "blue", "red", "white", "green"];

/// 300 items of 1–3 images: whole vectors in clusters, parts drawn apart, three attributes
/// (one with a value per item), boxes on every image. Built the same way every time.
fn catalogue(hnsw: bool) -> IndexContents {
    let images = 600;
    let vectors = Clusters::new(DIM, 9).sample(images, 7, 1);
    let parts = Clusters::new(PART_DIM, 5).sample(images * PARTS, 7, 2);
    let info = IndexInfo {
        dim: DIM,
        metric: Metric::Euclidean,
        parts: PARTS,
        part_dim: PART_DIM,
        label_part: false,
        model: "histogram".into(),
        catalog_root: "/catalogue".into(),
        columns: vec!["colour".into(), "type".into(), "name".into()],
        ann: hnsw.then(HnswConfig::default),
        ivf: None,
    };
    let mut contents = IndexContents::new(info);
    let mut image = 0;
    for item in 0..300 {
        for _ in 0..(item % 3 + 1).min(images - image) {
            let attributes = BTreeMap::from([
                ("colour".to_string(), COLOURS[(item * 7 + image) % 5].to_string()),
                ("type".to_string(), format!("type{}", item % 4)),
                ("name".to_string(), format!("garment {item}")),
            ]);
            let record = Record {
                key: 1_000 + (image as u64 * 7919) % 10_007,
                item_id: format!("item{item:03}"),
                image: PathBuf::from(format!("img/{image:04}.jpg")),
                attributes,
                boxes: Some(StepBoxes {
                    size: [360, 540],
                    steps: (1..PARTS)
                        .map(|step| StepBox {
                            bbox: [step as f32 * 10.0, image as f32 / 10.0, 200.0, 300.5],
                            name: format!("part {step}"),
                        })
                        .collect(),
                }),
            };
            let row_parts = &parts[image * PARTS * PART_DIM..][..PARTS * PART_DIM];
            contents
                .upsert(record, &vectors[image * DIM..][..DIM], row_parts)
                .unwrap();
            image += 1;
        }
    }
    contents
}

fn table(base: &str, name: &str, contents: &IndexContents) -> PgLocation {
    let location: PgLocation = pg_table_url(base, name).parse().unwrap();
    PgIndex::replace(&location, contents).unwrap();
    location
}

/// Hits as (key, distance rounded): PostgreSQL sums in another order than we do.
fn rounded(hits: Vec<lookbook_index::Hit>) -> Vec<(u64, i64)> {
    hits.into_iter()
        .map(|h| (h.key, (h.distance * 1e4).round() as i64))
        .collect()
}

#[test]
fn a_table_answers_each_read_as_the_rows_in_memory_do() {
    let Some(base) = pg_server() else { return };
    let memory = catalogue(false);
    let location = table(&base, "gallery_reads", &memory);
    let sql = PgIndex::open(&location).unwrap();

    assert_eq!(sql.image_count(), memory.image_count());
    assert_eq!(sql.item_count().unwrap(), 300);
    assert_eq!(sql.item_count().unwrap(), memory.item_count().unwrap());
    let keys: Vec<u64> = memory.records.keys().iter().step_by(37).copied().chain([7]).collect();
    assert_eq!(sql.rows(&keys).unwrap(), memory.rows(&keys).unwrap());
    assert!(sql.rows(&[7]).unwrap()[0].is_none(), "no such key");
    for item in ["item000", "item002", "item145", "item299", "nothing"] {
        assert_eq!(sql.item_keys(item).unwrap(), memory.item_keys(item).unwrap(), "{item}");
    }
    assert_eq!(memory.item_keys("item002").unwrap().len(), 3);
    let red = vec![("colour".to_string(), "red".to_string())];
    let red_type1 = vec![red[0].clone(), ("type".to_string(), "type1".to_string())];
    let two_colours = vec![red[0].clone(), ("colour".to_string(), "blue".to_string())];
    for (offset, limit, filter) in [
        (0, 10, &vec![]),
        (295, 10, &vec![]),
        (5, 7, &red),
        (0, 500, &red_type1),
        (10_000, 5, &red),
        (0, 5, &two_colours),
    ] {
        let (a, b) = (
            sql.items_page(offset, limit, filter).unwrap(),
            memory.items_page(offset, limit, filter).unwrap(),
        );
        assert_eq!(a.total, b.total, "{offset} {limit} {filter:?}");
        let ids = |page: &lookbook_index::ItemsPage| -> Vec<(u64, String)> {
            page.first_images.iter().map(|r| (r.key, r.item_id.clone())).collect()
        };
        assert_eq!(ids(&a), ids(&b), "{offset} {limit} {filter:?}");
    }
    assert_eq!(memory.items_page(5, 7, &red).unwrap().first_images.len(), 7);
    for values in [2, 60] {
        assert_eq!(sql.value_counts(values).unwrap(), memory.value_counts(values).unwrap());
    }
    let counts = sql.value_counts(2).unwrap();
    assert_eq!((counts[2].column.as_str(), counts[2].distinct), ("name", 300));

    let probe = memory.rows(&keys[3..4]).unwrap().pop().flatten().unwrap();
    let predicates = [
        Predicate::default(),
        Predicate {
            attributes: red.clone(),
            exclude_item: None,
        },
        Predicate {
            attributes: Vec::new(),
            exclude_item: Some(probe.record.item_id.clone()),
        },
        Predicate {
            attributes: red_type1.clone(),
            exclude_item: Some(probe.record.item_id.clone()),
        },
    ];
    for predicate in &predicates {
        let (a, b) = (
            sql.search(&probe.vector, 12, predicate, SearchMode::Exact).unwrap(),
            Gallery::search(&memory, &probe.vector, 12, predicate, SearchMode::Exact).unwrap(),
        );
        assert!(!a.is_empty());
        assert_eq!(rounded(a), rounded(b), "{predicate:?}");
        for part in 0..PARTS {
            let query = &probe.parts[part * PART_DIM..][..PART_DIM];
            let (a, b) = (
                Gallery::search_part(&sql, part, query, 9, predicate).unwrap(),
                Gallery::search_part(&memory, part, query, 9, predicate).unwrap(),
            );
            assert_eq!(a.len(), 9, "part {part} {predicate:?}");
            assert_eq!(rounded(a), rounded(b), "part {part} {predicate:?}");
        }
    }

    // A row written without part vectors (`VectorIndex::add`: a key and a vector only) is never a
    // part neighbour, and reading it back is an error that names it, not a panic.
    let mut sql = sql;
    lookbook_index::VectorIndex::add(&mut sql, 9, &probe.vector).unwrap();
    let everything = Gallery::search_part(&sql, 0, &probe.parts[..PART_DIM], 1000, &Predicate::default()).unwrap();
    assert_eq!(everything.len(), 600);
    assert!(everything.iter().all(|h| h.key != 9));
    let error = sql.rows(&[9]).unwrap_err().to_string();
    assert!(error.contains("key 9") && error.contains("part values"), "{error}");
}

/// An answer as JSON without its timing.
fn answer_json(answer: lookbook_query::Answer) -> serde_json::Value {
    let mut json = serde_json::to_value(answer).unwrap();
    json.as_object_mut().unwrap().remove("took_ms");
    json
}

#[test]
fn the_query_engine_on_a_table_gives_the_answers_it_gives_in_memory() {
    let Some(base) = pg_server() else { return };
    let location = table(&base, "gallery_engine", &catalogue(false));
    let sql = Engine::new(Box::new(PgIndex::open(&location).unwrap()), None, None);
    let memory = Engine::new(Box::new(catalogue(false)), None, None);

    assert_eq!((sql.images(), sql.items()), (memory.images(), memory.items()));
    assert!(sql.explains(), "the rows' stored boxes are found");
    let facets = |engine: &Engine| serde_json::to_value(engine.attributes()).unwrap();
    assert_eq!(facets(&sql), facets(&memory));
    let red = BTreeMap::from([("colour".to_string(), "red".to_string())]);
    for (offset, filter) in [(0, BTreeMap::new()), (20, red.clone())] {
        let page = |engine: &Engine| serde_json::to_value(engine.list_items(offset, 12, &filter).unwrap()).unwrap();
        assert_eq!(page(&sql), page(&memory));
    }
    for item in ["item002", "item100", "item299"] {
        let detail = |engine: &Engine| serde_json::to_value(engine.item(item).unwrap()).unwrap();
        assert_eq!(detail(&sql), detail(&memory));
        let key = memory.item(item).unwrap().images[0].key().unwrap();
        assert_eq!(sql.image_path(key), memory.image_path(key));
        assert_eq!(sql.boxes_of(key), memory.boxes_of(key));

        let source = QuerySource::Item(item.to_string());
        let mut searches = vec![
            QuerySpec::search(source.clone(), 10),
            QuerySpec::recommend(source.clone(), 8, 0.0),
            QuerySpec::recommend(source.clone(), 8, 0.5),
            QuerySpec::recommend(source.clone(), 8, 1.0),
        ];
        for spec in &mut searches {
            spec.search_mode = lookbook_index::SearchMode::Exact;
        }
        let mut filtered = QuerySpec::recommend(source.clone(), 6, 0.7);
        filtered.filter = red.clone();
        searches.push(filtered);
        for spec in &searches {
            let (a, b) = (sql.query(spec).unwrap(), memory.query(spec).unwrap());
            assert!(!a.results.is_empty(), "{item} {spec:?}");
            assert!(
                a.results.iter().all(|r| r.item_id != item),
                "the query's own item is left out"
            );
            let (a, b) = (answer_json(a), answer_json(b));
            // Distances agree to float rounding; compare them apart from the rest.
            let strip = |mut v: serde_json::Value| {
                let mut distances = Vec::new();
                for result in v["results"].as_array_mut().unwrap() {
                    for field in ["distance", "matched_distance"] {
                        if let Some(d) = result.as_object_mut().unwrap().remove(field) {
                            distances.push(d.as_f64().unwrap_or(0.0));
                        }
                    }
                }
                (v, distances)
            };
            let ((a, da), (b, db)) = (strip(a), strip(b));
            assert_eq!(a, b, "{item} {spec:?}");
            assert!(da.iter().zip(&db).all(|(x, y)| (x - y).abs() < 1e-3), "{da:?} {db:?}");
        }
        let (a, b) = (
            sql.tag(&source, 15, 3, SearchMode::Exact).unwrap(),
            memory.tag(&source, 15, 3, SearchMode::Exact).unwrap(),
        );
        assert_eq!(serde_json::to_value(a).unwrap(), serde_json::to_value(b).unwrap());
    }
    assert!(sql.item("nothing").is_err() && sql.image_path(7).is_none());
}

#[test]
fn part_searches_use_their_own_hnsw_indexes() {
    let Some(base) = pg_server() else { return };
    let contents = catalogue(true);
    let location = table(&base, "gallery_parts", &contents);
    let mut client = location.config.connect(postgres::NoTls).unwrap();
    let table = &location.table;
    let indexes: Vec<String> = client
        .query(
            "SELECT indexname FROM pg_indexes WHERE tablename = $1 ORDER BY 1",
            &[table],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let want: Vec<String> = ["hnsw", "item", "part0", "part1", "part2", "pkey", "position"]
        .iter()
        .map(|s| format!("{table}_{s}"))
        .collect();
    assert_eq!(indexes, want);
    // The expression a part search orders by matches its index (with sequential scans off:
    // on 600 rows the planner would rightly scan them instead).
    let plan: Vec<String> = client
        .simple_query(&format!(
            "SET enable_seqscan = off; EXPLAIN SELECT key FROM {table}
             ORDER BY (parts[9:16])::vector(8) <-> '[0,0,0,0,0,0,0,0]' LIMIT 10"
        ))
        .unwrap()
        .into_iter()
        .filter_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .collect();
    assert!(plan.join("\n").contains(&format!("{table}_part1")), "{plan:#?}");
    // And through the HNSW indexes the answers still find most of the exact neighbours.
    let sql = PgIndex::open(&location).unwrap();
    let query = &contents.rows(&contents.records.keys()[..1]).unwrap()[0]
        .clone()
        .unwrap()
        .parts[PART_DIM..][..PART_DIM];
    let (a, b) = (
        Gallery::search_part(&sql, 1, query, 10, &Predicate::default()).unwrap(),
        Gallery::search_part(&contents, 1, query, 10, &Predicate::default()).unwrap(),
    );
    let found = a.iter().filter(|h| b.iter().any(|e| e.key == h.key)).count();
    assert!(found >= 8, "{a:?} against {b:?}");
}

#[test]
fn removing_by_item_photo_and_attributes_on_a_table_removes_what_it_does_in_memory() {
    let Some(base) = pg_server() else { return };
    let mut memory = catalogue(false);
    let location = table(&base, "gallery_remove", &memory);
    let sql = PgIndex::open(&location).unwrap();
    let items = ["item002".to_string(), "item150".to_string(), "nothing".to_string()];
    let images = [PathBuf::from("img/0000.jpg"), PathBuf::from("img/0599.jpg")];
    let filter = [
        ("colour".to_string(), "red".to_string()),
        ("type".to_string(), "type1".to_string()),
    ];
    let gone = lookbook_indexer::remove_rows(&mut memory, &items, &images, &filter).unwrap();
    let image_names: Vec<String> = images.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    assert_eq!(sql.remove_matching(&items, &image_names, &filter).unwrap(), gone.len());
    assert!(gone.len() > 10, "{} removed", gone.len());
    let left = PgIndex::open(&location).unwrap();
    assert_eq!(lookbook_index::VectorIndex::len(&left), memory.image_count());
    let mut keys = left.keys().unwrap();
    keys.sort_unstable();
    let mut want = memory.records.keys().to_vec();
    want.sort_unstable();
    assert_eq!(keys, want);
    // Nothing asked for removes nothing.
    assert_eq!(left.remove_matching(&[], &[], &[]).unwrap(), 0);
}
