//! The recommendation protocol: every image of a set asks for k results from the rest of
//! the set (its own item left out), by plain kNN and by `lookbook_recommend::recommend` at
//! λ = 0, ¼, ½, ¾ and 1; each list's [`ListStats`], averaged over the queries.

use std::collections::BTreeMap;
use std::path::PathBuf;

use lookbook_index::{IndexContents, IndexError, IndexInfo, Metric, Predicate, Record, SearchMode};
use lookbook_recommend::{ListStats, Query, RecommendConfig, RowLabels, list_stats, recommend};
use serde::Serialize;

/// The λ a trade-off is measured at.
pub const LAMBDAS: [f32; 5] = [0.0, 0.25, 0.5, 0.75, 1.0];

/// The images of a recommendation evaluation: vectors and part vectors in row order, and
/// how each row is described.
pub struct LabelledRows<'a> {
    pub item_ids: &'a [&'a str],
    /// The measured attribute's value of each row (`None`: empty).
    pub values: &'a [Option<&'a str>],
    /// Its group's value (a coarser attribute).
    pub groups: &'a [Option<&'a str>],
    pub vectors: &'a [f32],
    /// `rows × parts × part_dim`.
    pub parts: &'a [f32],
    pub dim: usize,
    pub part_shape: (usize, usize),
    /// The last part is the label scores (`IndexInfo::label_part`).
    pub label_part: bool,
    pub metric: Metric,
}

/// One method's mean list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecommendRow {
    /// `knn`, or `recommend λ=…`.
    pub method: String,
    pub diversity_lambda: Option<f32>,
    #[serde(flatten)]
    pub stats: ListStats,
    /// Mean distance to the query relative to kNN's (1 = as close).
    pub relevance_vs_knn: f64,
}

/// kNN, then each λ of [`LAMBDAS`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TradeOff {
    pub queries: usize,
    pub rows: Vec<RecommendRow>,
}

/// The rows as an exact in-memory index (key = row).
fn index_of(rows: &LabelledRows) -> Result<IndexContents, IndexError> {
    let (parts, part_dim) = rows.part_shape;
    let part_len = parts * part_dim;
    let n = rows.item_ids.len();
    if rows.vectors.len() != n * rows.dim || rows.parts.len() != n * part_len {
        return Err(IndexError::Invalid(format!(
            "{} vector floats and {} part floats for {n} images of {} and {parts} × {part_dim}",
            rows.vectors.len(),
            rows.parts.len(),
            rows.dim
        )));
    }
    let mut contents = IndexContents::new(IndexInfo {
        dim: rows.dim,
        metric: rows.metric,
        parts,
        part_dim,
        label_part: rows.label_part,
        model: String::new(),
        catalog_root: PathBuf::new(),
        columns: Vec::new(),
        ann: None,
        ivf: None,
    });
    for row in 0..n {
        let record = Record {
            key: row as u64,
            item_id: rows.item_ids[row].to_string(),
            image: PathBuf::from(row.to_string()),
            attributes: BTreeMap::new(),
            boxes: None,
        };
        contents.upsert(
            record,
            &rows.vectors[row * rows.dim..][..rows.dim],
            &rows.parts[row * part_len..][..part_len],
        )?;
    }
    Ok(contents)
}

/// kNN and recommendations at each λ of [`LAMBDAS`] for every row with another item in the
/// set; `config` holds k and the reach (its λ is each of [`LAMBDAS`] in turn).
pub fn recommend_trade_off(rows: &LabelledRows, config: &RecommendConfig) -> Result<TradeOff, IndexError> {
    let contents = index_of(rows)?;
    let value_of = |row: usize| rows.values[row].map(str::to_string);
    let group_of = |row: usize| rows.groups[row].map(str::to_string);
    let item_of = |row: usize| rows.item_ids[row].to_string();
    let labels = RowLabels {
        value_of: &value_of,
        group_of: &group_of,
        item_of: &item_of,
    };
    let mut sums = vec![ListStats::default(); LAMBDAS.len() + 1];
    let mut queries = 0usize;
    for row in 0..rows.item_ids.len() {
        let vector = contents.vector_of(row);
        let item = rows.item_ids[row];
        let other_item = |key: u64| rows.item_ids[key as usize] != item;
        let knn: Vec<usize> = contents
            .search(vector, config.k, Some(&other_item), SearchMode::Exact)?
            .iter()
            .map(|h| h.key as usize)
            .collect();
        if knn.is_empty() {
            continue;
        }
        queries += 1;
        let mut lists = vec![knn];
        for &diversity in &LAMBDAS {
            let query = Query {
                vector,
                parts: contents.parts_of(row),
                item_id: Some(item),
            };
            let config = RecommendConfig { diversity, ..*config };
            lists.push(
                recommend(&contents, &query, &config, &Predicate::default())?
                    .iter()
                    .filter_map(|r| contents.row_of(r.key))
                    .collect(),
            );
        }
        for (sum, list) in sums.iter_mut().zip(&lists) {
            *sum += list_stats(&contents, vector, (rows.values[row], rows.groups[row]), list, &labels);
        }
    }
    let knn_relevance = sums[0].mean_of(queries).relevance_distance;
    let table = sums
        .iter()
        .enumerate()
        .map(|(i, sum)| {
            let stats = sum.mean_of(queries);
            RecommendRow {
                method: match i {
                    0 => "knn".into(),
                    i => format!("recommend λ={}", LAMBDAS[i - 1]),
                },
                diversity_lambda: i.checked_sub(1).map(|j| LAMBDAS[j]),
                relevance_vs_knn: stats.relevance_distance / knn_relevance.max(f64::MIN_POSITIVE),
                stats,
            }
        })
        .collect();
    Ok(TradeOff { queries, rows: table })
}
