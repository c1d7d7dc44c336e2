//! [`PgIndex`]: one lookbook index as a PostgreSQL table.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use lookbook_index::{
    ExternalIndex, Hit, IndexContents, IndexError, IndexInfo, Metric, Predicate, Record, VectorIndex, check_vector,
};
use pgvector::Vector;
use postgres::binary_copy::BinaryCopyOutIter;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::Type;

mod gallery;
mod load;
mod remove;
mod search;
mod shards;

use search::Ordered;

use crate::error::reason;
use crate::pool::{self, Pool};
use crate::schema::{self, META};
use crate::{PgError, PgLocation};

/// pgvector's ceiling for `hnsw.ef_search`.
const MAX_EF: usize = 1000;

/// What a bulk load did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadStats {
    pub rows: usize,
    /// Seconds spent streaming rows by COPY.
    pub copy_seconds: f64,
    /// Seconds spent building the HNSW index (0 without one).
    pub index_seconds: f64,
    /// Seconds for the whole transaction, swap and commit included.
    pub total_seconds: f64,
}

/// An index kept in a PostgreSQL table (see the crate documentation for the layout).
pub struct PgIndex {
    pool: Pool,
    location: PgLocation,
    info: IndexInfo,
    /// Rows in the table as this handle last saw (others may write concurrently).
    rows: AtomicUsize,
    ef_search: AtomicUsize,
    /// Searches by sequential scan (exact) instead of the HNSW index.
    exact: AtomicBool,
    /// Distinct items, once counted (other processes' writes reach a server as a new handle:
    /// it reopens the table when `lookbook_indexes` changes); forgotten by this handle's writes.
    items: std::sync::Mutex<Option<usize>>,
}

impl std::fmt::Debug for PgIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgIndex")
            .field("location", &self.location.shown)
            .field("table", &self.location.table)
            .field("rows", &self.rows.load(Ordering::Relaxed))
            .finish()
    }
}

impl PgIndex {
    /// A new, empty index at `location` for vectors described by `info`, replacing any table
    /// of that name. Creates the pgvector extension and `lookbook_indexes` when missing.
    pub fn create(location: &PgLocation, info: IndexInfo) -> Result<PgIndex, PgError> {
        check_info(&info)?;
        let table = location.table.as_str();
        let pool = Self::in_schema_transaction(location, |tx| {
            let mut ddl = format!("DROP TABLE IF EXISTS {table}; {}", schema::create_table(table, &info));
            if let Some(hnsw) = schema::create_hnsw(table, &info) {
                ddl.push_str("; ");
                ddl.push_str(&hnsw);
            }
            tx.batch_execute(&ddl)
                .map_err(sql(location, &format!("creating table `{table}`")))?;
            schema::write_meta(tx, table, &info, 0).map_err(sql(location, "writing lookbook_indexes"))
        })?
        .0;
        Ok(PgIndex::new(pool, location.clone(), info, 0))
    }

    /// A pool for `location`, and `change` run in one transaction after the pgvector extension
    /// and `lookbook_indexes` are there (created when missing): how tables are made.
    fn in_schema_transaction<T>(
        location: &PgLocation,
        change: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T, PgError>,
    ) -> Result<(Pool, T), PgError> {
        let pool = pool::connect(&location.config, location.pool, &location.shown)?;
        let mut conn = get(&pool, location)?;
        let mut tx = conn
            .client
            .transaction()
            .map_err(sql(location, "starting a transaction"))?;
        schema::ensure_extension(&mut tx, &location.shown, true)?;
        schema::ensure_meta(&mut tx).map_err(sql(location, "creating lookbook_indexes"))?;
        let done = change(&mut tx)?;
        tx.commit().map_err(sql(location, "committing"))?;
        conn.forget_statements();
        drop(conn);
        Ok((pool, done))
    }

    /// The index at `location`: a clear error when the server cannot be reached, pgvector
    /// is missing or too old, there is no such index, or its schema is newer than ours.
    pub fn open(location: &PgLocation) -> Result<PgIndex, PgError> {
        let pool = pool::connect(&location.config, location.pool, &location.shown)?;
        let mut conn = get(&pool, location)?;
        let mut tx = conn
            .client
            .transaction()
            .map_err(sql(location, "starting a transaction"))?;
        match schema::ensure_extension(&mut tx, &location.shown, false) {
            // A database lookbook never wrote to holds no index, whatever its extensions.
            Err(PgError::Extension { .. })
                if !schema::meta_exists(&mut tx).map_err(sql(location, "looking for lookbook_indexes"))? =>
            {
                return Err(PgError::NoIndex {
                    location: location.shown.clone(),
                    table: location.table.clone(),
                });
            }
            other => other?,
        };
        let info = schema::read_meta(&mut tx, &location.shown, &location.table)?;
        let table = &location.table;
        let exists: bool = tx
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[table])
            .map_err(sql(location, "looking for the table"))?
            .get(0);
        if !exists {
            return Err(PgError::NoIndex {
                location: location.shown.clone(),
                table: table.clone(),
            });
        }
        // The count every write keeps in `lookbook_indexes` (counting the table would scan it).
        let rows: i64 = tx
            .query_one(&format!("SELECT rows FROM {META} WHERE name = $1"), &[table])
            .map_err(sql(location, &format!("reading the row count of `{table}`")))?
            .get(0);
        tx.commit().map_err(sql(location, "committing"))?;
        Ok(PgIndex::new(pool, location.clone(), info, rows as usize))
    }

    /// Whether `location` holds an index (false when the server has no such table; errors
    /// only when the server cannot be asked).
    pub fn exists(location: &PgLocation) -> Result<bool, PgError> {
        match PgIndex::open(location) {
            Ok(_) => Ok(true),
            Err(PgError::NoIndex { .. }) => Ok(false),
            Err(other) => Err(other),
        }
    }

    fn new(pool: Pool, location: PgLocation, info: IndexInfo, rows: usize) -> PgIndex {
        let ef = info.ann.map_or(64, |c| c.expansion_search).clamp(1, MAX_EF);
        PgIndex {
            pool,
            location,
            info,
            rows: AtomicUsize::new(rows),
            ef_search: AtomicUsize::new(ef),
            exact: AtomicBool::new(false),
            items: std::sync::Mutex::new(None),
        }
    }

    pub fn info(&self) -> &IndexInfo {
        &self.info
    }

    pub fn location(&self) -> &PgLocation {
        &self.location
    }

    /// Searches by sequential scan (exact, for checking the HNSW index) or by the index.
    pub fn set_exact(&self, exact: bool) {
        self.exact.store(exact, Ordering::Relaxed);
    }

    /// Every row read back (binary COPY out) as index contents in row order, whose `Auto`
    /// searches come back here.
    pub fn snapshot(self) -> Result<IndexContents, PgError> {
        let table = self.location.table.clone();
        let failed = sql(&self.location, &format!("reading `{table}`"));
        let mut contents = IndexContents::new(self.info.clone());
        {
            let mut conn = get(&self.pool, &self.location)?;
            let mut tx = conn.client.transaction().map_err(&failed)?;
            let types = copy_types(&mut tx).map_err(&failed)?;
            let source = tx
                .copy_out(&format!(
                    "COPY (SELECT {COPY_COLUMNS} FROM {table} ORDER BY position, key) TO STDOUT (FORMAT binary)"
                ))
                .map_err(&failed)?;
            {
                let mut rows = BinaryCopyOutIter::new(source, &types);
                let part_len = self.info.parts * self.info.part_dim;
                while let Some(row) = rows.next().map_err(&failed)? {
                    let key = row.try_get::<i64>(0).map_err(&failed)? as u64;
                    let attributes = gallery::attributes_from(&table, key, row.try_get(3).map_err(&failed)?)?;
                    let boxes = gallery::boxes_from(&table, key, row.try_get(7).map_err(&failed)?)?;
                    let record = Record {
                        key,
                        item_id: row.try_get(1).map_err(&failed)?,
                        image: row.try_get::<&str>(2).map_err(&failed)?.into(),
                        attributes,
                        boxes,
                    };
                    let vector: Vector = row.try_get(4).map_err(&failed)?;
                    let parts: Option<Vec<f32>> = row.try_get(5).map_err(&failed)?;
                    let parts = parts.unwrap_or_default();
                    if parts.len() != part_len {
                        return Err(PgError::Invalid(format!(
                            "`{table}` key {key}: {} part values, expected {part_len}",
                            parts.len()
                        )));
                    }
                    contents.upsert(record, vector.as_slice(), &parts)?;
                }
            }
            tx.commit().map_err(&failed)?;
        }
        self.rows.store(contents.records.len(), Ordering::Relaxed);
        contents.set_external(std::sync::Arc::new(self));
        Ok(contents)
    }

    /// Adds or replaces rows (records with their vectors and parts) in one transaction.
    pub fn upsert(&self, rows: &[(Record, &[f32], &[f32])]) -> Result<(), PgError> {
        self.apply(rows, &[]).map(|_| ())
    }

    /// Removes rows by key in one transaction; returns how many were there.
    pub fn remove_keys(&self, keys: &[u64]) -> Result<usize, PgError> {
        self.apply(&[], keys).map(|(_, removed)| removed)
    }

    /// Adds or replaces `rows` and removes the rows of `removed` in one transaction, row by row
    /// (pgvector's HNSW index takes the inserts: no rebuild); returns (rows added, rows removed).
    pub fn apply(&self, rows: &[(Record, &[f32], &[f32])], removed: &[u64]) -> Result<(usize, usize), PgError> {
        self.write(rows, (removed, &[]), None)
            .map(|(added, images)| (added, images.len()))
    }

    /// Removes every row of the items `items` and adds or replaces `rows`, in one transaction
    /// (the server's write routes); returns the rows added and the removed rows' images.
    pub fn change_items(
        &self,
        rows: &[(Record, &[f32], &[f32])],
        items: &[String],
    ) -> Result<(usize, Vec<PathBuf>), PgError> {
        self.write(rows, (&[], items), None)
    }

    /// Deletes the rows of `removed` (keys, items), then inserts or replaces `rows` (at
    /// `positions`, or after every row there): (rows added, removed rows' images).
    fn write(
        &self,
        rows: &[(Record, &[f32], &[f32])],
        (removed, removed_items): (&[u64], &[String]),
        positions: Option<&[i64]>,
    ) -> Result<(usize, Vec<PathBuf>), PgError> {
        let table = &self.location.table;
        let part_len = self.info.parts * self.info.part_dim;
        for (record, vector, parts) in rows {
            check_vector(self.info.dim, record.key, vector)?;
            if parts.len() != part_len {
                return Err(IndexError::Dimension {
                    expected: part_len,
                    got: parts.len(),
                }
                .into());
            }
        }
        let what = format!(
            "upserting {} rows into `{table}` and removing {} (and {} items)",
            rows.len(),
            removed.len(),
            removed_items.len()
        );
        let failed = sql(&self.location, &what);
        let mut conn = get(&self.pool, &self.location)?;
        let statement = conn
            .prepare(&format!(
                "INSERT INTO {table} (key, item_id, image, attributes, embedding, parts, position, boxes)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (key) DO UPDATE SET item_id = $2, image = $3, attributes = $4, embedding = $5, parts = $6,
                     boxes = $8
                 RETURNING (xmax = 0)"
            ))
            .map_err(&failed)?;
        let mut tx = conn.client.transaction().map_err(&failed)?;
        let keys: Vec<i64> = removed.iter().map(|&k| k as i64).collect();
        let removed: Vec<PathBuf> = match keys.is_empty() && removed_items.is_empty() {
            true => Vec::new(),
            false => tx
                .query(
                    &format!("DELETE FROM {table} WHERE key = ANY($1) OR item_id = ANY($2) RETURNING image"),
                    &[&keys, &removed_items],
                )
                .map_err(&failed)?
                .iter()
                .map(|row| PathBuf::from(row.get::<_, &str>(0)))
                .collect(),
        };
        // New rows go after every row there unless placed (a replaced row keeps its place).
        let first: i64 = tx
            .query_one(&format!("SELECT coalesce(max(position), -1) + 1 FROM {table}"), &[])
            .map_err(&failed)?
            .get(0);
        let mut added = 0;
        for (row, (record, vector, parts)) in rows.iter().enumerate() {
            let position = positions.map_or(first + row as i64, |p| p[row]);
            let attributes = serde_json::to_value(&record.attributes).expect("strings serialise");
            let boxes = record
                .boxes
                .as_ref()
                .map(|b| serde_json::to_value(b).expect("boxes serialise"));
            let parts: Option<Vec<f32>> = (part_len > 0).then(|| parts.to_vec());
            let inserted: bool = tx
                .query_one(
                    &statement,
                    &[
                        &(record.key as i64),
                        &record.item_id,
                        &record.image.to_string_lossy().as_ref(),
                        &attributes,
                        &Vector::from(vector.to_vec()),
                        &parts,
                        &position,
                        &boxes,
                    ],
                )
                .map_err(&failed)?
                .get(0);
            added += usize::from(inserted);
        }
        tx.execute(
            &format!("UPDATE {META} SET rows = rows + $2 - $3, updated_at = now() WHERE name = $1"),
            &[table, &(added as i64), &(removed.len() as i64)],
        )
        .map_err(&failed)?;
        tx.commit().map_err(&failed)?;
        self.rows.fetch_add(added, Ordering::Relaxed);
        *self.items.lock().expect("not poisoned") = None;
        self.rows
            .fetch_sub(removed.len().min(self.rows.load(Ordering::Relaxed)), Ordering::Relaxed);
        Ok((added, removed))
    }
}

impl PgIndex {
    /// One row's insert or delete (`statement`, returning a row whose first column says whether
    /// it counted) and the row count in `lookbook_indexes` moved by `step` when it did, in one
    /// transaction — the count `open` reads. Whether it counted.
    fn change_one(
        &self,
        what: &str,
        statement: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
        step: i64,
    ) -> Result<bool, PgError> {
        let table = &self.location.table;
        let failed = sql(&self.location, what);
        let mut conn = get(&self.pool, &self.location)?;
        let statement = conn.prepare(statement).map_err(&failed)?;
        let mut tx = conn.client.transaction().map_err(&failed)?;
        let counted = tx
            .query_opt(&statement, params)
            .map_err(&failed)?
            .is_some_and(|row| row.get::<_, bool>(0));
        if counted {
            tx.execute(
                &format!("UPDATE {META} SET rows = rows + $2, updated_at = now() WHERE name = $1"),
                &[table, &step],
            )
            .map_err(&failed)?;
        }
        tx.commit().map_err(&failed)?;
        *self.items.lock().expect("not poisoned") = None;
        Ok(counted)
    }
}

/// The columns a stored row is read from (queries and lookups), in the order
/// `PgIndex::stored_row` reads them.
const ROW_COLUMNS: &str = "key, item_id, image, attributes, boxes, embedding, parts";

/// The columns a bulk load writes and a snapshot reads, in order, and their types (pgvector's
/// `vector` has no fixed OID: the server names it).
const COPY_COLUMNS: &str = "key, item_id, image, attributes, embedding, parts, position, boxes";

fn copy_types(tx: &mut postgres::Transaction<'_>) -> Result<[Type; 8], postgres::Error> {
    let vector = tx.prepare("SELECT $1::vector")?.params()[0].clone();
    Ok([
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::JSONB,
        vector,
        Type::FLOAT4_ARRAY,
        Type::INT8,
        Type::JSONB,
    ])
}

fn check_info(info: &IndexInfo) -> Result<(), PgError> {
    if info.ivf.is_some() {
        return Err(PgError::Invalid(
            "an index in PostgreSQL keeps an HNSW index (--ann hnsw) or none; IVF lists are for index folders".into(),
        ));
    }
    if info.ann.is_some() && info.dim > schema::MAX_INDEXED_DIM {
        return Err(PgError::Invalid(format!(
            "pgvector's HNSW indexes vectors of up to {} dimensions; these have {}",
            schema::MAX_INDEXED_DIM,
            info.dim
        )));
    }
    Ok(())
}

/// Maps a driver error to one naming the server and the operation.
fn sql(location: &PgLocation, what: &str) -> impl Fn(postgres::Error) -> PgError + use<> {
    let (shown, what) = (location.shown.clone(), what.to_string());
    move |e| PgError::Sql {
        location: shown.clone(),
        what: what.clone(),
        reason: reason(&e),
    }
}

/// A checked connection (see [`pool::checked`]): for writes, loads and schema changes.
fn get(pool: &Pool, location: &PgLocation) -> Result<r2d2::PooledConnection<crate::pool::Manager>, PgError> {
    pool::checked(pool, &location.shown)
}

impl VectorIndex for PgIndex {
    fn dim(&self) -> usize {
        self.info.dim
    }

    fn metric(&self) -> Metric {
        self.info.metric
    }

    fn len(&self) -> usize {
        self.rows.load(Ordering::Relaxed)
    }

    /// A row with this key and vector only (no item, image or attributes; a replaced row
    /// keeps its own).
    fn add(&mut self, key: u64, vector: &[f32]) -> Result<(), IndexError> {
        check_vector(self.info.dim, key, vector)?;
        let table = &self.location.table;
        let inserted = self.change_one(
            "adding a vector",
            &format!(
                "INSERT INTO {table} (key, embedding) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET embedding = $2 RETURNING (xmax = 0)"
            ),
            &[&(key as i64), &Vector::from(vector.to_vec())],
            1,
        )?;
        if inserted {
            self.rows.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn remove(&mut self, key: u64) -> Result<bool, IndexError> {
        let table = &self.location.table;
        let sql = format!("DELETE FROM {table} WHERE key = $1 RETURNING true");
        let removed = self.change_one("removing a vector", &sql, &[&(key as i64)], -1)?;
        if removed {
            self.rows.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(removed)
    }

    /// Queries run on up to `pool` connections at once.
    fn search_batch(
        &self,
        queries: &[f32],
        k: usize,
        filter: Option<&(dyn Fn(u64) -> bool + Sync)>,
    ) -> Result<Vec<Vec<Hit>>, IndexError> {
        let dim = self.info.dim;
        if dim == 0 || !queries.len().is_multiple_of(dim) {
            return Err(IndexError::Dimension {
                expected: dim,
                got: queries.len() % dim.max(1),
            });
        }
        let count = queries.len() / dim;
        if k == 0 || count == 0 {
            return Ok(vec![Vec::new(); count]);
        }
        let exact = self.exact.load(Ordering::Relaxed);
        let one = |query: &[f32]| -> Result<Vec<Hit>, PgError> {
            match filter {
                None => self.query(Ordered::Whole, query, k, &Predicate::default(), exact),
                Some(accept) => self.search_accepting(query, k, accept),
            }
        };
        let workers = (self.location.pool as usize).min(count);
        if workers <= 1 {
            return queries
                .chunks_exact(dim)
                .map(|q| one(q).map_err(IndexError::from))
                .collect();
        }
        let mut answers: Vec<Option<Result<Vec<Hit>, PgError>>> = (0..count).map(|_| None).collect();
        std::thread::scope(|scope| {
            let chunk = count.div_ceil(workers);
            for (w, slots) in answers.chunks_mut(chunk).enumerate() {
                let one = &one;
                scope.spawn(move || {
                    for (i, slot) in slots.iter_mut().enumerate() {
                        let q = w * chunk + i;
                        *slot = Some(one(&queries[q * dim..][..dim]));
                    }
                });
            }
        });
        answers
            .into_iter()
            .map(|a| a.expect("every slot filled").map_err(IndexError::from))
            .collect()
    }
}

impl ExternalIndex for PgIndex {
    fn search_matching(&self, query: &[f32], k: usize, predicate: &Predicate) -> Result<Vec<Hit>, IndexError> {
        if query.len() != self.info.dim {
            return Err(IndexError::Dimension {
                expected: self.info.dim,
                got: query.len(),
            });
        }
        if k == 0 {
            return Ok(Vec::new());
        }
        Ok(self.query(Ordered::Whole, query, k, predicate, self.exact.load(Ordering::Relaxed))?)
    }

    fn set_expansion_search(&self, ef: usize) {
        self.ef_search.store(ef.clamp(1, MAX_EF), Ordering::Relaxed);
    }

    fn describe(&self) -> String {
        format!(
            "PostgreSQL + pgvector at {} (table {}, {}, ef_search {})",
            self.location.shown,
            self.location.table,
            match self.info.ann {
                Some(c) => format!("HNSW m {} ef_construction {}", c.connectivity, c.expansion_add),
                None => "no HNSW index: exact".into(),
            },
            self.ef_search.load(Ordering::Relaxed)
        )
    }
}
