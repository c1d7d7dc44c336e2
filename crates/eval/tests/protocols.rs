//! Each protocol on hand-built cases whose answers are worked out by hand.

use lookbook_eval::rerank::{KReciprocal, k_reciprocal_neighbours};
use lookbook_eval::{
    Role, expand_by_neighbours, knn_probabilities, precision_at_k, tag_accuracy, top_k_accuracy, top_k_accuracy_of,
};
use lookbook_index::Metric;

/// Points on a line: row i at x = positions[i].
fn line(positions: &[f32]) -> Vec<f32> {
    positions.to_vec()
}

#[test]
fn product_code_protocol_counts_hits_by_item_and_never_the_query_itself() {
    // Items: a at 0.0 and 0.1; b at 1.0 and 5.0; c at 2.0 alone (not a query: no partner).
    let items = ["a", "a", "b", "b", "c"];
    let vectors = line(&[0.0, 0.1, 1.0, 5.0, 2.0]);
    let roles = [Role::Both; 5];
    let table = top_k_accuracy(&items, &roles, &vectors, 1, Metric::Euclidean, &[1, 2, 3, 4]).unwrap();
    assert_eq!(table.queries, 4, "c has no other image");
    assert_eq!(table.gallery, 5);
    // Neighbours (self excluded): a0 → a1 ✓ at 1; a1 → a0 ✓ at 1;
    // b(1.0) → a1(0.9), a0(1.0), c(1.0)… b(5.0) only at rank 4;
    // b(5.0) → c(3.0), b(4.0) ✓ at 2.
    // top-1: 2/4; top-2: 3/4; top-3: 3/4 (b at 1.0: a1, then a0/c tie at 1.0); top-4: 4/4.
    assert_eq!(table.values, vec![0.5, 0.75, 0.75, 1.0]);
}

#[test]
fn inshop_protocol_searches_only_the_gallery() {
    // Queries q1 (item x) and q2 (item y); gallery: x at 0.5, y at 3.0, z at 0.2.
    let items = ["x", "y", "x", "y", "z"];
    let roles = [Role::Query, Role::Query, Role::Gallery, Role::Gallery, Role::Gallery];
    let vectors = line(&[0.0, 2.9, 0.5, 3.0, 0.2]);
    let table = top_k_accuracy(&items, &roles, &vectors, 1, Metric::Euclidean, &[1, 2]).unwrap();
    assert_eq!((table.queries, table.gallery), (2, 3));
    // q1 → z(0.2), x(0.5): hit at 2. q2 → y(0.1): hit at 1. Queries never match each other.
    assert_eq!(table.values, vec![0.5, 1.0]);
}

#[test]
fn category_precision_at_k() {
    // Two clusters; one "Dress" sits among the "Trousers".
    let values = ["Dress", "Dress", "Trousers", "Trousers", "Dress", ""];
    let vectors = line(&[0.0, 0.1, 10.0, 10.08, 10.2, 0.05]);
    let roles = [Role::Both; 6];
    let table = precision_at_k(&values, &roles, &vectors, 1, Metric::Euclidean, &[1, 2]).unwrap();
    assert_eq!(table.queries, 5, "the unlabelled row is gallery only");
    // @1: d0→unlabelled(0.05) ✗, d1→unlabelled ✗, t2→t3 ✓, t3→t2 ✓ (0.08, before d4 at 0.12),
    // d4→t3 ✗  = 2/5.
    // @2: d0→{u, d1} ½, d1→{u, d0} ½, t2→{t3, d4} ½, t3→{t2, d4} ½, d4→{t3, t2} 0  = 2/5.
    assert!((table.values[0] - 0.4).abs() < 1e-9, "{:?}", table.values);
    assert!((table.values[1] - 0.4).abs() < 1e-9, "{:?}", table.values);
}

#[test]
fn knn_probabilities_are_shares_of_k() {
    // K = 5 neighbours: Red ×2, Blue ×2, one with no value.
    let p = knn_probabilities(["Red", "Blue", "", "Blue", "Red"], 5);
    assert_eq!(
        p,
        vec![("Blue".to_string(), 0.4), ("Red".to_string(), 0.4)],
        "ties by value"
    );
    let p = knn_probabilities(["Red", "Red", "Blue"], 3);
    assert_eq!(p[0].0, "Red");
    assert!((p[0].1 - 2.0 / 3.0).abs() < 1e-12 && (p[1].1 - 1.0 / 3.0).abs() < 1e-12);
    assert!(knn_probabilities([], 3).is_empty());
}

#[test]
fn tag_accuracy_predicts_from_other_items_and_reports_the_prior() {
    // Gallery: Red at 0, 0.1, 0.2 (items g1, g2, g3); Blue at 5, 5.1 (g4, g5); Blue at 10 (g6).
    // Queries: q1 at 0.05 (Red), q2 at 5.05 (Blue), q3 at 0.15 (truly Blue: a miss),
    // q4 with no colour (not counted).
    let items = ["g1", "g2", "g3", "g4", "g5", "g6", "q1", "q2", "q3", "q4"];
    let colour = vec!["Red", "Red", "Red", "Blue", "Blue", "Blue", "Red", "Blue", "Blue", ""];
    let vectors = line(&[0.0, 0.1, 0.2, 5.0, 5.1, 10.0, 0.05, 5.05, 0.15, 3.0]);
    let mut roles = vec![Role::Gallery; 6];
    roles.extend([Role::Query; 4]);
    let table = tag_accuracy(
        &["colour".to_string()],
        &[colour],
        &items,
        &roles,
        &vectors,
        1,
        Metric::Euclidean,
        3,
    )
    .unwrap();
    assert_eq!(table.len(), 1);
    let colour = &table[0];
    assert_eq!(colour.queries, 3);
    // q1 → 3 Reds ✓; q2 → Blue, Blue, then Red(0.2) at 4.85 vs Blue(10) at 4.95: 2/3 Blue ✓;
    // q3 → 3 Reds ✗.
    assert!((colour.accuracy - 2.0 / 3.0).abs() < 1e-12, "{colour:?}");
    // Gallery: 3 Red, 3 Blue → majority Blue (ties by value); q2 and q3 are Blue.
    assert_eq!(colour.majority, "Blue");
    assert!((colour.prior - 2.0 / 3.0).abs() < 1e-12);
}

#[test]
fn tag_accuracy_leaves_the_query_item_out() {
    // Every image is a query and gallery (Role::Both). Item a has two images at 0 and 0.1,
    // both "Skirt"; the nearest other item is b at 1.0 ("Dress"), then c at 2.0 ("Dress").
    // With its sibling excluded, a's images are tagged Dress (a miss) — no leak.
    let items = ["a", "a", "b", "c"];
    let kind = vec!["Skirt", "Skirt", "Dress", "Dress"];
    let vectors = line(&[0.0, 0.1, 1.0, 2.0]);
    let table = tag_accuracy(
        &["kind".to_string()],
        &[kind],
        &items,
        &[Role::Both; 4],
        &vectors,
        1,
        Metric::Euclidean,
        1,
    )
    .unwrap();
    // a0 → b ✗, a1 → b ✗, b → a1 (Skirt) ✗, c → b (Dress) ✓.
    assert!((table[0].accuracy - 0.25).abs() < 1e-12, "{:?}", table[0]);
}

#[test]
fn attention_protocol_measures_known_boxes_on_a_known_garment() {
    use image::{Rgb, RgbImage};
    use lookbook_eval::attention::{attention_stats, iou, photo_attention};
    use lookbook_imaging::GarmentMask;

    // A 100×100 photo: a black 60×60 garment (x, y in 20..80) on white: 3,600 garment pixels.
    let photo = RgbImage::from_fn(100, 100, |x, y| {
        if (20..80).contains(&x) && (20..80).contains(&y) {
            Rgb([0, 0, 0])
        } else {
            Rgb([255, 255, 255])
        }
    });
    let mask = GarmentMask::of(&photo).unwrap();
    assert_eq!(mask.area(), 3600);
    assert_eq!(iou([0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0]), 50.0 / 150.0);

    // Two upper quadrants of the garment: all garment, half of it covered, disjoint.
    let parts = photo_attention(
        Some(&mask),
        &[[20.0, 20.0, 50.0, 50.0], [50.0, 20.0, 80.0, 50.0]],
        100,
        100,
    );
    assert_eq!(parts.mostly_garment, Some(1.0));
    assert_eq!(parts.garment_share, Some(1.0));
    assert_eq!(parts.coverage, Some(0.5));
    assert_eq!(parts.pairwise_iou, Some(0.0));
    assert!((parts.box_area - 0.09).abs() < 1e-9);
    // Twice the same box in the corner: a quarter garment (400 of 1,600), collapsed.
    let corner = photo_attention(Some(&mask), &[[0.0, 0.0, 40.0, 40.0]; 2], 100, 100);
    assert_eq!(corner.mostly_garment, Some(0.0));
    assert_eq!(corner.garment_share, Some(0.25));
    assert!((corner.coverage.unwrap() - 400.0 / 3600.0).abs() < 1e-6);
    assert_eq!(corner.pairwise_iou, Some(1.0));
    // No mask (a textured photo): only the geometry, with boxes clipped to the photo.
    let unmasked = photo_attention(
        None,
        &[[-50.0, -50.0, 50.0, 50.0], [50.0, 50.0, 150.0, 150.0]],
        100,
        100,
    );
    assert_eq!(unmasked.coverage, None);
    assert_eq!(unmasked.pairwise_iou, Some(0.0));
    assert!((unmasked.box_area - 0.25).abs() < 1e-9);

    let stats = attention_stats(&[parts, corner, unmasked]);
    assert_eq!((stats.photos, stats.photos_with_mask), (3, 2));
    assert!((stats.mostly_garment - 0.5).abs() < 1e-9);
    assert!((stats.garment_share - 0.625).abs() < 1e-9);
    assert!((stats.coverage - (0.5 + 400.0 / 3600.0) / 2.0).abs() < 1e-6);
    assert!((stats.pairwise_iou - 1.0 / 3.0).abs() < 1e-9);
    assert!((stats.box_area - (0.09 + 0.16 + 0.25) / 3.0).abs() < 1e-9);
}

#[test]
fn product_code_among_all_adds_the_other_splits_as_distractors() {
    use lookbook_catalog::{Catalog, CatalogFormat, Entry, Split};
    use lookbook_eval::catalogue::{EmbeddedPhotos, TopK};
    // Test items a (0.0, 1.0) and b (5.0, 5.5); a training photo of item t at 0.4 sits between a's two.
    let entry = |item: &str, split| Entry {
        image: format!("{item}.jpg").into(),
        item_id: item.into(),
        values: Vec::new(),
        labels: Vec::new(),
        split,
    };
    let entries = vec![
        entry("a", Split::Test),
        entry("a", Split::Test),
        entry("b", Split::Test),
        entry("b", Split::Test),
        entry("t", Split::Train),
    ];
    let catalog = Catalog {
        root: "fixture".into(),
        format: CatalogFormat::Folder,
        columns: Vec::new(),
        entries,
        problems: Vec::new(),
        splits_from_source: false,
    };
    let refs: Vec<&Entry> = catalog.entries.iter().collect();
    let vectors = line(&[0.0, 1.0, 5.0, 5.5, 0.4]);
    let photos = EmbeddedPhotos {
        catalog: &catalog,
        entries: &refs,
        vectors: &vectors,
        dim: 1,
        metric: Metric::Euclidean,
    };
    // Within the test split (the training photo left out by the caller): every query's partner is nearest.
    let split_only = EmbeddedPhotos {
        entries: &refs[..4],
        vectors: &vectors[..4],
        ..photos
    };
    let table = split_only.top_k(TopK::ProductCode, &[1, 2], 0, None).unwrap();
    assert_eq!(
        (table.queries, table.gallery, table.values.clone()),
        (4, 4, vec![1.0, 1.0])
    );
    // Among all: t is no query, but a's photos both see it first (0.4 from 0.0; 0.6 from 1.0).
    let table = photos
        .top_k(TopK::ProductCodeAmongAll(&[Split::Test]), &[1, 2], 0, None)
        .unwrap();
    assert_eq!((table.queries, table.gallery), (4, 5));
    assert_eq!(table.values, vec![0.5, 1.0]);
}

#[test]
fn expansion_moves_each_vector_to_the_mean_of_its_neighbourhood() {
    // 2-d: a0 (1, 0) and a1 (0.8, 0.6) are one product; b (0, 1) is another; q is a query (0.6, 0.8)
    // that only the gallery (not other queries) may expand.
    let vectors = [1.0, 0.0, 0.8, 0.6, 0.0, 1.0, 0.6, 0.8];
    let roles = [Role::Both, Role::Both, Role::Both, Role::Query];
    let same = expand_by_neighbours(&roles, &vectors, 2, Metric::Euclidean, 0).unwrap();
    assert_eq!(same, vectors.to_vec());
    let expanded = expand_by_neighbours(&roles, &vectors, 2, Metric::Euclidean, 1).unwrap();
    let unit = |x: f32, y: f32| {
        let n = (x * x + y * y).sqrt();
        [x / n, y / n]
    };
    // a0's nearest is a1; a1's nearest is a0 (0.632 against b at 0.894); b's nearest is a1; q's is a1.
    let expected = [unit(1.8, 0.6), unit(1.8, 0.6), unit(0.8, 1.6), unit(1.4, 1.4)].concat();
    for (got, want) in expanded.iter().zip(&expected) {
        assert!((got - want).abs() < 1e-6, "{expanded:?} vs {expected:?}");
    }
}

/// q and p are one garment; x1, x2, x3 a tight cluster of another. x1 is q's nearest, but q is
/// not among x1's nearest (its own cluster is), while q and p are each other's.
const RERANK_ROWS: [f32; 10] = [0.0, 0.0, 0.0, -1.2, 1.0, 0.0, 1.3, 0.0, 1.3, 0.2];
const RERANK_ITEMS: [&str; 5] = ["b", "b", "a", "a", "a"];

#[test]
fn k_reciprocal_reranking_moves_the_mutual_neighbour_above_the_crowded_distractor() {
    let roles = [Role::Both; 5];
    let plain = top_k_accuracy(&RERANK_ITEMS, &roles, &RERANK_ROWS, 2, Metric::Euclidean, &[1]).unwrap();
    // q → x1 (1.0) before p (1.2): a miss at 1; every other row's nearest is its own item's.
    assert_eq!(plain.values, vec![0.8]);
    let settings: KReciprocal = "2,1,0.3".parse().unwrap();
    let found = k_reciprocal_neighbours(&roles, &RERANK_ROWS, 2, Metric::Euclidean, settings, 4);
    let (row, hits) = &found[0];
    assert_eq!(*row, 0);
    assert_eq!(hits.iter().map(|h| h.key).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    // Worked by hand: squared distances over q's largest (1.3² + 0.2² = 1.729); q's
    // reciprocal set {q, p} weighs exp(0) and exp(−1.44/1.729), p's {p, q} exp(0) and
    // exp(−1.44/3.65) (p's largest: to x3); Σ min = 0.403 + 0.303, Jaccard 0.454;
    // 0.7 · 0.454 + 0.3 · 0.833 = 0.568 for p, 0.7 · 1 + 0.3 · 0.578 = 0.873 for x1.
    assert!((hits[0].distance - 0.568).abs() < 2e-3, "{hits:?}");
    assert!((hits[1].distance - 0.873).abs() < 2e-3, "{hits:?}");
    let reranked = top_k_accuracy_of(&RERANK_ITEMS, &roles, &found, &[1]);
    assert_eq!(reranked.values, vec![1.0]);
}

#[test]
fn k_reciprocal_reranking_with_lambda_one_is_the_plain_ranking_and_never_returns_queries() {
    let roles = [Role::Query, Role::Gallery, Role::Both, Role::Gallery, Role::Both];
    let settings = KReciprocal {
        k1: 3,
        k2: 2,
        lambda: 1.0,
    };
    let found = k_reciprocal_neighbours(&roles, &RERANK_ROWS, 2, Metric::Euclidean, settings, 5);
    let rows: Vec<usize> = found.iter().map(|(row, _)| *row).collect();
    assert_eq!(rows, vec![0, 2, 4], "gallery-only rows ask nothing");
    let point = |r: u64| (RERANK_ROWS[r as usize * 2], RERANK_ROWS[r as usize * 2 + 1]);
    for (row, hits) in &found {
        let keys: Vec<u64> = hits.iter().map(|h| h.key).collect();
        assert!(!keys.contains(&0) && !keys.contains(&(*row as u64)), "{row}: {keys:?}");
        // Ordered as plain Euclidean distance from the query.
        let (qx, qy) = point(*row as u64);
        let plain: Vec<f32> = keys.iter().map(|&k| (point(k).0 - qx).hypot(point(k).1 - qy)).collect();
        assert!(plain.windows(2).all(|w| w[0] <= w[1]), "{row}: {plain:?}");
    }
}

#[test]
fn k_reciprocal_settings_parse_and_refuse_with_reasons() {
    let s: KReciprocal = "20, 6, 0.3".parse().unwrap();
    assert_eq!((s.k1, s.k2, s.lambda), (20, 6, 0.3));
    assert_eq!(s.to_string(), "20,6,0.3");
    for (text, why) in [
        ("20,6", "K1,K2,LAMBDA"),
        ("0,1,0.3", "K1 must be"),
        ("5,9,0.3", "at most K1 + 1"),
        ("5,2,1.5", "LAMBDA must be"),
    ] {
        let err = text.parse::<KReciprocal>().unwrap_err();
        assert!(err.contains(why), "{text}: {err}");
    }
}
