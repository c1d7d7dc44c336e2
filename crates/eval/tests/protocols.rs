//! Each protocol on hand-built cases whose answers are worked out by hand.

use lookbook_eval::{Role, precision_at_k, top_k_accuracy};
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
