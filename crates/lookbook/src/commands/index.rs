//! `lookbook index`: embed a catalogue into an index folder (resuming a build that was cut
//! short), and `index add | remove | verify` to keep one up to date without a rebuild.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use lookbook_catalog::Catalog;
use lookbook_embed::Embedder;
use lookbook_index::{HnswConfig, IndexInfo, IvfConfig, Metric, Quantization};
use lookbook_indexer::{
    AddBase, Event, IndexerError, IndexingOptions, Shard, build_summary, catalog_root, describe, embed_into,
    embed_shard, finish_shards, plan_build, plan_shard, remove_from, settle_copy,
};
use lookbook_pgvector::IndexLocation;

use super::embedding::{EmbedderArgs, SplitChoice, embedder_for, open_catalog, progress_bar};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct IndexCommand {
    #[command(subcommand)]
    action: Option<IndexAction>,
    #[command(flatten)]
    build: BuildArgs,
}

#[derive(Subcommand)]
enum IndexAction {
    /// Embed images of the index's catalogue that it does not hold yet (or the given ones
    /// again), and commit.
    Add(AddArgs),
    /// Drop images by item id, image path or attribute value, and commit.
    Remove(RemoveArgs),
    /// Check every file's length and checksum (in PostgreSQL: every row readable), and print
    /// what the index holds.
    Verify {
        /// Index folder, or postgres://user@host:port/db?table=NAME.
        #[arg(long)]
        index: IndexLocation,
    },
    /// End a sharded build (`lookbook index --shard I/N`) once every shard has run: build the
    /// table's HNSW index and refresh its statistics.
    Finish {
        /// postgres://user@host:port/db?table=NAME.
        #[arg(long)]
        index: IndexLocation,
    },
    /// Copy an index as it is (no embedding): a folder into PostgreSQL, or back.
    Copy {
        /// The index to read.
        #[arg(long)]
        from: IndexLocation,
        /// Where to write it (replaced atomically).
        #[arg(long)]
        to: IndexLocation,
        /// Give the copy an HNSW index with the graph settings below (a folder's default
        /// keeps the source's settings).
        #[command(flatten)]
        ann: AnnArgs,
    },
}

/// `--ann`: which approximate index to keep beside the vectors.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Ann {
    /// A graph when the index holds at least 20,000 images (below that exact search is
    /// fast enough and exact).
    Auto,
    /// An HNSW graph: the fastest single queries.
    Hnsw,
    /// Inverted-file lists (k-means): the fastest batches of queries, the smallest index.
    Ivf,
    /// None: every search is exact.
    None,
}

const ANN_AUTO_THRESHOLD: usize = 20_000;

#[derive(Args)]
struct BuildArgs {
    #[command(flatten)]
    embedder: EmbedderArgs,
    /// Catalogue folder.
    #[arg(long, required = true)]
    catalog: Option<PathBuf>,
    /// Index folder, or postgres://user@host:port/db?table=NAME. An index of the same model
    /// and catalogue already there is resumed (only missing images are embedded); anything
    /// else there is replaced when the new one is complete.
    #[arg(long, required = true)]
    out: Option<IndexLocation>,
    /// Which images to index.
    #[arg(long, value_enum, default_value = "all")]
    split: SplitChoice,
    /// Distance: euclidean (the study) or cosine.
    #[arg(long, default_value = "euclidean")]
    metric: Metric,
    /// Start over even if INDEX holds a build of the same model to resume.
    #[arg(long)]
    fresh: bool,
    /// Commit progress at least this often (seconds), so a killed build resumes from there.
    #[arg(long, default_value_t = 300)]
    commit_every: u64,
    /// Images embedded between chances to commit (what a kill can cost beyond the last
    /// commit; small values are for tests).
    #[arg(long, default_value_t = 4096, hide = true)]
    chunk: usize,
    /// Leave each photo's attention boxes out of the records (~80 bytes per step): answers
    /// then run the model for them, as for an index built before boxes were stored.
    #[arg(long)]
    no_boxes: bool,
    /// Embed only shard I of N (1-based: 1/4 … 4/4) into a PostgreSQL table that N processes
    /// fill at once, each resumable; `lookbook index finish` then builds the HNSW index once.
    #[arg(long, value_name = "I/N", conflicts_with = "fresh")]
    shard: Option<Shard>,
    #[command(flatten)]
    ann: AnnArgs,
}

#[derive(Args, Clone, Copy)]
struct AnnArgs {
    /// Approximate search graph.
    #[arg(long, value_enum, default_value = "auto")]
    ann: Ann,
    /// Graph neighbours per node (M).
    #[arg(long, default_value_t = HnswConfig::default().connectivity)]
    connectivity: usize,
    /// Candidates while inserting (ef_construction).
    #[arg(long, default_value_t = HnswConfig::default().expansion_add)]
    ef_construction: usize,
    /// Candidates while searching (ef); `lookbook search --ef` overrides it per query.
    #[arg(long, default_value_t = HnswConfig::default().expansion_search)]
    ef: usize,
    /// IVF lists (k-means centres); 0 = about √n.
    #[arg(long, default_value_t = IvfConfig::default().lists)]
    lists: usize,
    /// IVF lists each query scans; `lookbook search --probes` overrides it per query.
    #[arg(long, default_value_t = IvfConfig::default().probes)]
    probes: usize,
    /// How vectors are stored: f32, f16 (HNSW only) or i8 (a quarter of f32's memory).
    /// Default: f32 for a graph, i8 for IVF lists.
    #[arg(long)]
    quantization: Option<Quantization>,
}

impl AnnArgs {
    /// The graph or IVF settings for an index of `images` (neither: exact search only).
    fn config(&self, images: usize) -> (Option<HnswConfig>, Option<IvfConfig>) {
        match self.ann {
            Ann::Auto if images < ANN_AUTO_THRESHOLD => (None, None),
            Ann::Auto | Ann::Hnsw => (
                Some(HnswConfig {
                    connectivity: self.connectivity,
                    expansion_add: self.ef_construction,
                    expansion_search: self.ef,
                    quantization: self.quantization.unwrap_or(Quantization::F32),
                }),
                None,
            ),
            Ann::Ivf => (
                None,
                Some(IvfConfig {
                    lists: self.lists,
                    probes: self.probes,
                    quantization: self.quantization.unwrap_or(Quantization::I8),
                }),
            ),
            Ann::None => (None, None),
        }
    }
}

#[derive(Args)]
struct AddArgs {
    /// Index folder, or postgres://user@host:port/db?table=NAME.
    #[arg(long)]
    index: IndexLocation,
    /// The catalogue to add from (default: the one the index was built from).
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Only these images (paths of catalogue photos), embedded again if already there.
    images: Vec<PathBuf>,
    /// Images per forward pass.
    #[arg(long, default_value_t = lookbook_embed::DEFAULT_BATCH)]
    batch: usize,
}

#[derive(Args)]
struct RemoveArgs {
    /// Index folder, or postgres://user@host:port/db?table=NAME.
    #[arg(long)]
    index: IndexLocation,
    /// Every image of this item (repeatable).
    #[arg(long)]
    item: Vec<String>,
    /// This image, as a path inside the catalogue or on disk (repeatable).
    #[arg(long)]
    image: Vec<PathBuf>,
    /// Every image whose attribute has this value, e.g. product_group_name=Unknown (repeatable;
    /// an image must match all).
    #[arg(long, value_parser = super::query::parse_filter)]
    filter: Vec<(String, String)>,
}

pub fn run(command: IndexCommand, quiet: bool) -> Result<ExitCode> {
    match command.action {
        None => build(command.build, quiet),
        Some(IndexAction::Add(args)) => add(args, quiet),
        Some(IndexAction::Remove(args)) => remove(args),
        Some(IndexAction::Verify { index }) => verify(&index),
        Some(IndexAction::Finish { index }) => finish(&index),
        Some(IndexAction::Copy { from, to, ann }) => copy(&from, &to, &ann),
    }
}

/// Runs `embed` (of `total` images) with a progress bar, skipped photos listed on stderr.
fn with_bar(
    total: usize,
    quiet: bool,
    embed: impl FnOnce(&mut dyn FnMut(Event)) -> Result<usize, IndexerError>,
) -> Result<usize> {
    let bar = progress_bar(total, quiet);
    let mut last = None;
    let skipped = embed(&mut |event| match event {
        Event::Progress(p) => {
            last = Some(p);
            bar.set_position(p.done as u64);
            bar.set_message(format!("{:.1} img/s", p.images_per_second));
        }
        Event::Skipped(bad) => bar.suspend(|| eprintln!("skipped {bad}")),
        Event::Committed(images) => tracing::info!("committed {images} images"),
    })?;
    bar.finish_and_clear();
    if let Some(p) = last.filter(|_| !quiet) {
        eprintln!(
            "embedding: the model ran {:.1} s and waited {:.1} s for decoded photos (decoding runs beside it)",
            p.model_seconds, p.waited_seconds
        );
    }
    Ok(skipped)
}

fn build(args: BuildArgs, quiet: bool) -> Result<ExitCode> {
    let (catalog_dir, out) = (
        args.catalog.expect("clap requires --catalog"),
        args.out.expect("clap requires --out"),
    );
    let catalog = open_catalog(&catalog_dir)?;
    let (embedder, model) = args.embedder.embedder()?;
    let selected: Vec<usize> = (0..catalog.entries.len())
        .filter(|&i| args.split.accepts(catalog.entries[i].split))
        .collect();
    let (parts, part_dim) = embedder.parts();
    let info = IndexInfo {
        dim: embedder.dim(),
        metric: args.metric,
        parts,
        part_dim,
        label_part: embedder.label_part(),
        model,
        catalog_root: catalog_root(&catalog),
        columns: catalog.columns.clone(),
        ann: args.ann.config(selected.len()).0,
        ivf: args.ann.config(selected.len()).1,
    };
    let options = IndexingOptions {
        batch: args.embedder.batch,
        chunk: args.chunk,
        commit_every: Duration::from_secs(args.commit_every),
        boxes: !args.no_boxes,
        rows_only: args.shard.is_some(),
    };
    if let Some(shard) = args.shard {
        return build_shard(&out, &catalog, &selected, info, shard, (embedder, options), quiet);
    }
    // Resume only what was built the same way; anything else is replaced on commit.
    let plan = plan_build(&out, &catalog, &selected, info, args.fresh)?;
    if let Some(note) = plan.resume_note(&out) {
        eprintln!("{note}");
    }
    let (mut contents, todo) = (plan.contents, plan.todo);
    eprintln!(
        "indexing {} images of {} with {}",
        todo.len(),
        catalog.root.display(),
        embedder.describe()
    );
    let start = Instant::now();
    let skipped = with_bar(todo.len(), quiet, |on| {
        embed_into(&mut contents, &out, embedder, &catalog, &todo, options, on)
    })
    .with_context(|| format!("writing the index {out}"))?;
    let summary = build_summary(&contents, todo.len() - skipped, skipped, start.elapsed().as_secs_f64());
    println!("index {out}: {summary}");
    Ok(ExitCode::SUCCESS)
}

/// `index --shard I/N`: this shard's images into the shared table (see [`plan_shard`]).
fn build_shard(
    out: &IndexLocation,
    catalog: &Catalog,
    selected: &[usize],
    info: IndexInfo,
    shard: Shard,
    (embedder, options): (Arc<dyn Embedder>, IndexingOptions),
    quiet: bool,
) -> Result<ExitCode> {
    let plan = plan_shard(out, catalog, selected, info, shard)?;
    eprintln!("shard {shard} of {out}: {}", plan.start_note());
    let start = Instant::now();
    let skipped = with_bar(plan.todo.len(), quiet, |on| {
        embed_shard(&plan, embedder, catalog, options, on)
    })
    .with_context(|| format!("writing shard {shard} into {out}"))?;
    println!(
        "shard {shard} of {out}: {}",
        plan.summary(skipped, start.elapsed().as_secs_f64())
    );
    Ok(ExitCode::SUCCESS)
}

/// `index finish`: the HNSW index of a table that shards filled.
fn finish(index: &IndexLocation) -> Result<ExitCode> {
    println!("index {index}: {}", finish_shards(index)?);
    Ok(ExitCode::SUCCESS)
}

fn add(args: AddArgs, quiet: bool) -> Result<ExitCode> {
    let mut base = AddBase::open(&args.index)?;
    let info = base.contents.info.clone();
    let catalog = open_catalog(args.catalog.as_ref().unwrap_or(&info.catalog_root))?;
    let (embedder, model) = embedder_for(Path::new(&info.model))?;
    if model != info.model || embedder.dim() != info.dim {
        bail!(
            "the index was built with {}, which now loads as {model} ({}-d); rebuild it",
            info.model,
            embedder.dim()
        );
    }
    let todo = base.todo(&catalog, &args.images)?;
    let options = IndexingOptions {
        batch: args.batch,
        rows_only: true,
        ..IndexingOptions::default()
    };
    let skipped = with_bar(todo.len(), quiet, |on| {
        embed_into(&mut base.contents, &args.index, embedder, &catalog, &todo, options, on)
    })?;
    println!(
        "index {}: {} images embedded ({} new, {} skipped); {} in all",
        args.index,
        todo.len() - skipped,
        base.added(),
        skipped,
        base.images()
    );
    Ok(ExitCode::SUCCESS)
}

fn remove(args: RemoveArgs) -> Result<ExitCode> {
    if args.item.is_empty() && args.image.is_empty() && args.filter.is_empty() {
        bail!("say what to remove: --item ID, --image PATH or --filter COLUMN=VALUE");
    }
    let (removed, left) = remove_from(&args.index, &args.item, &args.image, &args.filter)?;
    println!("index {}: {removed} images removed; {left} left", args.index);
    Ok(ExitCode::SUCCESS)
}

fn verify(index: &IndexLocation) -> Result<ExitCode> {
    let contents = index.verify()?;
    println!("index {index}: ok — {}", describe(&contents)?);
    Ok(ExitCode::SUCCESS)
}

/// `index copy`: the rows as they are, into a folder or a table. Into PostgreSQL the copy
/// gets an HNSW index unless `--ann none` (pgvector has no IVF lists here); into a folder
/// the source's graph or lists settings are kept unless `--ann` says otherwise.
fn copy(from: &IndexLocation, to: &IndexLocation, ann: &AnnArgs) -> Result<ExitCode> {
    let start = Instant::now();
    let mut contents = from.open_for_update()?;
    let images = contents.records.len();
    let requested = match (to, ann.ann) {
        (IndexLocation::Postgres(_), Ann::Auto) => Some(AnnArgs { ann: Ann::Hnsw, ..*ann }.config(images)),
        (_, Ann::Auto) => None,
        _ => Some(ann.config(images)),
    };
    settle_copy(&mut contents, to, requested)?;
    to.commit(&mut contents)
        .with_context(|| format!("writing the index {to}"))?;
    println!(
        "index {to}: {images} images copied from {from} in {:.1} s{}",
        start.elapsed().as_secs_f64(),
        match contents.info.ann {
            Some(c) => format!(", HNSW M {} ef_construction {}", c.connectivity, c.expansion_add),
            None => String::new(),
        }
    );
    Ok(ExitCode::SUCCESS)
}
