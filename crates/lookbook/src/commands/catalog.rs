//! `lookbook catalog inspect|check`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use lookbook_catalog::{
    Catalog, CatalogFormat, CatalogSummary, LabelVocabulary, LabelledListConfig, OpenOptions, SplitFractions,
    VocabularyConfig,
};
use lookbook_imaging::check::check_photos;
use lookbook_imaging::{ImageSpec, LoaderOptions};

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
    #[arg(long, default_value = "0.7,0.1,0.2", value_parser = clap::value_parser!(SplitFractions))]
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
    println!("{summary}");
    summary
        .problem_lines(show_problems)
        .iter()
        .for_each(|line| println!("{line}"));
    Ok(ExitCode::SUCCESS)
}

fn check(args: &CatalogArgs, (height, width): (u32, u32), threads: usize, json: bool, quiet: bool) -> Result<ExitCode> {
    let catalog = args.open()?;
    let progress = if quiet || json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(catalog.entries.len() as u64)
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
    let paths = catalog.entries.iter().map(|e| catalog.image_path(e)).collect();
    let report = check_photos(
        &catalog.root,
        paths,
        ImageSpec::with_size(height, width),
        options,
        |bad| progress.println(format!("bad: {bad}")),
        |done, bad| {
            progress.set_position(done as u64);
            if bad > 0 {
                progress.set_message(format!("{bad} bad"));
            }
        },
    )?;
    progress.finish_and_clear();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(match report.bad.is_empty() {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(1),
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
