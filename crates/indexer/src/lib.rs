//! Catalogue → index: every photo of a catalogue embedded and written, with its record, into
//! an index folder or a PostgreSQL table (`lookbook_pgvector::IndexLocation`).
//!
//! A build commits its progress every few minutes and a rerun of the same build (same
//! model, catalogue, dimensions and metric) resumes from the last commit, embedding only
//! what is missing; `index add` embeds photos the index does not hold yet, `index remove`
//! drops rows by item, image or attribute. What a person sees of it — progress bars,
//! summaries — is the caller's: [`Event`]s tell it what happened.

mod add;
mod records;
mod shards;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lookbook_catalog::Catalog;
use lookbook_embed::{DEFAULT_BATCH, EmbedError, EmbedProgress, Embedder, embed_images, loader_options};
use lookbook_imaging::BadImage;
use lookbook_index::{HnswConfig, IndexContents, IndexError, IndexInfo, IvfConfig, Record};
use lookbook_pgvector::{IndexLocation, PgError, PgIndex};

pub use add::AddBase;
pub use records::{catalog_root, image_key, record_of, relative_image, same_build, split_rows, stored_boxes};
pub use shards::{Shard, ShardPlan, embed_shard, finish_shards, plan_shard};

#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Location(#[from] PgError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    /// A request that cannot be carried out as asked (a photo not of the catalogue).
    #[error("{0}")]
    Invalid(String),
}

/// What happened while embedding into an index, for the caller to show.
#[derive(Debug)]
pub enum Event<'a> {
    /// Images done of those to embed (`done` counts from the first chunk), and the rate.
    Progress(EmbedProgress),
    /// A photo left out, and why.
    Skipped(&'a BadImage),
    /// An intermediate commit with this many images in the index.
    Committed(usize),
}

/// How embedding into an index goes.
#[derive(Debug, Clone, Copy)]
pub struct IndexingOptions {
    /// Images per forward pass.
    pub batch: usize,
    /// Images embedded between chances to commit (what a kill can cost beyond the last commit).
    pub chunk: usize,
    /// Commit progress at least this often, so a killed build resumes from there.
    pub commit_every: Duration,
    /// Store each image's attention boxes in its record (when the model has steps), so answers
    /// need not run the model for them.
    pub boxes: bool,
    /// Commit only the rows embedded (`index add`): a table inserts them row by row; a folder
    /// writes a generation of the whole index either way.
    pub rows_only: bool,
}

impl Default for IndexingOptions {
    fn default() -> Self {
        IndexingOptions {
            batch: DEFAULT_BATCH,
            chunk: 4096,
            commit_every: Duration::from_secs(300),
            boxes: true,
            rows_only: false,
        }
    }
}

/// Embeds `todo` (catalogue entries) in chunks, upserting into `contents` and committing to
/// `location` whenever `options.commit_every` has passed, and once at the end. Returns how
/// many photos were skipped.
pub fn embed_into(
    contents: &mut IndexContents,
    location: &IndexLocation,
    embedder: Arc<dyn Embedder>,
    catalog: &Catalog,
    todo: &[usize],
    options: IndexingOptions,
    on: &mut dyn FnMut(Event),
) -> Result<usize, IndexerError> {
    let mut commit = |contents: &mut IndexContents, pending: Vec<u64>, last: bool| match options.rows_only {
        true => location.commit_rows(contents, &pending, &[]),
        false if last => location.commit(contents),
        false => location.commit_progress(contents),
    };
    embed_chunks(contents, embedder, catalog, todo, options, &mut commit, on)
}

/// What [`embed_chunks`] calls to commit: the contents, the keys embedded since the last
/// commit, and whether this is the last commit.
type Commit<'a> = dyn FnMut(&mut IndexContents, Vec<u64>, bool) -> Result<(), PgError> + 'a;

/// [`embed_into`]'s loop, committing through `commit`.
fn embed_chunks(
    contents: &mut IndexContents,
    embedder: Arc<dyn Embedder>,
    catalog: &Catalog,
    todo: &[usize],
    options: IndexingOptions,
    commit: &mut Commit,
    on: &mut dyn FnMut(Event),
) -> Result<usize, IndexerError> {
    let chunk = options.chunk.max(1);
    let (dim, part_len) = (contents.info.dim, contents.info.parts * contents.info.part_dim);
    let loader = loader_options(options.batch);
    let mut last_commit = Instant::now();
    let mut skipped = 0;
    // Keys embedded since the last commit (what a rows-only commit writes).
    let mut pending: Vec<u64> = Vec::new();
    // Model and waiting time of the chunks done, so progress reports the whole build's.
    let (mut model_seconds, mut waited_seconds) = (0.0, 0.0);
    for (n, images) in todo.chunks(chunk).enumerate() {
        let offset = n * chunk;
        let mut last = None;
        let embedded = embed_images(Arc::clone(&embedder), catalog, images.to_vec(), loader, |p| {
            last = Some(p);
            on(Event::Progress(EmbedProgress {
                done: offset + p.done,
                total: todo.len(),
                model_seconds: model_seconds + p.model_seconds,
                waited_seconds: waited_seconds + p.waited_seconds,
                ..p
            }))
        })?;
        if let Some(p) = last {
            model_seconds += p.model_seconds;
            waited_seconds += p.waited_seconds;
        }
        for bad in &embedded.bad {
            on(Event::Skipped(bad));
        }
        skipped += embedded.bad.len();
        for (row, &entry) in embedded.entries.iter().enumerate() {
            let record = Record {
                boxes: embedded.boxes.get(row).filter(|_| options.boxes).map(stored_boxes),
                ..record_of(catalog, entry)
            };
            pending.push(record.key);
            contents.upsert(
                record,
                &embedded.vectors[row * dim..][..dim],
                &embedded.parts[row * part_len..][..part_len],
            )?;
        }
        let last = offset + chunk >= todo.len();
        if !last && last_commit.elapsed() >= options.commit_every {
            commit(contents, std::mem::take(&mut pending), false)?;
            last_commit = Instant::now();
            on(Event::Committed(contents.records.len()));
            crash_for_tests();
        }
    }
    commit(contents, pending, true)?;
    Ok(skipped)
}

/// Tests stop a build dead after its first intermediate commit (as a kill would) by setting
/// `LOOKBOOK_ABORT_AFTER_COMMIT`; then they check that a rerun resumes.
fn crash_for_tests() {
    if std::env::var_os("LOOKBOOK_ABORT_AFTER_COMMIT").is_some() {
        eprintln!("LOOKBOOK_ABORT_AFTER_COMMIT: stopping here");
        std::process::abort();
    }
}

/// A build about to run: what the index holds to start with, and the entries to embed.
pub struct BuildPlan {
    pub contents: IndexContents,
    pub todo: Vec<usize>,
    /// Resuming: images already indexed, and how many of them left the catalogue since.
    pub resumed: Option<(usize, usize)>,
    /// Why an index already at the location is not resumed (it will be replaced).
    pub not_resumed: Option<String>,
}

impl BuildPlan {
    /// What the plan says about an index already at `out`, for a person (none for a fresh one).
    pub fn resume_note(&self, out: &IndexLocation) -> Option<String> {
        if let Some((images, gone)) = self.resumed {
            let gone = match gone {
                0 => String::new(),
                gone => format!(", {gone} no longer in the catalogue"),
            };
            return Some(format!("resuming {out}: {images} images already indexed{gone}"));
        }
        self.not_resumed
            .as_ref()
            .map(|reason| format!("not resuming {out}: {reason}"))
    }
}

/// A finished build in one line: "N images (E embedded now, S skipped), 256-d euclidean
/// vectors, HNSW …, 12.0 s (40.0 img/s)".
pub fn build_summary(contents: &IndexContents, embedded: usize, skipped: usize, seconds: f64) -> String {
    format!(
        "{} images ({embedded} embedded now, {skipped} skipped), {}-d {} vectors{}, {seconds:.1} s ({:.1} img/s)",
        contents.records.len(),
        contents.info.dim,
        contents.info.metric,
        search_settings(contents),
        embedded as f64 / seconds.max(1e-9)
    )
}

/// The build of `selected` (catalogue entries) into `out` with `info`: resuming what is
/// there when it was built the same way (and not `fresh`), its images no longer in the
/// catalogue dropped; anything else there is replaced on the first commit.
pub fn plan_build(
    out: &IndexLocation,
    catalog: &Catalog,
    selected: &[usize],
    info: IndexInfo,
    fresh: bool,
) -> Result<BuildPlan, IndexerError> {
    let (previous, not_resumed) = match fresh || !out.exists()? {
        true => (None, None),
        false => match out.open_for_update() {
            Ok(previous) => (Some(previous), None),
            Err(err) => (None, Some(err.to_string())),
        },
    };
    let (contents, resumed) = match previous {
        Some(mut previous) if same_build(&previous.info, &info) => {
            let wanted: HashSet<u64> = selected.iter().map(|&i| image_key(&catalog.entries[i].image)).collect();
            let gone = previous.remove_where(|r| !wanted.contains(&r.key))?;
            previous.info.ann = info.ann;
            previous.info.ivf = info.ivf;
            let kept = previous.records.len();
            (previous, Some((kept, gone)))
        }
        _ => (IndexContents::new(info), None),
    };
    let todo = selected
        .iter()
        .copied()
        .filter(|&i| contents.row_of(image_key(&catalog.entries[i].image)).is_none())
        .collect();
    Ok(BuildPlan {
        contents,
        todo,
        resumed,
        not_resumed,
    })
}

/// The entries `index add` embeds: the given photos (embedded again if already there), or
/// every photo of the catalogue the index does not hold.
pub fn entries_to_add(
    holds: impl Fn(u64) -> bool,
    catalog: &Catalog,
    images: &[PathBuf],
) -> Result<Vec<usize>, IndexerError> {
    if images.is_empty() {
        return Ok((0..catalog.entries.len())
            .filter(|&i| !holds(image_key(&catalog.entries[i].image)))
            .collect());
    }
    images
        .iter()
        .map(|image| {
            let relative = relative_image(catalog, image);
            catalog.entries.iter().position(|e| e.image == relative).ok_or_else(|| {
                IndexerError::Invalid(format!(
                    "{} is not a photo of the catalogue {}",
                    image.display(),
                    catalog.root.display()
                ))
            })
        })
        .collect()
}

/// Drops the rows of `items`, of `images` (paths inside the catalogue or on disk) and those
/// matching every `(column, value)` of `filter` (when given); returns the keys that went.
pub fn remove_rows(
    contents: &mut IndexContents,
    items: &[String],
    images: &[PathBuf],
    filter: &[(String, String)],
) -> Result<Vec<u64>, IndexerError> {
    let images = rows_images(&contents.info.catalog_root, images);
    let goes = |r: &Record| {
        items.contains(&r.item_id)
            || images.contains(&r.image)
            || (!filter.is_empty() && filter.iter().all(|(c, v)| r.attributes.get(c) == Some(v)))
    };
    let mut keys = Vec::new();
    for record in contents.records.iter() {
        let record = record?;
        if goes(&record) {
            keys.push(record.key);
        }
    }
    contents.remove_where(goes)?;
    Ok(keys)
}

/// Photo paths (on disk, or as the rows hold them) as the rows hold them: relative to `root`.
fn rows_images(root: &Path, images: &[PathBuf]) -> HashSet<PathBuf> {
    images
        .iter()
        .map(|p| match p.canonicalize() {
            Ok(full) => full.strip_prefix(root).map(Path::to_path_buf).unwrap_or(full),
            Err(_) => p.clone(),
        })
        .collect()
}

/// `index remove`: [`remove_rows`] committed at `location` — a folder as a new generation, a
/// table by one DELETE that reads none of its other rows. Returns (images removed, images left).
pub fn remove_from(
    location: &IndexLocation,
    items: &[String],
    images: &[PathBuf],
    filter: &[(String, String)],
) -> Result<(usize, usize), IndexerError> {
    if let Some(table) = location.postgres() {
        let index = PgIndex::open(&table?)?;
        let images: Vec<String> = rows_images(&index.info().catalog_root, images)
            .into_iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let removed = index.remove_matching(items, &images, filter)?;
        return Ok((removed, lookbook_index::VectorIndex::len(&index)));
    }
    let mut contents = location.open_for_update()?;
    let removed = remove_rows(&mut contents, items, images, filter)?;
    if !removed.is_empty() {
        location.commit_rows(&mut contents, &[], &removed)?;
    }
    Ok((removed.len(), contents.records.len()))
}

/// The search settings a copy of `contents` keeps at `to`: into PostgreSQL an HNSW index or
/// none, never IVF lists (pgvector has none here); into a folder the `requested` settings, or
/// without them the source's (a table's HNSW settings become the folder's graph).
pub fn settle_copy(
    contents: &mut IndexContents,
    to: &IndexLocation,
    requested: Option<(Option<HnswConfig>, Option<IvfConfig>)>,
) -> Result<(), IndexerError> {
    let info = &mut contents.info;
    match (to, requested) {
        (IndexLocation::Postgres(_), Some((_, Some(_)))) => {
            return Err(IndexerError::Invalid(
                "an index in PostgreSQL keeps an HNSW index (--ann hnsw) or none (--ann none)".into(),
            ));
        }
        (IndexLocation::Postgres(_), requested) => (info.ann, info.ivf) = (requested.and_then(|r| r.0), None),
        (IndexLocation::Folder(_), Some(settings)) => (info.ann, info.ivf) = settings,
        (IndexLocation::Folder(_), None) => info.ivf = info.ivf.filter(|_| info.ann.is_none()),
    }
    Ok(())
}

/// How the index searches, for a summary line: ", HNSW M 16 ef 64 f32", ", IVF …" or "".
pub fn search_settings(contents: &IndexContents) -> String {
    match (contents.info.ann, contents.info.ivf) {
        (Some(c), _) => format!(
            ", HNSW M {} ef {} {}",
            c.connectivity, c.expansion_search, c.quantization
        ),
        (None, Some(_)) => contents.ivf().map_or(String::new(), |ivf| {
            let c = ivf.config();
            format!(", IVF {} lists, {} probes, {}", c.lists, c.probes, c.quantization)
        }),
        (None, None) => String::new(),
    }
}

/// What an index holds and how it searches, in one line: "N images of M items, 256-d
/// euclidean vectors (5 parts × 64), model …, catalogue …, HNSW M 16 … (3.1 MiB)".
pub fn describe(contents: &IndexContents) -> Result<String, IndexerError> {
    let info = &contents.info;
    let items = contents
        .records
        .iter()
        .map(|r| r.map(|r| r.item_id.clone()))
        .collect::<Result<HashSet<String>, _>>()?
        .len();
    let searched = match (info.ann, contents.graph(), contents.ivf(), contents.external()) {
        (_, _, _, Some(external)) => format!(", {}", external.describe()),
        (Some(c), Some(g), _, _) => format!(
            ", HNSW M {} ef_construction {} ef {} {} ({:.1} MiB)",
            c.connectivity,
            c.expansion_add,
            c.expansion_search,
            c.quantization,
            g.serialized_len() as f64 / 1048576.0
        ),
        (_, _, Some(ivf), _) => {
            let c = ivf.config();
            format!(
                ", IVF {} lists, {} probes, {} ({:.1} MiB)",
                c.lists,
                c.probes,
                c.quantization,
                ivf.memory_usage() as f64 / 1048576.0
            )
        }
        _ => ", exact search".into(),
    };
    Ok(format!(
        "{} images of {items} items, {}-d {} vectors ({} parts × {}), model {}, catalogue {}{searched}",
        contents.records.len(),
        info.dim,
        info.metric,
        info.parts,
        info.part_dim,
        info.model,
        info.catalog_root.display(),
    ))
}
