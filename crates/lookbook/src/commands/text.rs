//! `lookbook text train` (a text encoder on an index's photos and its catalogue's words) and
//! `lookbook eval --protocol text`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use lookbook_catalog::Split;
use lookbook_eval::text::text_report;
use lookbook_indexer::split_rows;
use lookbook_model::saved::LATEST;
use lookbook_pgvector::IndexLocation;
use lookbook_text::{Caption, Pairs, TextConfig, TextModel, TextTraining, is_text_model, train_text};

use super::embedding::open_catalog;

#[derive(Subcommand)]
pub enum TextCommand {
    /// Train a text encoder into an index's embedding space from the catalogue's own words
    /// (names, attribute values, descriptions of the train split's photos).
    Train(TrainArgs),
}

#[derive(Args)]
pub struct TrainArgs {
    /// The index whose photo vectors the words learn to find (built with --split all).
    #[arg(long)]
    index: IndexLocation,
    /// The catalogue the index was built from: its words and its splits.
    #[arg(long)]
    catalog: PathBuf,
    /// Where the text model goes (default: `text` in the index's model run folder).
    #[arg(long)]
    out: Option<PathBuf>,
    /// A TOML file with a `[text]` section (defaults otherwise).
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long)]
    epochs: Option<usize>,
    /// Continue the latest checkpoint in --out.
    #[arg(long)]
    resume: bool,
}

/// `--text-model`, else `text` in the index's model run folder when one is there.
pub(crate) fn text_model_path(given: Option<&Path>, image_model: &str) -> Option<PathBuf> {
    given
        .map(Path::to_path_buf)
        .or_else(|| Some(run_folder(image_model).join("text")).filter(|p| is_text_model(p)))
}

/// The run folder of an index's model: indexes name the checkpoint (`RUN/epoch-0003`), which a
/// later checkpoint replaces, so the text model lives beside the checkpoints, in `RUN/text`.
fn run_folder(image_model: &str) -> PathBuf {
    let model = Path::new(image_model);
    match model.parent() {
        Some(run) if !model.join(LATEST).is_file() && run.join(LATEST).is_file() => run.to_path_buf(),
        _ => model.to_path_buf(),
    }
}

pub fn run(command: TextCommand, quiet: bool) -> Result<ExitCode> {
    let TextCommand::Train(args) = command;
    let catalog = open_catalog(&args.catalog)?;
    let contents = args.index.open()?;
    let mut config = match &args.config {
        Some(path) => TextConfig::read(path)?,
        None => TextConfig::default(),
    };
    config.epochs = args.epochs.unwrap_or(config.epochs);
    let pairs = |split| {
        let (records, vectors) = split_rows(&catalog, &contents, split);
        let captions = records.iter().map(|r| Caption::of(&r.attributes)).collect();
        Pairs { captions, vectors }
    };
    let (train, val) = (pairs(Split::Train), pairs(Split::Val));
    if train.len() < 2 {
        bail!(
            "the index holds {} photos of the catalogue's train split: build it with --split all",
            train.len()
        );
    }
    let image_model = contents.info.model.clone();
    let out = match &args.out {
        Some(out) => out.clone(),
        None if Path::new(&image_model).is_dir() => run_folder(&image_model).join("text"),
        None => bail!("the index's model `{image_model}` is not a run folder: give --out"),
    };
    let run = TextTraining {
        config,
        out: out.clone(),
        dim: contents.info.dim,
        image_model,
        index: args.index.to_string(),
        resume: args.resume,
    };
    if !quiet {
        eprintln!(
            "text encoder: {} training captions, {} validation, into {}-d vectors of {}",
            train.len(),
            val.len(),
            run.dim,
            run.image_model
        );
    }
    let start = Instant::now();
    let meta = train_text(&run, &train, &val, |e| {
        if !quiet {
            eprintln!(
                "epoch {:>3}  loss {:.4}  val R@1 {:.3}  R@10 {:.3}  temperature {:.4}  {:.1}s",
                e.epoch, e.loss, e.val_recall_1, e.val_recall_10, e.temperature, e.seconds
            );
        }
    })?;
    println!(
        "text model: {} ({} pieces, {} known words, {} epochs, {:.0} s)",
        out.display(),
        meta.shape.vocab,
        meta.known_words.len(),
        meta.epoch,
        start.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// `lookbook eval --protocol text`: the split's captions against the split's photos.
pub(crate) fn eval_report(
    catalog: &Path,
    index: &IndexLocation,
    text_model: Option<&Path>,
    split: Split,
    ks: &[usize],
    json: bool,
) -> Result<ExitCode> {
    let catalog = open_catalog(catalog)?;
    let contents = index.open()?;
    let Some(path) = text_model_path(text_model, &contents.info.model) else {
        bail!("no text model: give --text-model (from `lookbook text train`)");
    };
    let model = TextModel::open(&path).with_context(|| format!("opening the text model {}", path.display()))?;
    model.fits(contents.info.dim, &contents.info.model)?;
    let (records, vectors) = split_rows(&catalog, &contents, split);
    if records.is_empty() {
        bail!("the index holds no photo of the catalogue's {} split", split.as_str());
    }
    let report = text_report(&model, &records, &vectors, contents.info.dim, ks)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "text → image, {} split of {} ({} photos), text model {}:\n{report}",
            split.as_str(),
            catalog.root.display(),
            report.gallery,
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
