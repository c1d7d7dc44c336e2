//! Where an index lives: a folder, or a table in PostgreSQL + pgvector
//! (`postgres://user@host:port/db?table=NAME`). Every command of the CLI opens and commits
//! through here (`--index` / `--out`), so search, recommend, eval and serve work the same on
//! both.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use lookbook_index::{Gallery, IndexContents, IndexError, IndexReader, IndexWriter, Record};

use crate::{PgError, PgIndex, PgLocation, is_postgres_url};

type Result<T, E = PgError> = std::result::Result<T, E>;

#[derive(Debug, Clone)]
pub enum IndexLocation {
    Folder(PathBuf),
    /// Parsed when used, so a bad URL is reported with the command's other errors.
    Postgres(String),
}

impl FromStr for IndexLocation {
    type Err = Infallible;
    fn from_str(text: &str) -> Result<Self, Infallible> {
        Ok(if is_postgres_url(text) {
            IndexLocation::Postgres(text.to_string())
        } else {
            IndexLocation::Folder(PathBuf::from(text))
        })
    }
}

impl std::fmt::Display for IndexLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IndexLocation::Folder(path) => write!(f, "{}", path.display()),
            IndexLocation::Postgres(url) => match url.parse::<PgLocation>() {
                Ok(location) => write!(f, "{location} (table {})", location.table),
                Err(_) => f.write_str(url),
            },
        }
    }
}

impl IndexLocation {
    fn postgres_url(url: &str) -> Result<PgLocation> {
        url.parse::<PgLocation>()
    }

    /// The table this location names (none for a folder), parsed.
    pub fn postgres(&self) -> Option<Result<PgLocation>> {
        match self {
            IndexLocation::Folder(_) => None,
            IndexLocation::Postgres(url) => Some(Self::postgres_url(url)),
        }
    }

    /// For searching: a folder is mapped (opens in a fraction of a second); a PostgreSQL
    /// index is read into memory once (records, vectors, parts) and searched in SQL.
    pub fn open(&self) -> Result<IndexContents> {
        self.open_with(|path| IndexReader::open_mapped(path))
    }

    /// For answering queries: a folder is mapped, as [`IndexLocation::open`] does; a table is
    /// asked each question in SQL, its rows never read into this process (a server on a
    /// table of any size holds none of them).
    pub fn open_gallery(&self) -> Result<Box<dyn Gallery>> {
        self.open_tuned(None, None)
    }

    /// [`IndexLocation::open_gallery`] searching with `ef` graph candidates (HNSW, in a folder or
    /// a table) and `probes` IVF lists (a folder's) instead of the index's own settings.
    pub fn open_tuned(&self, ef: Option<usize>, probes: Option<usize>) -> Result<Box<dyn Gallery>> {
        let opened: Result<Box<dyn Gallery>> = match self {
            IndexLocation::Folder(path) => IndexReader::open_mapped(path)
                .map(|mut contents| {
                    if let Some(ef) = ef {
                        contents.set_expansion_search(ef);
                    }
                    if let Some(probes) = probes {
                        contents.set_probes(probes);
                    }
                    Box::new(contents) as Box<dyn Gallery>
                })
                .map_err(PgError::from),
            IndexLocation::Postgres(url) => Self::postgres_url(url)
                .and_then(|location| PgIndex::open(&location))
                .map(|index| {
                    if let Some(ef) = ef {
                        lookbook_index::ExternalIndex::set_expansion_search(&index, ef);
                    }
                    Box::new(index) as Box<dyn Gallery>
                }),
        };
        opened.map_err(|error| self.failed("opening", error))
    }

    /// For changing: a folder is read and every checksum verified.
    pub fn open_for_update(&self) -> Result<IndexContents> {
        self.open_with(|path| IndexReader::open(path))
    }

    fn open_with(&self, open_folder: impl FnOnce(&Path) -> Result<IndexContents, IndexError>) -> Result<IndexContents> {
        let opened = match self {
            IndexLocation::Folder(path) => open_folder(path).map_err(PgError::from),
            IndexLocation::Postgres(url) => Self::postgres_url(url)
                .and_then(|location| PgIndex::open(&location))
                .and_then(|index| index.snapshot()),
        };
        opened.map_err(|error| self.failed("opening", error))
    }

    /// `error` as what failed where: "opening the index INDEX: …".
    fn failed(&self, doing: &str, error: PgError) -> PgError {
        PgError::At {
            what: format!("{doing} the index {self}"),
            error: Box::new(error),
        }
    }

    /// Whether there is an index to resume or replace (errors only for an unreachable server).
    pub fn exists(&self) -> Result<bool> {
        match self {
            IndexLocation::Folder(path) => Ok(path.join("manifest.json").is_file()),
            IndexLocation::Postgres(url) => Ok(PgIndex::exists(&Self::postgres_url(url)?)?),
        }
    }

    /// Makes `contents` the index here, atomically: a new generation of the folder, or the
    /// table replaced in one transaction (bulk COPY, HNSW build, swap).
    pub fn commit(&self, contents: &mut IndexContents) -> Result<()> {
        self.commit_as(contents, true)
    }

    /// Makes a change to `contents` the index here: the rows of `changed` (keys added or
    /// replaced in `contents`) and the keys `removed` from it. A folder gets a new generation of
    /// the whole index (as [`IndexLocation::commit`]); a table only those rows inserted,
    /// replaced and deleted, in one transaction — no rewrite, no HNSW rebuild.
    pub fn commit_rows(&self, contents: &mut IndexContents, changed: &[u64], removed: &[u64]) -> Result<()> {
        let IndexLocation::Postgres(url) = self else {
            return self.commit(contents);
        };
        let index = PgIndex::open(&Self::postgres_url(url)?).map_err(|error| self.failed("opening", error))?;
        let mut records = Vec::with_capacity(changed.len());
        for &key in changed {
            let row = contents.row_of(key).ok_or_else(|| {
                PgError::Invalid(format!("key {key} is to be written but is not in the index's rows"))
            })?;
            records.push((row, contents.records.get(row)?.into_owned()));
        }
        let rows: Vec<_> = records
            .into_iter()
            .map(|(row, record)| (record, contents.vector_of(row), contents.parts_of(row)))
            .collect();
        let (added, deleted) = index.apply(&rows, removed)?;
        tracing::info!("{self}: {} rows written ({added} new), {deleted} deleted", rows.len());
        Ok(())
    }

    /// Removes every image of the items `items` and adds or replaces `rows`, as one commit;
    /// returns the rows added and the removed images. A table changes only those rows, without
    /// being read; a folder is read, changed and committed as a new generation (nothing is
    /// written when nothing changed).
    pub fn change_items(&self, rows: &[(Record, &[f32], &[f32])], items: &[String]) -> Result<(usize, Vec<PathBuf>)> {
        if let IndexLocation::Postgres(url) = self {
            let index = PgIndex::open(&Self::postgres_url(url)?).map_err(|error| self.failed("opening", error))?;
            return index
                .change_items(rows, items)
                .map_err(|error| self.failed("changing", error));
        }
        let mut contents = self.open_for_update()?;
        let removed: Vec<PathBuf> = contents
            .records
            .iter()
            .filter_map(|r| r.ok().filter(|r| items.contains(&r.item_id)).map(|r| r.image.clone()))
            .collect();
        contents.remove_where(|r| items.contains(&r.item_id))?;
        let before = contents.records.len();
        for (record, vector, parts) in rows {
            contents.upsert(record.clone(), vector, parts)?;
        }
        if !rows.is_empty() || !removed.is_empty() {
            self.commit(&mut contents)?;
        }
        Ok((contents.records.len() - before, removed))
    }

    /// A long build's intermediate commit, which a rerun resumes from: in PostgreSQL the rows
    /// without the HNSW index (built once, by the final [`IndexLocation::commit`]).
    pub fn commit_progress(&self, contents: &mut IndexContents) -> Result<()> {
        self.commit_as(contents, false)
    }

    fn commit_as(&self, contents: &mut IndexContents, last: bool) -> Result<()> {
        match self {
            IndexLocation::Folder(path) => IndexWriter::new(path)?.commit(contents)?,
            IndexLocation::Postgres(url) => {
                let location = Self::postgres_url(url)?;
                let (_, stats) = match last {
                    true => PgIndex::replace(&location, contents)?,
                    false => PgIndex::replace_unindexed(&location, contents)?,
                };
                tracing::info!(
                    "loaded {} rows into {location}: COPY {:.1} s ({:.0} rows/s), HNSW {:.1} s",
                    stats.rows,
                    stats.copy_seconds,
                    stats.rows as f64 / stats.copy_seconds.max(1e-9),
                    stats.index_seconds
                );
            }
        }
        Ok(())
    }

    /// Checks it can be opened and what it holds is whole: a folder's every checksum; a
    /// table's rows all readable with vectors and parts of the right length.
    pub fn verify(&self) -> Result<IndexContents> {
        match self {
            IndexLocation::Folder(path) => {
                IndexReader::verify(path).map_err(|error| self.failed("verifying", error.into()))?;
                self.open()
            }
            IndexLocation::Postgres(_) => self.open(),
        }
    }
}

/// Tells when the index at a location has changed (another process committed to it), cheaply
/// enough to ask every second: a folder's manifest (each commit renames a new one into place),
/// a table's row of `lookbook_indexes` (each load or row change updates it), on one kept
/// connection.
pub struct IndexWatch {
    location: IndexLocation,
    client: Option<postgres::Client>,
}

impl IndexWatch {
    pub fn new(location: IndexLocation) -> Self {
        IndexWatch { location, client: None }
    }

    /// What identifies the committed state now: equal answers, the same index.
    pub fn version(&mut self) -> Result<String> {
        match &self.location {
            IndexLocation::Folder(path) => {
                let manifest = path.join("manifest.json");
                let bytes =
                    std::fs::read(&manifest).map_err(|e| PgError::Invalid(format!("{}: {e}", manifest.display())))?;
                Ok(format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes)))
            }
            IndexLocation::Postgres(url) => {
                let location = IndexLocation::postgres_url(url)?;
                let client = match &mut self.client {
                    Some(client) if !client.is_closed() => client,
                    slot => {
                        slot.insert(
                            location
                                .config
                                .connect(postgres::NoTls)
                                .map_err(|e| PgError::Unreachable {
                                    location: location.shown.clone(),
                                    reason: crate::error::reason(&e),
                                })?,
                        )
                    }
                };
                let row = client
                    .query_opt(
                        "SELECT rows::text || ' ' || updated_at::text FROM lookbook_indexes WHERE name = $1",
                        &[&location.table],
                    )
                    .map_err(|e| PgError::Sql {
                        location: location.shown.clone(),
                        what: "reading lookbook_indexes".into(),
                        reason: crate::error::reason(&e),
                    })?;
                Ok(row.map(|r| r.get::<_, String>(0)).unwrap_or_default())
            }
        }
    }
}
