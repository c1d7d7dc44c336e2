//! How a list of recommendations looks from its query — relevance, diversity, distinct values
//! and items, staying on topic — for `eval --protocol recommend`.

use lookbook_index::IndexContents;
use serde::Serialize;

/// How one list of results looks from its query (for `eval --protocol recommend`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ListStats {
    /// Mean distance from the query to each result (lower = more relevant).
    pub relevance_distance: f64,
    /// Mean distance between two results (higher = more varied).
    pub diversity: f64,
    /// Distinct values of the measured attribute among the results.
    pub distinct_values: f64,
    /// Distinct item ids among the results.
    pub distinct_items: f64,
    /// Share of results with the query's value of the attribute.
    pub same_value: f64,
    /// Share of results in the query's group (a coarser attribute: H&M's
    /// product_group_name, Myntra's subCategory): does a varied list stay on topic?
    pub same_group: f64,
}

impl std::ops::AddAssign for ListStats {
    fn add_assign(&mut self, other: ListStats) {
        self.relevance_distance += other.relevance_distance;
        self.diversity += other.diversity;
        self.distinct_values += other.distinct_values;
        self.distinct_items += other.distinct_items;
        self.same_value += other.same_value;
        self.same_group += other.same_group;
    }
}

impl ListStats {
    /// Every field divided by `n` (a sum of `n` lists → their mean).
    pub fn mean_of(self, n: usize) -> ListStats {
        let n = n.max(1) as f64;
        ListStats {
            relevance_distance: self.relevance_distance / n,
            diversity: self.diversity / n,
            distinct_values: self.distinct_values / n,
            distinct_items: self.distinct_items / n,
            same_value: self.same_value / n,
            same_group: self.same_group / n,
        }
    }
}

/// How a row is described for [`list_stats`]: its attribute value, its group, its item.
pub struct RowLabels<'a> {
    pub value_of: &'a dyn Fn(usize) -> Option<String>,
    pub group_of: &'a dyn Fn(usize) -> Option<String>,
    pub item_of: &'a dyn Fn(usize) -> String,
}

/// [`ListStats`] of `rows` for a query with vector `query`, attribute value `value` and
/// group `group`; `labels` describes each row.
pub fn list_stats(
    contents: &IndexContents,
    query: &[f32],
    (value, group): (Option<&str>, Option<&str>),
    rows: &[usize],
    labels: &RowLabels,
) -> ListStats {
    let RowLabels {
        value_of,
        group_of,
        item_of,
    } = labels;
    if rows.is_empty() {
        return ListStats::default();
    }
    let metric = contents.info.metric;
    let n = rows.len() as f64;
    let relevance = rows
        .iter()
        .map(|&r| metric.distance(query, contents.vector_of(r)) as f64)
        .sum::<f64>()
        / n;
    let mut pairs = 0usize;
    let mut pairwise = 0.0f64;
    for (i, &a) in rows.iter().enumerate() {
        for &b in &rows[i + 1..] {
            pairwise += metric.distance(contents.vector_of(a), contents.vector_of(b)) as f64;
            pairs += 1;
        }
    }
    let values: Vec<Option<String>> = rows.iter().map(|&r| value_of(r)).collect();
    let mut distinct: Vec<&String> = values.iter().flatten().collect();
    distinct.sort_unstable();
    distinct.dedup();
    let mut items: Vec<String> = rows.iter().map(|&r| item_of(r)).collect();
    items.sort_unstable();
    items.dedup();
    let same = values.iter().filter(|v| v.is_some() && v.as_deref() == value).count();
    let same_group = rows
        .iter()
        .filter(|&&r| group.is_some() && group_of(r).as_deref() == group)
        .count();
    ListStats {
        relevance_distance: relevance,
        diversity: if pairs > 0 { pairwise / pairs as f64 } else { 0.0 },
        distinct_values: distinct.len() as f64,
        distinct_items: items.len() as f64,
        same_value: same as f64 / n,
        same_group: same_group as f64 / n,
    }
}
