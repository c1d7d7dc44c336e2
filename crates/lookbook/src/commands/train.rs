//! `lookbook train`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use burn::tensor::backend::AutodiffBackend;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lookbook_model::SeedBackend;
use lookbook_train::{Checkpoint, TrainConfig, Trainer, TrainingEvent};

use lookbook_model::DeviceChoice;

#[derive(Args)]
pub struct TrainArgs {
    /// Catalogue folder.
    #[arg(long)]
    catalog: PathBuf,
    /// Another catalogue whose training photos (and labels) join --catalog's; repeatable.
    /// Validation and reports stay on --catalog. Sets the config's `data.also_train_on`
    /// (with --resume, the run's own config holds them).
    #[arg(long, value_name = "CATALOG")]
    also_train_on: Vec<PathBuf>,
    /// Training config (TOML), e.g. configs/cpu.toml.
    #[arg(long)]
    config: PathBuf,
    /// Run folder: checkpoints, metrics.csv.
    #[arg(long)]
    out: PathBuf,
    /// Continue the run in --out from its latest checkpoint (its config and labels).
    #[arg(long)]
    resume: bool,
    /// Override the config's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Override the number of epochs (with --resume: train up to this many in all).
    #[arg(long)]
    epochs: Option<usize>,
    /// Where to train: cpu, or cuda[:N] (a binary built with `--features cuda`).
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
}

pub fn run(args: TrainArgs, quiet: bool) -> Result<ExitCode> {
    let mut config = TrainConfig::from_file(&args.config)?;
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if !args.also_train_on.is_empty() {
        config.data.also_train_on = args.also_train_on;
    }
    let trainer = Trainer::new(&args.catalog, config, &args.out, args.resume, args.epochs)
        .with_context(|| format!("preparing the run in {}", args.out.display()))?;
    eprintln!(
        "training on {} images of {} ({} labels) on {}; run folder {}",
        trainer
            .train_items()
            .iter()
            .filter(|&&i| trainer.sources.is_own(i))
            .count(),
        trainer.catalog.root.display(),
        trainer.vocabulary.len(),
        args.device,
        args.out.display()
    );
    for note in trainer.sources.notes() {
        eprintln!("{note}");
    }
    if let Some(note) = trainer.validation_note() {
        eprintln!("{note}");
    }
    let checkpoint = match args.device {
        DeviceChoice::Cpu => train_on::<lookbook_model::TrainBackend>(&trainer, &Default::default(), quiet)?,
        #[cfg(feature = "cuda")]
        DeviceChoice::Cuda(ordinal) => {
            lookbook_model::device::probe_cuda(args.device)?;
            train_on::<lookbook_model::CudaTrainBackend>(&trainer, &lookbook_model::CudaDevice::new(ordinal), quiet)?
        }
        #[cfg(not(feature = "cuda"))]
        choice @ DeviceChoice::Cuda(_) => return Err(lookbook_model::device::cuda_not_built(choice).into()),
    };
    println!("checkpoint: {}", checkpoint.dir.display());
    Ok(ExitCode::SUCCESS)
}

fn train_on<B: AutodiffBackend + SeedBackend>(trainer: &Trainer, device: &B::Device, quiet: bool) -> Result<Checkpoint>
where
    B::InnerBackend: SeedBackend,
{
    let progress = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    progress
        .set_style(ProgressStyle::with_template("epoch {prefix} {bar:30} {pos}/{len} {msg}").expect("static template"));
    let checkpoint = trainer.run::<B>(device, |event| match event {
        TrainingEvent::Started { steps_per_epoch, .. } => progress.set_length(steps_per_epoch as u64),
        TrainingEvent::Caching { done, total } => {
            // Once per run: the frozen pretrained trunk over the train and val photos.
            if progress.is_hidden() && !quiet && (done % 500 < 16 || done == total) {
                eprintln!("caching the pretrained trunk's output: {done}/{total}");
            }
            progress.set_prefix("cache");
            progress.set_length(total as u64);
            progress.set_position(done as u64);
        }
        TrainingEvent::Step(s) => {
            // Without a terminal the bar is hidden: leave a line in the log now and then.
            if progress.is_hidden() && !quiet && (s.step % 20 == 0 || s.step == s.steps) {
                eprintln!("{s}");
            }
            progress.set_prefix(format!("{}", s.epoch + 1));
            progress.set_length(s.steps as u64);
            progress.set_position(s.step as u64);
            progress.set_message(s.losses());
        }
        TrainingEvent::BadImage(bad) => progress.suspend(|| eprintln!("skipped {bad}")),
        TrainingEvent::Epoch(r) => {
            progress.suspend(|| eprintln!("{r}"));
            progress.set_position(0);
        }
    })?;
    progress.finish_and_clear();
    Ok(checkpoint)
}
