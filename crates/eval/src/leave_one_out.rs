//! Leave-one-out over an index as it is searched: every row is a query against all the
//! others, answered by the index's own search (its HNSW graph, IVF lists or database).

use lookbook_index::{Hit, IndexContents, IndexError, SearchMode};

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
