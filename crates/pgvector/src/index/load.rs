//! Bulk loads: a whole index into a table by binary COPY in one transaction, swapped in by
//! rename (what `lookbook index --out postgres://…` and `index copy` commit with).

use std::time::Instant;

use lookbook_index::{IndexContents, IndexInfo};
use pgvector::Vector;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::ToSql;

use super::{COPY_COLUMNS, LoadStats, PgIndex, check_info, copy_types, get, sql};
use crate::pool;
use crate::schema;
use crate::{PgError, PgLocation};

impl PgIndex {
    /// Replaces the table's contents with `contents` (its info included) in one
    /// transaction: rows into a new table by binary COPY, the HNSW index built there, then
    /// the new table renamed over the old. Until the commit, readers see the old table; if
    /// anything fails (the server stops, a row is refused) the old table is untouched.
    pub fn replace(location: &PgLocation, contents: &IndexContents) -> Result<(PgIndex, LoadStats), PgError> {
        Self::load(location, contents, contents.info.clone())
    }

    /// [`PgIndex::replace`] without building the HNSW index (searches scan the table until a
    /// later `replace`): for a long build's progress commits, which a final one supersedes.
    pub fn replace_unindexed(location: &PgLocation, contents: &IndexContents) -> Result<(PgIndex, LoadStats), PgError> {
        Self::load(
            location,
            contents,
            IndexInfo {
                ann: None,
                ..contents.info.clone()
            },
        )
    }

    fn load(location: &PgLocation, contents: &IndexContents, info: IndexInfo) -> Result<(PgIndex, LoadStats), PgError> {
        check_info(&info)?;
        let start = Instant::now();
        let pool = pool::connect(&location.config, location.pool, &location.shown)?;
        let (table, staging) = (location.table.as_str(), format!("{}__load", location.table));
        let n = contents.records.len();
        let what = format!("bulk load of {n} rows into `{table}` (rolled back: the table holds its previous contents)");
        let failed = sql(location, &what);
        let mut conn = get(&pool, location)?;
        // The extension and `lookbook_indexes` in a transaction of their own: it holds the schema
        // lock, which would otherwise keep every other table's creation waiting for this load.
        let mut tx = conn.client.transaction().map_err(&failed)?;
        schema::ensure_extension(&mut tx, &location.shown, true)?;
        schema::ensure_meta(&mut tx).map_err(&failed)?;
        tx.commit().map_err(&failed)?;
        let mut tx = conn.client.transaction().map_err(&failed)?;
        // One load per table at a time; a second waits here rather than failing on the swap.
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&table])
            .map_err(&failed)?;
        tx.batch_execute(&format!(
            "DROP TABLE IF EXISTS {staging}; {}",
            schema::create_table(&staging, &info)
        ))
        .map_err(&failed)?;
        let types = copy_types(&mut tx).map_err(&failed)?;
        let copy_start = Instant::now();
        let sink = tx
            .copy_in(&format!("COPY {staging} ({COPY_COLUMNS}) FROM STDIN (FORMAT binary)"))
            .map_err(&failed)?;
        let mut writer = BinaryCopyInWriter::new(sink, &types);
        let part_len = info.parts * info.part_dim;
        for (row, record) in contents.records.iter().enumerate() {
            let record = record?;
            let key = record.key as i64;
            let image = record.image.to_string_lossy();
            let attributes = serde_json::to_value(&record.attributes).expect("strings serialise");
            let boxes = record
                .boxes
                .as_ref()
                .map(|b| serde_json::to_value(b).expect("boxes serialise"));
            let vector = Vector::from(contents.vector_of(row).to_vec());
            let parts: Option<Vec<f32>> = (part_len > 0).then(|| contents.parts_of(row).to_vec());
            let position = row as i64;
            let values: [&(dyn ToSql + Sync); 8] = [
                &key,
                &record.item_id,
                &image.as_ref(),
                &attributes,
                &vector,
                &parts,
                &position,
                &boxes,
            ];
            writer.write(&values).map_err(&failed)?;
        }
        writer.finish().map_err(&failed)?;
        let copy_seconds = copy_start.elapsed().as_secs_f64();
        let index_start = Instant::now();
        if let Some(hnsw) = schema::create_hnsw(&staging, &info) {
            tx.batch_execute(&format!(
                "SET LOCAL maintenance_work_mem = '{}'; {hnsw}",
                location.build_memory
            ))
            .map_err(&failed)?;
        }
        let index_seconds = if info.ann.is_some() {
            index_start.elapsed().as_secs_f64()
        } else {
            0.0
        };
        let mut swap = format!(
            "DROP TABLE IF EXISTS {table};
             ALTER TABLE {staging} RENAME TO {table};
             ALTER INDEX {staging}_pkey RENAME TO {table}_pkey;
             ALTER INDEX {staging}_item RENAME TO {table}_item;
             ALTER INDEX {staging}_position RENAME TO {table}_position"
        );
        for suffix in schema::hnsw_suffixes(&info) {
            swap.push_str(&format!("; ALTER INDEX {staging}_{suffix} RENAME TO {table}_{suffix}"));
        }
        tx.batch_execute(&swap).map_err(&failed)?;
        schema::write_meta(&mut tx, table, &info, n).map_err(&failed)?;
        tx.commit().map_err(&failed)?;
        conn.forget_statements();
        drop(conn);
        let stats = LoadStats {
            rows: n,
            copy_seconds,
            index_seconds,
            total_seconds: start.elapsed().as_secs_f64(),
        };
        Ok((PgIndex::new(pool, location.clone(), info, n), stats))
    }
}
