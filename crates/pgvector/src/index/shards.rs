//! One build by several processes (`lookbook index --shard I/N`): each joins the table, writes
//! its rows where a single build would have put them, and the HNSW index is built once at the
//! end ([`PgIndex::finish_build`]), so no insert has to update a graph (pgvector's own advice:
//! load the data, then create the index).

use std::time::Instant;

use lookbook_index::{IndexInfo, Record};

use super::{PgIndex, check_info, get, sql};
use crate::schema::{self, META};
use crate::{PgError, PgLocation};

/// Serialises shards joining one build (two creating the same table at once), per table.
const JOIN_LOCK: &str = "lookbook build";

impl PgIndex {
    /// The table a sharded build of `info` fills: created (without its HNSW index) by the first
    /// shard to arrive, joined by the others and by a shard that resumes. The table's own info
    /// is returned with it, for the caller to check it is the same build: a table left by
    /// another model or catalogue is never written into.
    pub fn join_build(location: &PgLocation, info: IndexInfo) -> Result<(PgIndex, IndexInfo), PgError> {
        check_info(&info)?;
        let table = location.table.as_str();
        let (pool, (info, rows)) = Self::in_schema_transaction(location, |tx| {
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1 || $2))",
                &[&JOIN_LOCK, &table],
            )
            .map_err(sql(location, "locking the build"))?;
            let there: bool = tx
                .query_one(
                    &format!("SELECT to_regclass($1) IS NOT NULL AND EXISTS (SELECT 1 FROM {META} WHERE name = $1)"),
                    &[&table],
                )
                .map_err(sql(location, "looking for the table"))?
                .get(0);
            if there {
                let info = schema::read_meta(tx, &location.shown, table)?;
                let rows: i64 = tx
                    .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                    .map_err(sql(location, &format!("counting `{table}`")))?
                    .get(0);
                return Ok((info, rows as usize));
            }
            let ddl = format!("DROP TABLE IF EXISTS {table}; {}", schema::create_table(table, &info));
            tx.batch_execute(&ddl)
                .map_err(sql(location, &format!("creating table `{table}`")))?;
            schema::write_meta(tx, table, &info, 0).map_err(sql(location, "writing lookbook_indexes"))?;
            Ok((info.clone(), 0))
        })?;
        Ok((PgIndex::new(pool, location.clone(), info.clone(), rows), info))
    }

    /// Every key in the table (what a resuming shard need not embed again).
    pub fn keys(&self) -> Result<Vec<u64>, PgError> {
        let table = &self.location.table;
        let mut conn = get(&self.pool, &self.location)?;
        let rows = conn
            .client
            .query(&format!("SELECT key FROM {table}"), &[])
            .map_err(sql(&self.location, &format!("reading the keys of `{table}`")))?;
        Ok(rows.iter().map(|row| row.get::<_, i64>(0) as u64).collect())
    }

    /// Which of `keys` the table holds (by its primary key: the rest of the table is not read).
    pub fn held_keys(&self, keys: &[u64]) -> Result<Vec<u64>, PgError> {
        let table = &self.location.table;
        let wanted: Vec<i64> = keys.iter().map(|&k| k as i64).collect();
        let mut conn = get(&self.pool, &self.location)?;
        let rows = conn
            .client
            .query(&format!("SELECT key FROM {table} WHERE key = ANY($1)"), &[&wanted])
            .map_err(sql(&self.location, &format!("looking up keys of `{table}`")))?;
        Ok(rows.iter().map(|row| row.get::<_, i64>(0) as u64).collect())
    }

    /// Adds or replaces `rows` at the given row `positions` (one each) in one transaction: how
    /// shards of one build ([`PgIndex::join_build`]) write, each row where a single build would
    /// have put it (its place in the catalogue), whatever order the shards commit in.
    pub fn insert_at(&self, rows: &[(Record, &[f32], &[f32])], positions: &[i64]) -> Result<usize, PgError> {
        if positions.len() != rows.len() {
            return Err(PgError::Invalid(format!(
                "{} positions for {} rows",
                positions.len(),
                rows.len()
            )));
        }
        self.write(rows, (&[], &[]), Some(positions)).map(|(added, _)| added)
    }

    /// Ends a sharded build: builds the HNSW index the info asks for (unless there already),
    /// refreshes the planner's statistics and the row count; returns the seconds the index took.
    pub fn finish_build(&self) -> Result<f64, PgError> {
        let table = &self.location.table;
        let failed = sql(&self.location, &format!("finishing `{table}`"));
        let mut conn = get(&self.pool, &self.location)?;
        let start = Instant::now();
        let mut tx = conn.client.transaction().map_err(&failed)?;
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1 || $2))", &[&JOIN_LOCK, table])
            .map_err(&failed)?;
        if let Some(hnsw) = schema::create_hnsw(table, &self.info) {
            // Also adds the part indexes to a table built before they existed.
            let hnsw = hnsw.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS");
            tx.batch_execute(&format!(
                "SET LOCAL maintenance_work_mem = '{}'; {hnsw}",
                self.location.build_memory
            ))
            .map_err(&failed)?;
        }
        // A table made before the position index existed gets it here too (new rows' places).
        tx.batch_execute(&format!(
            "CREATE INDEX IF NOT EXISTS {table}_position ON {table} (position)"
        ))
        .map_err(&failed)?;
        tx.execute(
            &format!("UPDATE {META} SET rows = (SELECT count(*) FROM {table}), updated_at = now() WHERE name = $1"),
            &[table],
        )
        .map_err(&failed)?;
        tx.commit().map_err(&failed)?;
        conn.client
            .batch_execute(&format!("ANALYZE {table}"))
            .map_err(&failed)?;
        conn.forget_statements();
        Ok(start.elapsed().as_secs_f64())
    }
}
