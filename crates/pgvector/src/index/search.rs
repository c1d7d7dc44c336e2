//! Nearest-neighbour queries in SQL: by the whole picture (`embedding`, its HNSW index) or by
//! one part (the part's slice of `parts`, its expression index), with a record predicate as
//! the WHERE clause.

use std::sync::atomic::Ordering;

use lookbook_index::{Hit, Predicate, StoredRow};
use pgvector::Vector;

use super::{MAX_EF, PgIndex, ROW_COLUMNS, sql};
use crate::PgError;
use crate::{pool, schema};

/// What a query orders by.
#[derive(Debug, Clone, Copy)]
pub(super) enum Ordered {
    Whole,
    Part(usize),
}

impl PgIndex {
    /// One query's `limit` nearest rows matching `predicate` (the SQL's WHERE), closest first.
    pub(super) fn query(
        &self,
        by: Ordered,
        query: &[f32],
        limit: usize,
        predicate: &Predicate,
        exact: bool,
    ) -> Result<Vec<Hit>, PgError> {
        Ok(self
            .select_nearest(by, query, limit, predicate, exact, "key")?
            .iter()
            .filter_map(hit)
            .collect())
    }

    /// [`PgIndex::query`] with each hit's row, in the same statement.
    pub(super) fn query_rows(
        &self,
        by: Ordered,
        query: &[f32],
        limit: usize,
        predicate: &Predicate,
        exact: bool,
    ) -> Result<Vec<(Hit, StoredRow)>, PgError> {
        self.select_nearest(by, query, limit, predicate, exact, ROW_COLUMNS)?
            .iter()
            .filter_map(|row| hit(row).map(|hit| Ok((hit, self.stored_row(row)?))))
            .collect()
    }

    /// The statement behind both: `columns`, then the distance, of the nearest rows.
    fn select_nearest(
        &self,
        by: Ordered,
        query: &[f32],
        limit: usize,
        predicate: &Predicate,
        exact: bool,
        columns: &str,
    ) -> Result<Vec<postgres::Row>, PgError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let table = &self.location.table;
        let (_, op) = schema::operators(self.info.metric);
        let column = match by {
            Ordered::Whole => "embedding".to_string(),
            Ordered::Part(part) => schema::part_vector(&self.info, part),
        };
        let failed = sql(&self.location, &format!("searching `{table}`"));
        let ef = self.ef_search.load(Ordering::Relaxed).max(limit.min(MAX_EF));
        let vector = Vector::from(query.to_vec());
        let limit = limit as i64;
        let rows = if predicate.is_empty() {
            let statement =
                format!("SELECT {columns}, ({column} {op} $1)::real FROM {table} ORDER BY {column} {op} $1 LIMIT $2");
            pool::read(&self.pool, &self.location.shown, failed, |conn| {
                conn.settings(ef, exact)?;
                let statement = conn.prepare(&statement)?;
                conn.client.query(&statement, &[&vector, &limit])
            })?
        } else {
            let Some(wanted) = wanted_attributes(predicate) else {
                return Ok(Vec::new());
            };
            let statement = format!(
                "SELECT {columns}, ({column} {op} $1)::real FROM {table}
                 WHERE attributes @> $3 AND ($4::text IS NULL OR item_id <> $4)
                 ORDER BY {column} {op} $1 LIMIT $2"
            );
            pool::read(&self.pool, &self.location.shown, failed, |conn| {
                conn.settings(ef, exact)?;
                let statement = conn.prepare(&statement)?;
                conn.client
                    .query(&statement, &[&vector, &limit, &wanted, &predicate.exclude_item])
            })?
        };
        Ok(rows)
    }

    /// `k` nearest among the keys `accept` passes: asks for more rows until k pass or the
    /// table is exhausted; when the HNSW scan stops short (pgvector's scan cap), asks
    /// again by sequential scan.
    pub(super) fn search_accepting(
        &self,
        query: &[f32],
        k: usize,
        accept: &(dyn Fn(u64) -> bool + Sync),
    ) -> Result<Vec<Hit>, PgError> {
        let total = self.rows.load(Ordering::Relaxed).max(1);
        let exact = self.exact.load(Ordering::Relaxed);
        let mut limit = (k * 4).max(40);
        let mut exact_now = exact;
        loop {
            let rows = self.query(Ordered::Whole, query, limit, &Predicate::default(), exact_now)?;
            let short = rows.len() < limit;
            let passed: Vec<Hit> = rows.into_iter().filter(|h| accept(h.key)).take(k).collect();
            if passed.len() >= k || (short && exact_now) || limit >= total.saturating_mul(2) {
                return Ok(passed);
            }
            if short && !exact_now {
                exact_now = true;
                continue;
            }
            limit = limit.saturating_mul(4);
        }
    }
}

/// A hit from a row whose first column is the key and last the distance; none when the
/// distance is NULL (a row without part vectors, in a part search: never a neighbour).
fn hit(row: &postgres::Row) -> Option<Hit> {
    Some(Hit {
        key: row.try_get::<_, i64>(0).ok()? as u64,
        distance: row.try_get::<_, Option<f32>>(row.len() - 1).ok()??,
    })
}

/// The predicate's attribute values as the JSON object `attributes @>` tests; `None` when one
/// column is asked to hold two values (nothing matches).
pub(super) fn wanted_attributes(predicate: &Predicate) -> Option<serde_json::Value> {
    let mut wanted = serde_json::Map::new();
    for (column, value) in &predicate.attributes {
        match wanted.insert(column.clone(), value.clone().into()) {
            Some(previous) if previous != *value => return None,
            _ => {}
        }
    }
    Some(serde_json::Value::Object(wanted))
}
