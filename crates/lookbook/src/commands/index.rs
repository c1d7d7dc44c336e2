//! `lookbook index`: embed a catalogue and write the index folder.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use lookbook_index::{IndexContents, IndexInfo, IndexWriter, Metric, Record};

use super::embedding::{EmbedderArgs, SplitChoice, embed_with_progress, open_catalog};

#[derive(Args)]
pub struct IndexArgs {
    #[command(flatten)]
    embedder: EmbedderArgs,
    /// Catalogue folder.
    #[arg(long)]
    catalog: PathBuf,
    /// Index folder (created; an index already there is replaced when this one is complete).
    #[arg(long)]
    out: PathBuf,
    /// Which images to index.
    #[arg(long, value_enum, default_value = "all")]
    split: SplitChoice,
    /// Distance: euclidean (the study) or cosine.
    #[arg(long, default_value = "euclidean")]
    metric: Metric,
}

/// A stable key for an image: its path inside the catalogue, hashed.
pub fn image_key(image: &std::path::Path) -> u64 {
    xxhash_rust::xxh3::xxh3_64(image.to_string_lossy().as_bytes())
}

pub fn run(args: IndexArgs, quiet: bool) -> Result<ExitCode> {
    let catalog = open_catalog(&args.catalog)?;
    let (embedder, model) = args.embedder.embedder()?;
    let order: Vec<usize> = (0..catalog.entries.len())
        .filter(|&i| args.split.accepts(catalog.entries[i].split))
        .collect();
    let (parts, part_dim) = embedder.parts();
    let info = IndexInfo {
        dim: embedder.dim(),
        metric: args.metric,
        parts,
        part_dim,
        model,
        catalog_root: catalog.root.canonicalize().unwrap_or_else(|_| catalog.root.clone()),
        columns: catalog.columns.clone(),
    };
    eprintln!(
        "indexing {} images of {} with {}",
        order.len(),
        catalog.root.display(),
        embedder.describe()
    );
    let start = Instant::now();
    let embedded = embed_with_progress(embedder, &catalog, order, args.embedder.batch, quiet)?;
    let mut contents = IndexContents::new(info);
    let part_len = parts * part_dim;
    for (row, &entry) in embedded.entries.iter().enumerate() {
        let e = &catalog.entries[entry];
        let attributes: BTreeMap<String, String> = catalog
            .columns
            .iter()
            .zip(&e.values)
            .filter(|(_, v)| !v.is_empty())
            .map(|(c, v)| (c.clone(), v.clone()))
            .collect();
        let record = Record {
            key: image_key(&e.image),
            item_id: e.item_id.clone(),
            image: e.image.clone(),
            attributes,
        };
        let vector = &embedded.vectors[row * contents.info.dim..][..contents.info.dim];
        let part = &embedded.parts[row * part_len..][..part_len];
        contents.upsert(record, vector, part)?;
    }
    IndexWriter::new(&args.out)?
        .commit(&contents)
        .with_context(|| format!("writing the index {}", args.out.display()))?;
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "index {}: {} images ({} skipped), {}-d {} vectors, {:.1} s ({:.1} img/s)",
        args.out.display(),
        contents.records.len(),
        embedded.bad.len(),
        contents.info.dim,
        contents.info.metric,
        seconds,
        contents.records.len() as f64 / seconds.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}
