//! `lookbook serve`: the HTTP API and web page over an index.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use lookbook_server::{Engine, ServerConfig};

use super::query::open_model;
use lookbook_pgvector::IndexLocation;

#[derive(Args, Clone)]
pub struct ServeArgs {
    /// Index folder (from `lookbook index`), or postgres://user@host:port/db?table=NAME.
    #[arg(long)]
    pub index: IndexLocation,
    /// The model that embeds uploaded photos (default: the one the index was built with).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Address to listen on (port 0: any free port; the URL is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Largest upload, in MiB.
    #[arg(long, default_value_t = 10)]
    pub max_upload_mib: usize,
    /// Largest uploaded photo, in megapixels (checked before decoding).
    #[arg(long, default_value_t = 40.0)]
    pub max_megapixels: f64,
    /// Seconds a search or recommend may take, waiting in line included.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Queries run on the model at once (default: the number of cores).
    #[arg(long)]
    pub inference_slots: Option<usize>,
}

/// The index and its model, ready to answer.
pub fn engine(args: &ServeArgs) -> Result<Engine> {
    let contents = args.index.open()?;
    let model = args
        .model
        .clone()
        .unwrap_or_else(|| PathBuf::from(&contents.info.model));
    // A seed model is both the embedder and the source of attention boxes: loaded once.
    let (embedder, seed) = match open_model(&model) {
        Ok(opened) => (Some(opened.embedder), opened.seed),
        Err(error) => {
            eprintln!("warning: {error:#}; photo uploads are refused, queries by item id work");
            (None, None)
        }
    };
    Engine::new(contents, embedder, seed)
        .browsable()
        .context("reading the index's records")
}

pub fn config(args: &ServeArgs) -> ServerConfig {
    let defaults = ServerConfig::default();
    ServerConfig {
        max_upload_bytes: args.max_upload_mib << 20,
        max_pixels: (args.max_megapixels * 1e6) as u64,
        timeout: Duration::from_secs(args.timeout.max(1)),
        inference_slots: args.inference_slots.unwrap_or(defaults.inference_slots).max(1),
        ..defaults
    }
}

pub fn run(args: ServeArgs, _quiet: bool) -> Result<ExitCode> {
    let engine = engine(&args)?;
    lookbook_server::run_until_stopped(engine, config(&args), &args.addr, |addr, engine| {
        println!(
            "lookbook: serving {} images of {} items at http://{addr}/ (Ctrl-C stops)",
            engine.images(),
            engine.items()
        );
        // Tests and scripts read the URL from the first line.
        use std::io::Write;
        std::io::stdout().flush().ok();
    })?;
    eprintln!("lookbook: stopped");
    Ok(ExitCode::SUCCESS)
}
