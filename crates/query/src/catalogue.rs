//! The items of an index and the values of its attributes, read from every record once:
//! what browsing (the page's item list and filters) and item lookups need.

use std::collections::{BTreeMap, HashMap};

use lookbook_index::IndexContents;

use crate::answer::AttributeValues;
use crate::error::QueryError;

/// Values listed per attribute for the page's filters.
const FACET_VALUES: usize = 60;

/// Items and attribute values, read from every record once (for browsing and item lookups).
pub(crate) struct Catalogue {
    /// Item id → its rows, in row order; and the items in order of first appearance.
    pub(crate) items: HashMap<String, Vec<usize>>,
    pub(crate) item_order: Vec<String>,
    pub(crate) facets: Vec<AttributeValues>,
}

impl Catalogue {
    pub(crate) fn read(contents: &IndexContents) -> Result<Self, QueryError> {
        let mut items: HashMap<String, Vec<usize>> = HashMap::new();
        let mut item_order = Vec::new();
        let mut counts: BTreeMap<String, HashMap<String, usize>> = BTreeMap::new();
        for row in 0..contents.records.len() {
            let record = contents.records.get(row)?;
            let rows = items.entry(record.item_id.clone()).or_default();
            if rows.is_empty() {
                item_order.push(record.item_id.clone());
            }
            rows.push(row);
            for (column, value) in &record.attributes {
                *counts
                    .entry(column.clone())
                    .or_default()
                    .entry(value.clone())
                    .or_default() += 1;
            }
        }
        let facets = contents
            .info
            .columns
            .iter()
            .filter_map(|column| {
                let values = counts.remove(column)?;
                let distinct = values.len();
                let mut values: Vec<(String, usize)> = values.into_iter().collect();
                values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                values.truncate(FACET_VALUES);
                Some(AttributeValues {
                    attribute: column.clone(),
                    distinct,
                    values: values.into_iter().map(Into::into).collect(),
                })
            })
            .collect();
        Ok(Catalogue {
            items,
            item_order,
            facets,
        })
    }
}
