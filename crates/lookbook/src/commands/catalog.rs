//! `lookbook catalog inspect|check`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use lookbook_catalog::{
    Catalog, CatalogFormat, CatalogSummary, LabelVocabulary, LabelledListConfig, OpenOptions, SplitFractions,
    VocabularyConfig,
};
use lookbook_imaging::{BatchLoader, ImageSpec, LoaderOptions, Preprocessor};
use serde::Serialize;

#[derive(Subcommand)]
pub enum CatalogCommand {
    /// Format, images, items, images per item, label vocabulary, splits, missing files.
    Inspect {
        #[command(flatten)]
        catalog: CatalogArgs,
        #[command(flatten)]
        labels: LabelArgs,
        /// Print the whole report as JSON.
        #[arg(long)]
        json: bool,
        /// How many problems to list (all of them are counted; --json lists all).
        #[arg(long, default_value_t = 20)]
        show_problems: usize,
    },
    /// Decode every image through the model's pipeline and list the ones that fail.
    /// Exits with status 1 when any image is bad.
    Check {
        #[command(flatten)]
        catalog: CatalogArgs,
        /// Input size HxW the images are letterboxed to.
        #[arg(long, default_value = "384x256", value_parser = parse_size)]
        size: (u32, u32),
        /// Decoding threads (0 = one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Where the catalogue is and how to read it.
#[derive(Args)]
pub struct CatalogArgs {
    /// Catalogue folder.
    pub dir: PathBuf,
    /// Format instead of auto-detection: hm, myntra, inshop, folder, labelled.
    #[arg(long)]
    pub format: Option<CatalogFormat>,
    /// Train,val,test fractions for catalogues without their own splits.
    #[arg(long, default_value = "0.7,0.1,0.2", value_parser = parse_fractions)]
    pub split_fractions: SplitFractions,
    /// Plain folders: the item id is the file stem, not the parent folder.
    #[arg(long)]
    pub item_from_stem: bool,
    /// Labelled lists: the CSV/TSV file (relative to DIR).
    #[arg(long)]
    pub list_file: Option<PathBuf>,
    /// Labelled lists: image path column.
    #[arg(long)]
    pub image_column: Option<String>,
    /// Labelled lists: item id column.
    #[arg(long)]
    pub item_column: Option<String>,
    /// Labelled lists: labels column.
    #[arg(long)]
    pub labels_column: Option<String>,
    /// Labelled lists: separator between labels (default: `|`, else `;`, else whitespace).
    #[arg(long)]
    pub label_separator: Option<String>,
}

impl CatalogArgs {
    pub fn open(&self) -> Result<Catalog> {
        let labelled = LabelledListConfig {
            file: self.list_file.clone(),
            image_column: self.image_column.clone(),
            item_column: self.item_column.clone(),
            labels_column: self.labels_column.clone(),
            label_separator: self.label_separator.clone(),
            ..LabelledListConfig::default()
        };
        let options = OpenOptions {
            format: self.format,
            fractions: self.split_fractions,
            item_from_stem: self.item_from_stem,
            labelled: (labelled != LabelledListConfig::default()).then_some(labelled),
        };
        Catalog::open(&self.dir, &options).with_context(|| format!("reading catalogue {}", self.dir.display()))
    }
}

/// Which attribute values become labels.
#[derive(Args)]
pub struct LabelArgs {
    /// A value needs this many images to become a label.
    #[arg(long, default_value_t = 20)]
    pub min_label_count: usize,
    /// Attribute columns to draw labels from (comma-separated; default: the format's).
    #[arg(long, value_delimiter = ',')]
    pub label_columns: Option<Vec<String>>,
    /// Keep colour columns as labels (the study's seed model left them out).
    #[arg(long)]
    pub include_colour: bool,
}

impl LabelArgs {
    pub fn config(&self) -> VocabularyConfig {
        VocabularyConfig {
            columns: self.label_columns.clone(),
            min_count: self.min_label_count,
            include_colour: self.include_colour,
            ..VocabularyConfig::default()
        }
    }
}

pub fn run(command: CatalogCommand, quiet: bool) -> Result<ExitCode> {
    match command {
        CatalogCommand::Inspect {
            catalog,
            labels,
            json,
            show_problems,
        } => inspect(&catalog, &labels, json, show_problems),
        CatalogCommand::Check {
            catalog,
            size,
            threads,
            json,
        } => check(&catalog, size, threads, json, quiet),
    }
}

fn inspect(args: &CatalogArgs, labels: &LabelArgs, json: bool, show_problems: usize) -> Result<ExitCode> {
    let catalog = args.open()?;
    let vocabulary = LabelVocabulary::build(&catalog, &catalog.entries, &labels.config());
    let summary = CatalogSummary::new(&catalog, &vocabulary);
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("catalogue    {}", summary.root.display());
    println!("format       {}", summary.format);
    println!("images       {}", summary.images);
    println!("items        {}", summary.items);
    println!("images/item  {}", histogram(&summary));
    println!("columns      {}", summary.columns.join(", "));
    println!(
        "labels       {} (values with >= {} images, from: {})",
        summary.label_vocabulary_size,
        summary.min_label_count,
        if summary.label_columns.is_empty() {
            "free labels".to_string()
        } else {
            summary.label_columns.join(", ")
        }
    );
    let splits: Vec<String> = summary.splits.iter().map(|(s, n)| format!("{s} {n}")).collect();
    let origin = if summary.splits_from_source {
        "from the catalogue"
    } else {
        "by item-id hash"
    };
    println!("splits       {} ({origin})", splits.join(", "));
    println!(
        "problems     {} missing images, {} malformed rows skipped, {} rows repaired",
        summary.missing_images, summary.malformed_rows, summary.repaired_rows
    );
    for problem in summary.problems.iter().take(show_problems) {
        println!("  {problem}");
    }
    if summary.problems.len() > show_problems {
        println!(
            "  … {} more (--show-problems N or --json)",
            summary.problems.len() - show_problems
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn histogram(summary: &CatalogSummary) -> String {
    summary
        .images_per_item
        .iter()
        .map(|b| format!("{}: {}", b.images, b.items))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Serialize)]
struct CheckReport {
    catalogue: PathBuf,
    checked: usize,
    decoded: usize,
    seconds: f64,
    images_per_second: f64,
    bad: Vec<BadFile>,
}

#[derive(Serialize)]
struct BadFile {
    path: PathBuf,
    reason: String,
}

fn check(args: &CatalogArgs, (height, width): (u32, u32), threads: usize, json: bool, quiet: bool) -> Result<ExitCode> {
    let catalog = args.open()?;
    let preprocessor = Preprocessor::new(ImageSpec::with_size(height, width))?;
    let paths: Vec<PathBuf> = catalog.entries.iter().map(|e| catalog.image_path(e)).collect();
    let total = paths.len();
    let progress = if quiet || json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total as u64)
    };
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} images  {per_sec}  eta {eta}  {msg}")
            .expect("static template"),
    );
    let options = LoaderOptions {
        batch_size: 64,
        prefetch: 2,
        threads,
    };
    let start = Instant::now();
    let mut decoded = 0;
    let mut bad = Vec::new();
    let mut loader = BatchLoader::from_paths(paths, preprocessor, options)?;
    while let Some(mut batch) = loader.next() {
        decoded += batch.len();
        for (_, failure) in std::mem::take(&mut batch.failures) {
            progress.println(format!("bad: {failure}"));
            bad.push(BadFile {
                path: failure.path,
                reason: failure.error.to_string(),
            });
        }
        progress.set_position((decoded + bad.len()) as u64);
        loader.recycle(batch);
        if !bad.is_empty() {
            progress.set_message(format!("{} bad", bad.len()));
        }
    }
    progress.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    let report = CheckReport {
        catalogue: catalog.root.clone(),
        checked: total,
        decoded,
        seconds,
        images_per_second: total as f64 / seconds.max(1e-9),
        bad,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "checked {} images of {} in {:.1} s ({:.0} img/s, {height}x{width}): {} decoded, {} bad",
            report.checked,
            report.catalogue.display(),
            report.seconds,
            report.images_per_second,
            report.decoded,
            report.bad.len()
        );
        for b in &report.bad {
            println!("  {}: {}", b.path.display(), b.reason);
        }
    }
    Ok(if report.bad.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn parse_size(s: &str) -> Result<(u32, u32)> {
    let (h, w) = s.split_once(['x', 'X']).context("size must be HxW, e.g. 384x256")?;
    let (h, w): (u32, u32) = (h.trim().parse()?, w.trim().parse()?);
    if h == 0 || w == 0 {
        bail!("size must be positive");
    }
    Ok((h, w))
}

fn parse_fractions(s: &str) -> Result<SplitFractions> {
    let parts: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()?;
    let [train, val, test] = parts[..] else {
        bail!("expected three fractions train,val,test");
    };
    let fractions = SplitFractions { train, val, test };
    fractions.validate()?;
    Ok(fractions)
}
