//! Recommendations: λ = 0 is nearest neighbours with one image per item, diversity rises
//! with λ, no item twice, the query's own item left out, and a part alone can bring an
//! item in.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use lookbook_index::synthetic::Clusters;
use lookbook_index::{IndexContents, IndexInfo, Metric, Predicate, Record, SearchMode};
use lookbook_recommend::{Matched, Query, RecommendConfig, RowLabels, list_stats, recommend};

const DIM: usize = 16;
const PARTS: usize = 3;
const PART_DIM: usize = 8;

fn info(parts: usize, part_dim: usize) -> IndexInfo {
    IndexInfo {
        dim: DIM,
        metric: Metric::Euclidean,
        parts,
        part_dim,
        label_part: false,
        model: "test".into(),
        catalog_root: PathBuf::from("/nowhere"),
        columns: vec!["type".into()],
        ann: None,
        ivf: None,
    }
}

fn record(key: u64, item: u64, kind: usize) -> Record {
    Record {
        key,
        item_id: format!("item{item}"),
        image: PathBuf::from(format!("{key}.jpg")),
        attributes: BTreeMap::from([("type".to_string(), format!("type{kind}"))]),
        boxes: None,
    }
}

/// 600 items of 3 images each (colourways: the item's vector plus small noise), in 12
/// clusters; parts drawn independently, so part neighbours differ from whole ones.
fn catalogue() -> IndexContents {
    let items = 600;
    let centres = Clusters::new(DIM, 12).sample(items, 0, 1);
    let noise = Clusters::new(DIM, 1).sample(items * 3, 5, 2);
    let parts = Clusters::new(PART_DIM, 6).sample(items * 3 * PARTS, 3, 3);
    let mut contents = IndexContents::new(info(PARTS, PART_DIM));
    for image in 0..items * 3 {
        let item = image / 3;
        let vector: Vec<f32> = centres[item * DIM..][..DIM]
            .iter()
            .zip(&noise[image * DIM..][..DIM])
            .map(|(c, n)| c + 0.05 * n)
            .collect();
        contents
            .upsert(
                record(image as u64, item as u64, item % 7),
                &vector,
                &parts[image * PARTS * PART_DIM..][..PARTS * PART_DIM],
            )
            .unwrap();
    }
    contents
}

fn query_of(contents: &IndexContents, row: usize) -> (Vec<f32>, Vec<f32>, String) {
    let record = contents.records.get(row).unwrap();
    (
        contents.vector_of(row).to_vec(),
        contents.parts_of(row).to_vec(),
        record.item_id.clone(),
    )
}

fn config(diversity: f32) -> RecommendConfig {
    RecommendConfig {
        k: 10,
        diversity,
        ..RecommendConfig::default()
    }
}

#[test]
fn diversity_zero_is_nearest_neighbours_with_one_image_per_item() {
    let contents = catalogue();
    for row in [0, 301, 1_234, 1_799] {
        let (vector, parts, item) = query_of(&contents, row);
        let query = Query {
            vector: &vector,
            parts: &parts,
            item_id: Some(&item),
        };
        let got = recommend(&contents, &query, &config(0.0), &Predicate::default()).unwrap();
        // Plain kNN over every image, then the first image of each new item.
        let all = contents
            .search(&vector, contents.records.len(), None, SearchMode::Exact)
            .unwrap();
        let mut seen = HashSet::new();
        let want: Vec<u64> = all
            .iter()
            .filter(|h| {
                let id = contents
                    .records
                    .get(contents.row_of(h.key).unwrap())
                    .unwrap()
                    .item_id
                    .clone();
                id != item && seen.insert(id)
            })
            .take(10)
            .map(|h| h.key)
            .collect();
        assert_eq!(got.iter().map(|r| r.key).collect::<Vec<_>>(), want, "query row {row}");
        assert!(got.windows(2).all(|w| w[0].distance <= w[1].distance));
    }
}

#[test]
fn diversity_rises_with_lambda_and_no_item_comes_twice() {
    let contents = catalogue();
    let lambdas = [0.0f32, 0.25, 0.5, 0.75];
    let mut mean_diversity = [0.0f64; 4];
    let mut mean_relevance = [0.0f64; 4];
    let queries: Vec<usize> = (0..contents.records.len()).step_by(37).collect();
    for &row in &queries {
        let (vector, parts, item) = query_of(&contents, row);
        let query = Query {
            vector: &vector,
            parts: &parts,
            item_id: Some(&item),
        };
        for (i, &lambda) in lambdas.iter().enumerate() {
            let got = recommend(&contents, &query, &config(lambda), &Predicate::default()).unwrap();
            assert_eq!(got.len(), 10);
            let items: HashSet<&str> = got.iter().map(|r| r.item_id.as_str()).collect();
            assert_eq!(items.len(), 10, "λ {lambda}: an item twice");
            assert!(!items.contains(item.as_str()), "λ {lambda}: the query's own item");
            let rows: Vec<usize> = got.iter().map(|r| contents.row_of(r.key).unwrap()).collect();
            let item_of = |r: usize| contents.records.get(r).unwrap().item_id.clone();
            let labels = RowLabels {
                value_of: &|_| None,
                group_of: &|_| None,
                item_of: &item_of,
            };
            let stats = list_stats(&contents, &vector, (None, None), &rows, &labels);
            mean_diversity[i] += stats.diversity / queries.len() as f64;
            mean_relevance[i] += stats.relevance_distance / queries.len() as f64;
        }
    }
    eprintln!("diversity {mean_diversity:?}, distance to query {mean_relevance:?}");
    assert!(
        mean_diversity.windows(2).all(|w| w[1] >= w[0]),
        "diversity by λ: {mean_diversity:?}"
    );
    assert!(mean_diversity[3] > mean_diversity[0] * 1.05, "{mean_diversity:?}");
    // The price: results further from the query.
    assert!(mean_relevance[3] >= mean_relevance[0], "{mean_relevance:?}");
}

#[test]
fn the_own_item_can_be_asked_for_and_a_filter_is_kept() {
    let contents = catalogue();
    let (vector, parts, item) = query_of(&contents, 30);
    let query = Query {
        vector: &vector,
        parts: &parts,
        item_id: Some(&item),
    };
    let with_own = RecommendConfig {
        include_own_item: true,
        ..config(0.0)
    };
    let got = recommend(&contents, &query, &with_own, &Predicate::default()).unwrap();
    assert_eq!(got[0].item_id, item, "its own image is nearest");
    assert_eq!(got[0].distance, 0.0);
    let type3 = |key: u64| key / 3 % 7 == 3;
    let only_type3 = Predicate {
        attributes: vec![("type".into(), "type3".into())],
        exclude_item: None,
    };
    let got = recommend(&contents, &query, &config(0.5), &only_type3).unwrap();
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|r| type3(r.key)));
}

#[test]
fn an_item_can_qualify_by_one_part_alone() {
    // Four images: the query's neighbours by the whole picture are 1 and 2; image 3 is
    // further by the whole picture (but within twice the 2nd nearest's distance) and its
    // part 1 is the query's part 1 exactly.
    let mut contents = IndexContents::new(info(2, 2));
    let rows: [(u64, [f32; DIM], [f32; 4]); 4] = [
        (0, [0.0; DIM], [1.0, 0.0, 0.0, 1.0]),
        (1, [0.1; DIM], [0.0, 1.0, 1.0, 0.0]),
        (2, [0.2; DIM], [0.0, 1.0, -1.0, 0.0]),
        (3, [0.35; DIM], [-1.0, 0.0, 0.0, 1.0]),
    ];
    for (key, vector, parts) in &rows {
        contents.upsert(record(*key, *key, 0), vector, parts).unwrap();
    }
    let query = Query {
        vector: &rows[0].1,
        parts: &rows[0].2,
        item_id: Some("item0"),
    };
    // The whole-picture list holds 2 (= k) images: 1 and 2. Image 3 enters through part 1,
    // and λ = 1 (relevant by its nearest aspect, avoid near-copies) picks it over 2, a
    // near-copy of 1.
    let narrow = RecommendConfig {
        k: 2,
        diversity: 1.0,
        pool: 1,
        radius: 2.0,
        ..RecommendConfig::default()
    };
    let got = recommend(&contents, &query, &narrow, &Predicate::default()).unwrap();
    let mut keys: Vec<u64> = got.iter().map(|r| r.key).collect();
    keys.sort();
    assert_eq!(keys, vec![1, 3]);
    let by_key = |key: u64| got.iter().find(|r| r.key == key).unwrap();
    assert_eq!((by_key(1).matched, by_key(1).matched_rank), (Matched::Whole, 1));
    assert_eq!((by_key(3).matched, by_key(3).matched_rank), (Matched::Part(1), 1));
    assert_eq!(by_key(3).matched_distance, 0.0);
    // At λ = 0 the nearest two by the whole picture win.
    let plain = RecommendConfig {
        diversity: 0.0,
        ..narrow
    };
    let keys: Vec<u64> = recommend(&contents, &query, &plain, &Predicate::default())
        .unwrap()
        .iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(keys, vec![1, 2]);
    // However tight the radius, image 3 stays within reach through its part.
    let tight = RecommendConfig { radius: 1.0, ..narrow };
    let mut keys: Vec<u64> = recommend(&contents, &query, &tight, &Predicate::default())
        .unwrap()
        .iter()
        .map(|r| r.key)
        .collect();
    keys.sort();
    assert_eq!(keys, vec![1, 3]);
}

#[test]
fn a_photo_query_that_is_in_the_index_leaves_its_own_item_out() {
    let contents = catalogue();
    let (vector, parts, item) = query_of(&contents, 30);
    // As an upload: no item id, but the very same vector.
    let query = Query {
        vector: &vector,
        parts: &parts,
        item_id: None,
    };
    let got = recommend(&contents, &query, &config(0.5), &Predicate::default()).unwrap();
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|r| r.item_id != item), "its own item came back");
    let with_own = RecommendConfig {
        include_own_item: true,
        ..config(0.0)
    };
    assert_eq!(
        recommend(&contents, &query, &with_own, &Predicate::default()).unwrap()[0].item_id,
        item
    );
}

/// 400 items of one photo each: whole-picture vectors that ignore category, a step part,
/// and a label part that is the item's category one-hot (2 categories).
fn labelled_catalogue(label_part: bool) -> IndexContents {
    let items = 400;
    let vectors = Clusters::new(DIM, 12).sample(items, 0, 7);
    let steps = Clusters::new(PART_DIM, 6).sample(items, 3, 8);
    let mut contents = IndexContents::new(IndexInfo {
        label_part,
        ..info(2, PART_DIM)
    });
    for item in 0..items {
        let mut parts = steps[item * PART_DIM..][..PART_DIM].to_vec();
        let mut label = vec![0.0f32; PART_DIM];
        label[item % 2] = 1.0;
        parts.extend(label);
        contents
            .upsert(
                record(item as u64, item as u64, item % 2),
                &vectors[item * DIM..][..DIM],
                &parts,
            )
            .unwrap();
    }
    contents
}

#[test]
fn a_label_part_keeps_a_varied_list_in_the_query_category() {
    let (labelled, unlabelled) = (labelled_catalogue(true), labelled_catalogue(false));
    let category_of = |row: usize| row % 2;
    for row in [0, 1, 17, 200] {
        let (vector, parts, item) = query_of(&labelled, row);
        let query = Query {
            vector: &vector,
            parts: &parts,
            item_id: Some(&item),
        };
        // With the label part, or by the whole picture alone (no parts at all).
        let off_topic = |label_part: bool| {
            let contents = if label_part { &labelled } else { &unlabelled };
            let query = Query {
                parts: if label_part { query.parts } else { &[] },
                ..query
            };
            let picks = recommend(contents, &query, &config(1.0), &Predicate::default()).unwrap();
            assert_eq!(picks.len(), 10, "row {row}: {picks:?}");
            // What the label list alone brought in is shown as the whole picture, not a part.
            assert!(
                picks
                    .iter()
                    .all(|p| label_part.then_some(p.matched) != Some(Matched::Part(2)))
            );
            picks
                .iter()
                .filter(|p| category_of(contents.row_of(p.key).unwrap()) != category_of(row))
                .count()
        };
        assert_eq!(off_topic(true), 0, "row {row}: the gate keeps the category");
        assert!(
            off_topic(false) > 0,
            "row {row}: by the whole picture alone the list wanders"
        );
    }
}
