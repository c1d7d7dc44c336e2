//! `lookbook serve`: the HTTP API and web page over an index.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use std::sync::Arc;

use lookbook_query::TextModel;
use lookbook_server::{Engine, Follow, ServerConfig, WriteAccess, WriteToken};

use lookbook_pgvector::{IndexLocation, IndexWatch};

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
    /// Allow catalogue changes over HTTP (`POST /api/items`, `DELETE /api/items/ID`) to
    /// requests carrying `Authorization: Bearer TOKEN`, the token being this file's contents
    /// (at least 16 characters). Without it those routes do not exist.
    #[arg(long)]
    pub write_token_file: Option<PathBuf>,
    /// Where the write routes commit, when `--index` is a read replica (a hot standby, or several
    /// hosts with `target_session_attrs=read-only`): the primary's URL. Default: `--index`.
    #[arg(long, requires = "write_token_file")]
    pub write_index: Option<IndexLocation>,
    /// The text model for word queries (default: `text` in the model's run folder, when there).
    #[arg(long)]
    pub text_model: Option<PathBuf>,
    /// Check the index for changes other processes committed (`lookbook index add/remove`,
    /// another server) this often, in seconds, and answer from them; 0: never.
    #[arg(long, default_value_t = 1.0)]
    pub follow_every: f64,
}

/// The index and its model (and text model, when there is one), ready to answer.
pub fn engine(args: &ServeArgs) -> Result<Engine> {
    let (mut engine, unloaded) = Engine::serving(args.index.open_gallery()?, args.model.as_deref())?;
    if let Some(error) = unloaded {
        eprintln!("warning: {error}; photo uploads are refused, queries by item id work");
    }
    let image_model = args
        .model
        .as_ref()
        .map_or_else(|| engine.model().to_string(), |m| m.display().to_string());
    if let Some(path) = super::text::text_model_path(args.text_model.as_deref(), &image_model) {
        let text = TextModel::open(&path).with_context(|| format!("opening the text model {}", path.display()))?;
        engine = engine.with_text(Arc::new(text))?;
    }
    Ok(engine)
}

pub fn config(args: &ServeArgs) -> Result<ServerConfig> {
    let timeout = Duration::from_secs(args.timeout);
    let writes = match &args.write_token_file {
        Some(path) => Some(WriteAccess {
            token: Arc::new(WriteToken::read(path)?),
            location: args.write_index.clone().unwrap_or_else(|| args.index.clone()),
            read: args.index.clone(),
        }),
        None => None,
    };
    let follow = Duration::try_from_secs_f64(args.follow_every)
        .ok()
        .filter(|every| !every.is_zero())
        .map(|every| Follow {
            location: args.index.clone(),
            every,
            // Read here, before `engine` opens the index (`run` calls this first).
            opened_at: IndexWatch::new(args.index.clone()).version().ok(),
        });
    Ok(ServerConfig {
        writes,
        follow,
        ..ServerConfig::with_limits(args.max_upload_mib, args.max_megapixels, timeout, args.inference_slots)
    })
}

pub fn run(args: ServeArgs, _quiet: bool) -> Result<ExitCode> {
    let config = config(&args)?;
    let engine = engine(&args)?;
    let writable = if config.writes.is_some() {
        ", changes with the write token"
    } else {
        ""
    };
    lookbook_server::run_until_stopped(engine, config, &args.addr, |addr, engine| {
        println!(
            "lookbook: serving {} images of {} items at http://{addr}/ (Ctrl-C stops){writable}",
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
