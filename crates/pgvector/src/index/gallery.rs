//! [`PgIndex`] as a [`Gallery`]: every read a query, a recommendation or the web page makes
//! is one SQL statement, so a server on a table holds none of its rows (issue 22) and sees
//! another process's rows by its next query.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;

use lookbook_index::{
    Gallery, Hit, IndexError, IndexInfo, ItemsPage, Predicate, Record, SearchMode, StoredRow, ValueCounts,
    most_frequent,
};
use pgvector::Vector;

use super::search::{Ordered, wanted_attributes};
use super::{PgIndex, ROW_COLUMNS, sql};
use crate::PgError;
use crate::pool;

/// A row's `attributes` (jsonb) as a record's.
pub(super) fn attributes_from(
    table: &str,
    key: u64,
    value: serde_json::Value,
) -> Result<BTreeMap<String, String>, PgError> {
    serde_json::from_value(value).map_err(|e| PgError::Invalid(format!("`{table}` key {key}: attributes: {e}")))
}

/// A row's `boxes` (jsonb, NULL before schema 2) as a record's.
pub(super) fn boxes_from(
    table: &str,
    key: u64,
    value: Option<serde_json::Value>,
) -> Result<Option<lookbook_index::StepBoxes>, PgError> {
    value
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| PgError::Invalid(format!("`{table}` key {key}: boxes: {e}")))
}

impl PgIndex {
    /// Runs `sql` with `params` on a pooled connection (prepared once per connection; again
    /// on another when the server had closed it).
    fn select(
        &self,
        what: &str,
        statement: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>, PgError> {
        pool::read(&self.pool, &self.location.shown, sql(&self.location, what), |conn| {
            let statement = conn.prepare(statement)?;
            conn.client.query(&statement, params)
        })
    }

    /// Column `i` of `row`: a value of another type or a NULL where lookbook writes none (a
    /// table changed by hand) is an error naming the table, not a panic.
    fn cell<'a, T: postgres::types::FromSql<'a>>(&self, row: &'a postgres::Row, i: usize) -> Result<T, PgError> {
        row.try_get(i).map_err(|e| {
            PgError::Invalid(format!(
                "`{}`, column {}: {e}",
                self.location.table,
                row.columns()[i].name()
            ))
        })
    }

    /// A record from a row whose first five columns are key, item_id, image, attributes, boxes.
    fn record_of(&self, row: &postgres::Row) -> Result<Record, PgError> {
        let table = &self.location.table;
        let key = self.cell::<i64>(row, 0)? as u64;
        Ok(Record {
            key,
            item_id: self.cell(row, 1)?,
            image: self.cell::<&str>(row, 2)?.into(),
            attributes: attributes_from(table, key, self.cell(row, 3)?)?,
            boxes: boxes_from(table, key, self.cell(row, 4)?)?,
        })
    }

    fn stored_rows(&self, keys: &[u64]) -> Result<Vec<Option<StoredRow>>, PgError> {
        let table = &self.location.table;
        let wanted: Vec<i64> = keys.iter().map(|&k| k as i64).collect();
        let rows = self.select(
            &format!("reading {} rows of `{table}`", keys.len()),
            &format!("SELECT {ROW_COLUMNS} FROM {table} WHERE key = ANY($1)"),
            &[&wanted],
        )?;
        let mut found = HashMap::with_capacity(rows.len());
        for row in &rows {
            let stored = self.stored_row(row)?;
            found.insert(stored.record.key, stored);
        }
        Ok(keys.iter().map(|key| found.get(key).cloned()).collect())
    }

    /// A row whose first seven columns are [`ROW_COLUMNS`].
    pub(super) fn stored_row(&self, row: &postgres::Row) -> Result<StoredRow, PgError> {
        let record = self.record_of(row)?;
        let part_len = self.info.parts * self.info.part_dim;
        let vector: Vector = self.cell(row, 5)?;
        let parts: Option<Vec<f32>> = self.cell(row, 6)?;
        let parts = parts.unwrap_or_default();
        if parts.len() != part_len {
            return Err(PgError::Invalid(format!(
                "`{}` key {}: {} part values, expected {part_len}",
                self.location.table,
                record.key,
                parts.len()
            )));
        }
        Ok(StoredRow {
            record,
            vector: vector.to_vec(),
            parts,
        })
    }

    fn first_images(&self, offset: usize, limit: usize, attributes: &[(String, String)]) -> Result<ItemsPage, PgError> {
        let table = &self.location.table;
        let predicate = Predicate {
            attributes: attributes.to_vec(),
            exclude_item: None,
        };
        let Some(wanted) = wanted_attributes(&predicate) else {
            return Ok(ItemsPage {
                total: 0,
                first_images: Vec::new(),
            });
        };
        let what = format!("listing the items of `{table}`");
        if attributes.is_empty() {
            // Unfiltered (the page's first view): walk the position index, keeping the rows no
            // earlier row of their item precedes — a page costs its offset, not the table.
            let rows = self.select(
                &what,
                &format!(
                    "SELECT key, item_id, image, attributes, NULL::jsonb FROM {table} t
                     WHERE NOT EXISTS (SELECT 1 FROM {table} o
                                       WHERE o.item_id = t.item_id AND (o.position, o.key) < (t.position, t.key))
                     ORDER BY position, key OFFSET $1 LIMIT $2"
                ),
                &[&(offset as i64), &(limit as i64)],
            )?;
            return Ok(ItemsPage {
                total: self.items()?,
                first_images: rows.iter().map(|row| self.record_of(row)).collect::<Result<_, _>>()?,
            });
        }
        // Each item's first image (lowest position), then the page of those that match.
        let firsts = format!(
            "SELECT DISTINCT ON (item_id) key, item_id, image, attributes, position FROM {table}
             ORDER BY item_id, position, key"
        );
        let rows = self.select(
            &what,
            &format!(
                "SELECT key, item_id, image, attributes, NULL::jsonb, count(*) OVER () FROM ({firsts}) firsts
                 WHERE attributes @> $1 ORDER BY position, key OFFSET $2 LIMIT $3"
            ),
            &[&wanted, &(offset as i64), &(limit as i64)],
        )?;
        let total = match rows.first() {
            Some(row) => self.cell::<i64>(row, 5)? as usize,
            // Past the end (or nothing matches): the count alone.
            None => self.select(
                &what,
                &format!("SELECT count(*) FROM ({firsts}) firsts WHERE attributes @> $1"),
                &[&wanted],
            )?[0]
                .get::<_, i64>(0) as usize,
        };
        Ok(ItemsPage {
            total,
            first_images: rows.iter().map(|row| self.record_of(row)).collect::<Result<_, _>>()?,
        })
    }

    /// Distinct items: counted once (a scan of the item index), kept until this handle writes.
    fn items(&self) -> Result<usize, PgError> {
        if let Some(items) = *self.items.lock().expect("not poisoned") {
            return Ok(items);
        }
        let table = &self.location.table;
        let rows = self.select(
            &format!("counting the items of `{table}`"),
            &format!("SELECT count(DISTINCT item_id) FROM {table}"),
            &[],
        )?;
        let items = rows[0].get::<_, i64>(0) as usize;
        *self.items.lock().expect("not poisoned") = Some(items);
        Ok(items)
    }

    fn counted_values(&self, values: usize) -> Result<Vec<ValueCounts>, PgError> {
        let table = &self.location.table;
        // Ties by value in byte order (COLLATE "C"), as an index folder orders them.
        let rows = self.select(
            &format!("counting the attribute values of `{table}`"),
            &format!(
                "SELECT col, value, n, distinct_values FROM (
                     SELECT col, value, n, count(*) OVER (PARTITION BY col) AS distinct_values,
                            row_number() OVER (PARTITION BY col ORDER BY n DESC, value COLLATE \"C\") AS rank
                     FROM (SELECT a.key AS col, a.value, count(*) AS n
                           FROM {table} CROSS JOIN LATERAL jsonb_each_text(attributes) a GROUP BY 1, 2) c) r
                 WHERE rank <= $1 ORDER BY col, rank"
            ),
            &[&(values as i64)],
        )?;
        let mut by_column: HashMap<String, (usize, Vec<(String, usize)>)> = HashMap::new();
        for row in &rows {
            let entry = by_column.entry(self.cell(row, 0)?).or_default();
            entry.0 = self.cell::<i64>(row, 3)? as usize;
            entry.1.push((self.cell(row, 1)?, self.cell::<i64>(row, 2)? as usize));
        }
        Ok(self
            .info
            .columns
            .iter()
            .filter_map(|column| {
                let (distinct, counts) = by_column.remove(column)?;
                Some(most_frequent(column, distinct, counts, values))
            })
            .collect())
    }
}

impl Gallery for PgIndex {
    fn info(&self) -> &IndexInfo {
        &self.info
    }

    fn image_count(&self) -> usize {
        self.rows.load(Ordering::Relaxed)
    }

    fn item_count(&self) -> Result<usize, IndexError> {
        Ok(self.items()?)
    }

    fn rows(&self, keys: &[u64]) -> Result<Vec<Option<StoredRow>>, IndexError> {
        Ok(self.stored_rows(keys)?)
    }

    fn any_record(&self) -> Result<Option<Record>, IndexError> {
        let table = &self.location.table;
        let rows = self.select(
            &format!("reading a row of `{table}`"),
            &format!("SELECT key, item_id, image, attributes, boxes FROM {table} LIMIT 1"),
            &[],
        )?;
        Ok(rows.first().map(|row| self.record_of(row)).transpose()?)
    }

    fn item_keys(&self, item_id: &str) -> Result<Vec<u64>, IndexError> {
        let table = &self.location.table;
        let rows = self.select(
            &format!("looking up an item of `{table}`"),
            &format!("SELECT key FROM {table} WHERE item_id = $1 ORDER BY position, key"),
            &[&item_id],
        )?;
        Ok(rows.iter().map(|row| row.get::<_, i64>(0) as u64).collect())
    }

    fn items_page(
        &self,
        offset: usize,
        limit: usize,
        attributes: &[(String, String)],
    ) -> Result<ItemsPage, IndexError> {
        Ok(self.first_images(offset, limit, attributes)?)
    }

    fn value_counts(&self, values: usize) -> Result<Vec<ValueCounts>, IndexError> {
        Ok(self.counted_values(values)?)
    }

    fn search(&self, query: &[f32], k: usize, predicate: &Predicate, mode: SearchMode) -> Result<Vec<Hit>, IndexError> {
        let exact = self.whole_search(query, mode)?;
        Ok(self.query(Ordered::Whole, query, k, predicate, exact)?)
    }

    fn search_rows(
        &self,
        query: &[f32],
        k: usize,
        predicate: &Predicate,
        mode: SearchMode,
    ) -> Result<Vec<(Hit, StoredRow)>, IndexError> {
        let exact = self.whole_search(query, mode)?;
        Ok(self.query_rows(Ordered::Whole, query, k, predicate, exact)?)
    }

    fn search_part_rows(
        &self,
        part: usize,
        query: &[f32],
        k: usize,
        predicate: &Predicate,
    ) -> Result<Vec<(Hit, StoredRow)>, IndexError> {
        self.check_part(part, query)?;
        let exact = self.exact.load(Ordering::Relaxed);
        Ok(self.query_rows(Ordered::Part(part), query, k, predicate, exact)?)
    }

    fn first_row(&self, item_id: &str) -> Result<Option<StoredRow>, IndexError> {
        let table = &self.location.table;
        let rows = self.select(
            &format!("looking up an item of `{table}`"),
            &format!("SELECT {ROW_COLUMNS} FROM {table} WHERE item_id = $1 ORDER BY position, key LIMIT 1"),
            &[&item_id],
        )?;
        Ok(rows.first().map(|row| self.stored_row(row)).transpose()?)
    }

    fn search_part(&self, part: usize, query: &[f32], k: usize, predicate: &Predicate) -> Result<Vec<Hit>, IndexError> {
        self.check_part(part, query)?;
        let exact = self.exact.load(Ordering::Relaxed);
        Ok(self.query(Ordered::Part(part), query, k, predicate, exact)?)
    }
}

impl PgIndex {
    /// Whether a search by the whole picture with `query` scans exactly (its length checked).
    fn whole_search(&self, query: &[f32], mode: SearchMode) -> Result<bool, IndexError> {
        check_len(query, self.info.dim)?;
        Ok(mode == SearchMode::Exact || self.exact.load(Ordering::Relaxed))
    }

    fn check_part(&self, part: usize, query: &[f32]) -> Result<(), IndexError> {
        if part >= self.info.parts {
            return Err(IndexError::Dimension {
                expected: self.info.part_dim,
                got: 0,
            });
        }
        check_len(query, self.info.part_dim)
    }
}

fn check_len(query: &[f32], expected: usize) -> Result<(), IndexError> {
    match query.len() == expected {
        true => Ok(()),
        false => Err(IndexError::Dimension {
            expected,
            got: query.len(),
        }),
    }
}
