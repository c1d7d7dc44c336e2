//! Leave-one-out over an index as it is searched: every row is a query against all the
//! others, answered by the index's own search (its HNSW graph, IVF lists or database).

use lookbook_index::{Hit, IndexContents, IndexError, Record, SearchMode};

use crate::catalogue::{EvalError, TopK};
use crate::{Role, TopKTable, precision_at_k_of, top_k_accuracy_of};

/// Queries per batched search.
const BATCH: usize = 1024;

/// Each row's `k` nearest other rows (`Hit::key` = row), closest first: the index asked for
/// k + 1 and the row itself dropped — the input of [`crate::top_k_accuracy_of`] and
/// [`crate::precision_at_k_of`].
pub fn index_neighbours(contents: &IndexContents, k: usize) -> Result<Vec<(usize, Vec<Hit>)>, IndexError> {
    let (n, dim) = (contents.records.len(), contents.info.dim);
    let mut found = Vec::with_capacity(n);
    for first in (0..n).step_by(BATCH) {
        let rows = first..(first + BATCH).min(n);
        let queries = &contents.vectors[rows.start * dim..rows.end * dim];
        let answers = contents.search_batch(queries, k + 1, None, SearchMode::Auto)?;
        for (row, hits) in rows.zip(answers) {
            let hits = hits
                .into_iter()
                .filter_map(|h| {
                    let other = contents.row_of(h.key).filter(|&r| r != row)?;
                    Some(Hit {
                        key: other as u64,
                        distance: h.distance,
                    })
                })
                .take(k)
                .collect();
            found.push((row, hits));
        }
    }
    Ok(found)
}

/// How the index answered: its external database, graph, lists, or exact search.
pub fn searched_by(contents: &IndexContents) -> String {
    match contents.external() {
        Some(external) => external.describe(),
        None => match (contents.graph(), contents.ivf()) {
            (Some(_), _) => "its HNSW graph".to_string(),
            (None, Some(_)) => "its IVF lists".to_string(),
            _ => "exact search".to_string(),
        },
    }
}

/// The table of `protocol` (product code or an attribute's precision; an index has no
/// query/gallery split) over an index as it searches, every row against the others.
pub fn index_top_k(contents: &IndexContents, protocol: TopK, ks: &[usize]) -> Result<TopKTable, EvalError> {
    let records: Vec<Record> = contents
        .records
        .iter()
        .map(|r| r.map(|r| r.into_owned()))
        .collect::<Result<_, _>>()?;
    if records.is_empty() {
        return Err(EvalError::Empty("the index is empty".into()));
    }
    let found = index_neighbours(contents, ks.iter().copied().max().unwrap_or(1))?;
    let roles = vec![Role::Both; records.len()];
    match protocol {
        TopK::ProductCode => {
            let items: Vec<&str> = records.iter().map(|r| r.item_id.as_str()).collect();
            Ok(top_k_accuracy_of(&items, &roles, &found, ks))
        }
        TopK::Category(attribute) => {
            if !contents.info.columns.iter().any(|c| c == attribute) {
                return Err(EvalError::NoColumn {
                    column: attribute.to_string(),
                    catalogue: "the index".into(),
                    columns: contents.info.columns.join(", "),
                });
            }
            let values: Vec<&str> = records
                .iter()
                .map(|r| r.attributes.get(attribute).map_or("", String::as_str))
                .collect();
            Ok(precision_at_k_of(&values, &roles, &found, ks))
        }
        TopK::Inshop | TopK::ProductCodeAmongAll(_) => Err(EvalError::Empty(
            "an index has no query/gallery split: evaluate product-code or category".into(),
        )),
    }
}
