//! One build split between processes or machines (`lookbook index --shard I/N`): shard I
//! embeds the catalogue's images whose key falls to it and inserts them into one shared
//! PostgreSQL table, each row where a single build would have put it; a killed shard reruns
//! and embeds only what it has not committed; `index finish` builds the HNSW index once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use lookbook_catalog::Catalog;
use lookbook_embed::Embedder;
use lookbook_index::{IndexContents, IndexInfo};
use lookbook_pgvector::{IndexLocation, PgError, PgIndex, PgLocation};

use crate::{Event, IndexerError, IndexingOptions, embed_chunks, image_key, same_build};

/// Shard `number` of `count` (1-based, as written: `--shard 2/4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub number: usize,
    pub count: usize,
}

impl Shard {
    /// Whether the image with this key is this shard's to embed. Keys are hashes of the
    /// photos' paths, so shards get near-equal shares of any catalogue.
    pub fn holds(&self, key: u64) -> bool {
        key % self.count as u64 == (self.number - 1) as u64
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let parsed = text
            .split_once('/')
            .and_then(|(i, n)| Some((i.trim().parse::<usize>().ok()?, n.trim().parse::<usize>().ok()?)));
        match parsed {
            Some((number, count)) if (1..=count).contains(&number) && count <= 65_536 => Ok(Shard { number, count }),
            _ => Err(format!("`{text}`: a shard is I/N with 1 ≤ I ≤ N (e.g. 2/4)")),
        }
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.number, self.count)
    }
}

/// A shard's part of a build: the table it writes into and the entries left to embed.
pub struct ShardPlan {
    pub index: PgIndex,
    pub shard: Shard,
    /// Catalogue entries of this shard not in the table yet.
    pub todo: Vec<usize>,
    /// This shard's images already in the table (a resumed shard).
    pub already: usize,
}

impl ShardPlan {
    /// What the shard is about to do, in one line.
    pub fn start_note(&self) -> String {
        format!("{} images to embed, {} already there", self.todo.len(), self.already)
    }

    /// What a finished shard did, in one line, and what comes next.
    pub fn summary(&self, skipped: usize, seconds: f64) -> String {
        let embedded = self.todo.len() - skipped;
        format!(
            "{embedded} images embedded now, {skipped} skipped, {} before; {seconds:.1} s ({:.1} img/s). \
             When every shard is done: lookbook index finish --index URL",
            self.already,
            embedded as f64 / seconds.max(1e-9)
        )
    }
}

/// Joins (or starts) the build of `selected` into the table at `location` as `shard`: the
/// table must hold the same build (model, catalogue, dimensions, metric) or be new.
pub fn plan_shard(
    out: &IndexLocation,
    catalog: &Catalog,
    selected: &[usize],
    info: IndexInfo,
    shard: Shard,
) -> Result<ShardPlan, IndexerError> {
    let location = postgres(
        out,
        "--shard fills a PostgreSQL table (postgres://…?table=NAME) that shards share",
    )?;
    let location = &location;
    let (index, there) = PgIndex::join_build(location, info.clone())?;
    if !same_build(&there, &info) {
        return Err(IndexerError::Invalid(format!(
            "{location} holds another build ({}, {}-d {}, catalogue {}): shards only join a build of the same model \
             and catalogue; drop the table or choose another",
            there.model,
            there.dim,
            there.metric,
            there.catalog_root.display()
        )));
    }
    let present: HashSet<u64> = index.keys()?.into_iter().collect();
    let mine: Vec<usize> = selected
        .iter()
        .copied()
        .filter(|&i| shard.holds(image_key(&catalog.entries[i].image)))
        .collect();
    let todo: Vec<usize> = mine
        .iter()
        .copied()
        .filter(|&i| !present.contains(&image_key(&catalog.entries[i].image)))
        .collect();
    Ok(ShardPlan {
        already: mine.len() - todo.len(),
        index,
        shard,
        todo,
    })
}

/// Embeds the plan's entries and inserts them into its table, committing whenever
/// `options.commit_every` has passed and at the end; rows leave memory once committed, so a
/// shard holds at most one commit's worth. Returns how many photos were skipped.
pub fn embed_shard(
    plan: &ShardPlan,
    embedder: Arc<dyn Embedder>,
    catalog: &Catalog,
    options: IndexingOptions,
    on: &mut dyn FnMut(Event),
) -> Result<usize, IndexerError> {
    // A row's place is its entry's in the catalogue: the order a single build writes.
    let positions: HashMap<u64, i64> = plan
        .todo
        .iter()
        .map(|&i| (image_key(&catalog.entries[i].image), i as i64))
        .collect();
    let mut contents = IndexContents::new(plan.index.info().clone());
    let mut commit = |contents: &mut IndexContents, pending: Vec<u64>, _last: bool| -> Result<(), PgError> {
        let mut rows = Vec::with_capacity(pending.len());
        for &key in &pending {
            let row = contents
                .row_of(key)
                .ok_or_else(|| PgError::Invalid(format!("key {key} was embedded but is not in the shard's rows")))?;
            rows.push((row, contents.records.get(row)?.into_owned()));
        }
        let rows: Vec<_> = rows
            .into_iter()
            .map(|(row, record)| (record, contents.vector_of(row), contents.parts_of(row)))
            .collect();
        let places: Vec<i64> = pending.iter().map(|key| positions[key]).collect();
        plan.index.insert_at(&rows, &places)?;
        let written: HashSet<u64> = pending.into_iter().collect();
        contents.remove_where(|record| written.contains(&record.key))?;
        Ok(())
    };
    embed_chunks(&mut contents, embedder, catalog, &plan.todo, options, &mut commit, on)
}

/// `index finish`: builds the HNSW index of a table that shards filled; says what it holds.
pub fn finish_shards(index: &IndexLocation) -> Result<String, IndexerError> {
    let location = postgres(index, "only a sharded build into PostgreSQL needs finishing")?;
    let seconds = PgIndex::open(&location)?.finish_build()?;
    Ok(format!(
        "finished in {seconds:.1} s — {}",
        crate::describe(&index.open()?)?
    ))
}

/// The table `location` names, or `why` a folder will not do.
fn postgres(location: &IndexLocation, why: &str) -> Result<PgLocation, IndexerError> {
    match location.postgres() {
        Some(table) => Ok(table?),
        None => Err(IndexerError::Invalid(format!("{location} is a folder: {why}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_split_every_key_once() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { number: 2, count: 4 }));
        for bad in ["0/4", "5/4", "4", "a/b", "1/0", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let shards: Vec<Shard> = (1..=3).map(|i| Shard { number: i, count: 3 }).collect();
        for key in (0..1000u64).map(|k| k.wrapping_mul(0x9e37_79b9_7f4a_7c15)) {
            assert_eq!(shards.iter().filter(|s| s.holds(key)).count(), 1, "key {key}");
        }
    }
}
