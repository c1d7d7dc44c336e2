//! The tables lookbook creates, and the version they are at.
//!
//! `lookbook_indexes` has one row per index table: its schema version and settings. A
//! lookbook that finds a newer version refuses the table; an older one is brought up to
//! date by [`MIGRATIONS`] in the same transaction that opens it for writing.

use lookbook_index::{IndexInfo, Metric};
use postgres::GenericClient;

use crate::PgError;
use crate::error::reason;

/// The layout this lookbook writes and reads.
pub const SCHEMA_VERSION: i32 = 2;

/// `MIGRATIONS[i]` takes a table from version `i + 1` to `i + 2` (`{t}` = the table).
/// 1 → 2: each row's attention boxes (issue 20; NULL for rows written before).
const MIGRATIONS: &[&str] = &["ALTER TABLE {t} ADD COLUMN IF NOT EXISTS boxes jsonb"];

pub(crate) const META: &str = "lookbook_indexes";

/// Serialises schema changes between processes creating tables at the same moment
/// (CREATE ... IF NOT EXISTS races on the catalogue otherwise).
const SCHEMA_LOCK: i64 = 0x6c6f_6f6b_626f_6f6b;

/// pgvector before 0.8 has no iterative index scans, so filtered searches could come back short.
const MIN_PGVECTOR: (u32, u32) = (0, 8);

/// Checks pgvector is there (creating it in the database when `create` and the server has
/// it) and new enough; returns its version.
pub(crate) fn ensure_extension(
    client: &mut impl GenericClient,
    location: &str,
    create: bool,
) -> Result<String, PgError> {
    let sql = |e: postgres::Error| PgError::Sql {
        location: location.to_string(),
        what: "checking the pgvector extension".into(),
        reason: reason(&e),
    };
    let installed = client
        .query_opt("SELECT extversion FROM pg_extension WHERE extname = 'vector'", &[])
        .map_err(sql)?;
    let version: String = match installed {
        Some(row) => row.get(0),
        None => {
            let available = client
                .query_opt(
                    "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'",
                    &[],
                )
                .map_err(sql)?;
            if available.is_none() {
                return Err(PgError::NoExtension {
                    location: location.to_string(),
                });
            }
            if !create {
                return Err(PgError::Extension {
                    location: location.to_string(),
                    message: "pgvector is installed on the server but not created in this database: run `CREATE EXTENSION vector` (or build an index here with `lookbook index --out`, which does)".into(),
                });
            }
            client
                .batch_execute(&format!(
                    "SELECT pg_advisory_xact_lock({SCHEMA_LOCK}); CREATE EXTENSION IF NOT EXISTS vector"
                ))
                .map_err(|e| PgError::Extension {
                    location: location.to_string(),
                    message: format!("could not create the pgvector extension: {}", reason(&e)),
                })?;
            client
                .query_one("SELECT extversion FROM pg_extension WHERE extname = 'vector'", &[])
                .map_err(sql)?
                .get(0)
        }
    };
    let mut numbers = version.split('.').map(|n| n.parse::<u32>().unwrap_or(0));
    let (major, minor) = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    if (major, minor) < MIN_PGVECTOR {
        return Err(PgError::Extension {
            location: location.to_string(),
            message: format!(
                "pgvector {version} is too old: lookbook needs 0.8 or newer (iterative index scans for filters); ALTER EXTENSION vector UPDATE"
            ),
        });
    }
    Ok(version)
}

/// Creates `lookbook_indexes` if it is not there.
pub(crate) fn ensure_meta(client: &mut impl GenericClient) -> Result<(), postgres::Error> {
    client.batch_execute(&format!(
        "SELECT pg_advisory_xact_lock({SCHEMA_LOCK});
         CREATE TABLE IF NOT EXISTS {META} (
             name text PRIMARY KEY,
             schema_version integer NOT NULL,
             info jsonb NOT NULL,
             rows bigint NOT NULL DEFAULT 0,
             updated_at timestamptz NOT NULL DEFAULT now())"
    ))
}

/// The operator class of the HNSW index and the distance operator searches order by.
pub(crate) fn operators(metric: Metric) -> (&'static str, &'static str) {
    match metric {
        Metric::Euclidean => ("vector_l2_ops", "<->"),
        Metric::Cosine => ("vector_cosine_ops", "<=>"),
    }
}

/// pgvector indexes vectors of up to 2,000 dimensions.
pub(crate) const MAX_INDEXED_DIM: usize = 2000;

/// The statements creating table `table` for `info` (no rows, no HNSW index yet).
pub(crate) fn create_table(table: &str, info: &IndexInfo) -> String {
    format!(
        "CREATE TABLE {table} (
             key bigint PRIMARY KEY,
             item_id text NOT NULL DEFAULT '',
             image text NOT NULL DEFAULT '',
             attributes jsonb NOT NULL DEFAULT '{{}}',
             embedding vector({dim}) NOT NULL,
             parts real[],
             position bigint NOT NULL DEFAULT 0,
             boxes jsonb);
         CREATE INDEX {table}_item ON {table} (item_id);
         CREATE INDEX {table}_position ON {table} (position)",
        dim = info.dim
    )
}

/// The HNSW indexes over `table`, when `info` asks for them: one over the embeddings and one
/// per part — an expression index over the part's slice of `parts` ([`part_vector`]), which a
/// part search orders by, so recommendations find part neighbours in SQL too.
pub(crate) fn create_hnsw(table: &str, info: &IndexInfo) -> Option<String> {
    let config = info.ann?;
    let (ops, _) = operators(info.metric);
    let with = format!(
        "WITH (m = {m}, ef_construction = {efc})",
        m = config.connectivity.clamp(2, 100),
        efc = config.expansion_add.clamp(4, 1000),
    );
    let mut ddl = vec![format!(
        "CREATE INDEX {table}_hnsw ON {table} USING hnsw (embedding {ops}) {with}"
    )];
    ddl.extend((0..info.parts).map(|part| {
        format!(
            "CREATE INDEX {table}_part{part} ON {table} USING hnsw (({}) {ops}) {with}",
            part_vector(info, part)
        )
    }));
    Some(ddl.join("; "))
}

/// The names (after the table's) of the HNSW indexes [`create_hnsw`] makes.
pub(crate) fn hnsw_suffixes(info: &IndexInfo) -> Vec<String> {
    match info.ann {
        None => Vec::new(),
        Some(_) => std::iter::once("hnsw".to_string())
            .chain((0..info.parts).map(|part| format!("part{part}")))
            .collect(),
    }
}

/// Part `part` of a row as a vector: its slice of `parts` (1-based, inclusive), cast. A part
/// search orders by exactly this expression, so PostgreSQL uses the part's HNSW index.
pub(crate) fn part_vector(info: &IndexInfo, part: usize) -> String {
    let d = info.part_dim;
    format!("(parts[{}:{}])::vector({d})", part * d + 1, (part + 1) * d)
}

/// Writes `info` as `table`'s row of `lookbook_indexes`.
pub(crate) fn write_meta(
    client: &mut impl GenericClient,
    table: &str,
    info: &IndexInfo,
    rows: usize,
) -> Result<(), postgres::Error> {
    let info = serde_json::to_value(info).expect("IndexInfo serialises");
    client.execute(
        &format!(
            "INSERT INTO {META} (name, schema_version, info, rows) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO UPDATE SET schema_version = $2, info = $3, rows = $4, updated_at = now()"
        ),
        &[&table, &SCHEMA_VERSION, &info, &(rows as i64)],
    )?;
    Ok(())
}

/// Whether `lookbook_indexes` is there (lookbook has written to this database).
pub(crate) fn meta_exists(client: &mut impl GenericClient) -> Result<bool, postgres::Error> {
    Ok(client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&META])?.get(0))
}

/// `table`'s settings and schema version, brought up to [`SCHEMA_VERSION`] when older.
pub(crate) fn read_meta(client: &mut impl GenericClient, location: &str, table: &str) -> Result<IndexInfo, PgError> {
    let sql = |what: &str, e: postgres::Error| PgError::Sql {
        location: location.to_string(),
        what: what.to_string(),
        reason: reason(&e),
    };
    let exists = meta_exists(client).map_err(|e| sql("looking for lookbook_indexes", e))?;
    let no_index = || PgError::NoIndex {
        location: location.to_string(),
        table: table.to_string(),
    };
    if !exists {
        return Err(no_index());
    }
    let row = client
        .query_opt(
            &format!("SELECT schema_version, info FROM {META} WHERE name = $1"),
            &[&table],
        )
        .map_err(|e| sql("reading lookbook_indexes", e))?
        .ok_or_else(no_index)?;
    let (version, info): (i32, serde_json::Value) = (row.get(0), row.get(1));
    if version > SCHEMA_VERSION {
        return Err(PgError::NewerSchema {
            location: location.to_string(),
            table: table.to_string(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    for step in version.max(1)..SCHEMA_VERSION {
        let migration = MIGRATIONS[(step - 1) as usize].replace("{t}", table);
        client
            .batch_execute(&format!(
                "{migration}; UPDATE {META} SET schema_version = {} WHERE name = '{table}'",
                step + 1
            ))
            .map_err(|e| sql(&format!("migrating `{table}` to schema version {}", step + 1), e))?;
    }
    serde_json::from_value(info).map_err(|e| PgError::Invalid(format!("{location}: `{table}`'s settings: {e}")))
}
