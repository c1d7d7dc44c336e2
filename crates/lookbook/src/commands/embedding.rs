//! What `index` and `eval` share: choosing an embedder and embedding catalogue images with a
//! progress bar.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use lookbook_catalog::{Catalog, OpenOptions, Split};
use lookbook_embed::{DEFAULT_BATCH, Embedded, Embedder, embed_images, loader_options};
use lookbook_query::HISTOGRAM_MODEL;

use super::query::open_model;

#[derive(Clone, Copy, ValueEnum)]
pub enum Baseline {
    /// 8×8×8 RGB histogram of the non-background pixels.
    Histogram,
}

/// Which vectors: a trained run, or a baseline.
#[derive(Args)]
pub struct EmbedderArgs {
    /// Run folder (its latest checkpoint), a checkpoint folder, or `imagenet:efficientnet-lite0`
    /// (ImageNet features, untrained here: the baseline a trained model must beat).
    /// (Required unless --baseline; `eval --index` needs neither.)
    #[arg(long, conflicts_with = "baseline")]
    pub model: Option<PathBuf>,
    /// A model-free baseline instead of --model.
    #[arg(long)]
    pub baseline: Option<Baseline>,
    /// Images per forward pass.
    #[arg(long, default_value_t = DEFAULT_BATCH)]
    pub batch: usize,
}

impl EmbedderArgs {
    /// The embedder and the `model` string an index records for it.
    pub fn embedder(&self) -> Result<(Arc<dyn Embedder>, String)> {
        match (&self.model, self.baseline) {
            (_, Some(Baseline::Histogram)) => embedder_for(Path::new(HISTOGRAM_MODEL)),
            (Some(run), None) => embedder_for(run),
            (None, None) => anyhow::bail!("pass --model RUN or --baseline histogram"),
        }
    }
}

/// The embedder an index's `model` string names, and the `model` an index built with it records.
pub fn embedder_for(model: &Path) -> Result<(Arc<dyn Embedder>, String)> {
    let opened = open_model(model)?;
    Ok((opened.embedder, opened.recorded))
}

/// A catalogue read with default options (as `lookbook train` reads it).
pub fn open_catalog(dir: &Path) -> Result<Catalog> {
    Catalog::open(dir, &OpenOptions::default()).with_context(|| format!("reading catalogue {}", dir.display()))
}

/// `--split`: one split of the catalogue, or all of it.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitChoice {
    All,
    Train,
    Val,
    Test,
    Query,
    Gallery,
}

impl SplitChoice {
    pub fn accepts(self, split: Split) -> bool {
        let name = self.to_possible_value().expect("no skipped values");
        self == SplitChoice::All || name.get_name() == split.as_str()
    }
}

/// A bar for `total` images (hidden with `--quiet`).
pub fn progress_bar(total: usize, quiet: bool) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total as u64)
    };
    bar.set_style(ProgressStyle::with_template("embedding {bar:30} {pos}/{len} {msg}").expect("static template"));
    bar
}

/// Embeds `order`, moving `bar` from `offset` (so chunks of one job share a bar); bad
/// images are listed on stderr and left out.
pub fn embed_with_progress(
    embedder: Arc<dyn Embedder>,
    catalog: &Catalog,
    order: Vec<usize>,
    batch: usize,
    bar: &ProgressBar,
    offset: usize,
) -> Result<Embedded> {
    let embedded = embed_images(embedder, catalog, order, loader_options(batch), |p| {
        bar.set_position((offset + p.done) as u64);
        bar.set_message(format!("{:.1} img/s", p.images_per_second));
    })?;
    for bad in &embedded.bad {
        bar.suspend(|| eprintln!("skipped {bad}"));
    }
    Ok(embedded)
}
