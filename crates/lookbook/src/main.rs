//! `lookbook`: a thin command line over the lookbook crates.

mod commands;

#[path = "../../../benches/support/allocator.rs"]
mod allocator;

use std::process::ExitCode;

use clap::{ArgAction, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Find clothing by picture and recommend visually related, diverse items.
#[derive(Parser)]
#[command(name = "lookbook", version, about, propagate_version = true)]
struct Cli {
    /// More log output (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read a catalogue of product photos: what it holds, and whether every image decodes.
    #[command(subcommand)]
    Catalog(commands::catalog::CatalogCommand),
    /// Train the seed model on a catalogue; checkpoints and metrics go to --out.
    Train(commands::train::TrainArgs),
    /// Embed a catalogue with a trained model (or a baseline) into an index folder.
    Index(commands::index::IndexCommand),
    /// The nearest images in an index to a photo or to an item id.
    Search(commands::search::SearchArgs),
    /// Tag a photo (or an indexed item) with the attribute values of its nearest images.
    Tag(commands::tag::TagArgs),
    /// Varied alternatives to a photo or an item: candidates by the whole picture and by each
    /// attention part, re-ranked by maximal marginal relevance, one image per item.
    Recommend(commands::recommend::RecommendArgs),
    /// Draw what the model looks at in a photo: each attention step's box, the attention as
    /// heat, the predicted labels.
    Explain(commands::explain::ExplainArgs),
    /// The study's top-k table for a model or baseline on a catalogue.
    Eval(commands::eval::EvalArgs),
    /// Search by words: train a text encoder into an index's embedding space from the
    /// catalogue's own names, attribute values and descriptions.
    #[command(subcommand)]
    Text(commands::text::TextCommand),
    /// The HTTP API and web page over an index: search, recommend, items, images.
    Serve(commands::serve::ServeArgs),
    /// The whole system on a catalogue: train (or reuse) a quick model, index, evaluate,
    /// draw a search and a recommendation, then serve the web page.
    Demo(commands::demo::DemoArgs),
}

fn main() -> ExitCode {
    allocator::keep_freed_pages();
    let cli = Cli::parse();
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();

    let result = match cli.command {
        Command::Catalog(cmd) => commands::catalog::run(cmd, cli.quiet),
        Command::Train(args) => commands::train::run(args, cli.quiet),
        Command::Index(args) => commands::index::run(args, cli.quiet),
        Command::Search(args) => commands::search::run(args, cli.quiet),
        Command::Tag(args) => commands::tag::run(args, cli.quiet),
        Command::Recommend(args) => commands::recommend::run(args, cli.quiet),
        Command::Explain(args) => commands::explain::run(args, cli.quiet),
        Command::Eval(args) => commands::eval::run(args, cli.quiet),
        Command::Text(cmd) => commands::text::run(cmd, cli.quiet),
        Command::Serve(args) => commands::serve::run(args, cli.quiet),
        Command::Demo(args) => commands::demo::run(args, cli.quiet),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
