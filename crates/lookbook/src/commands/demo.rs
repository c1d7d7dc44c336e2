//! `lookbook demo`: the whole system on a catalogue, for a newcomer — read it, train (or
//! reuse) a quick model, index, print the study's top-k table, draw a search and a
//! recommendation, then serve the web page. Each step is the `lookbook` command a user would
//! type, printed before it runs, so the demo doubles as a tour of the command line.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser};

use lookbook_catalog::{Catalog, Entry, OpenOptions, Split};
use lookbook_eval::catalogue::{FittingTable, fitting_table};

use super::serve::ServeArgs;

/// The quick config (`configs/quick.toml`): EfficientNet-Lite0's frozen ImageNet trunk at
/// 192×128 and 3 epochs of the attention branch — minutes on a laptop-class CPU.
const QUICK_CONFIG: &str = include_str!("../../../../configs/quick.toml");

/// The H&M sample next to a checkout, the default catalogue when it is there.
const DEFAULT_CATALOGUE: &str = "../shared/data/hm";

#[derive(Args)]
pub struct DemoArgs {
    /// Catalogue folder (default: ../shared/data/hm when present).
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Run folder: a finished run there is reused, else the quick model is trained into it.
    #[arg(long, default_value = "runs/demo")]
    run: PathBuf,
    /// Training config (default: the built-in quick config, configs/quick.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address of the web page and API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Stop after the sheets instead of serving.
    #[arg(long)]
    no_serve: bool,
}

pub fn run(args: DemoArgs, quiet: bool) -> Result<ExitCode> {
    let catalog = match &args.catalog {
        Some(dir) => dir.clone(),
        None if Path::new(DEFAULT_CATALOGUE).is_dir() => PathBuf::from(DEFAULT_CATALOGUE),
        None => bail!("no catalogue: pass --catalog DIR (the default, {DEFAULT_CATALOGUE}, is not here)"),
    };
    let cat = catalog.to_str().context("the catalogue path is not UTF-8")?;
    let catalog = catalog.as_path();
    let run = args.run.to_str().context("the run path is not UTF-8")?;
    let index = args.run.join("index");
    let index = index.to_str().context("the run path is not UTF-8")?;
    let quiet_flag: &[&str] = if quiet { &["-q"] } else { &[] };
    let step = |title: &str, command: &[&str]| -> Result<()> {
        println!("\n== {title}\n$ lookbook {}", command.join(" "));
        let status = Command::new(std::env::current_exe().context("finding the lookbook binary")?)
            .args(quiet_flag)
            .args(command)
            .status()
            .with_context(|| format!("running lookbook {}", command[0]))?;
        if !status.success() {
            bail!("`lookbook {}` failed ({status})", command.join(" "));
        }
        Ok(())
    };

    step("what the catalogue holds", &["catalog", "inspect", cat])?;
    if args.run.join("latest.json").is_file() {
        println!("\n== reusing the trained model in {run} (delete the folder to train again)");
    } else {
        let config = match &args.config {
            Some(config) => config.clone(),
            None => {
                std::fs::create_dir_all(&args.run).with_context(|| format!("creating {run}"))?;
                let path = args.run.join("quick.toml");
                std::fs::write(&path, QUICK_CONFIG).with_context(|| format!("writing {}", path.display()))?;
                path
            }
        };
        let config = config.to_str().context("the config path is not UTF-8")?;
        step(
            "training the model (checkpoints, metrics.csv and curves.png in the run folder)",
            &["train", "--catalog", cat, "--config", config, "--out", run],
        )?;
    }
    step(
        "indexing every photo (a rerun adds only what is missing)",
        &["index", "--model", run, "--catalog", cat, "--out", index],
    )?;
    match evaluation(catalog)? {
        FittingTable::ProductCode => step(
            "the study's top-k table on the test split (same item = a hit)",
            &["eval", "--model", run, "--catalog", cat, "--protocol", "product-code"],
        )?,
        FittingTable::Category(choice) => step(
            &format!(
                "no product here has two photos, so the table ranks by category: a neighbour of the same {} \
                 is a hit (chosen: {}; precision@k and top-k on the test split)",
                choice.column, choice.why
            ),
            &[
                "eval",
                "--model",
                run,
                "--catalog",
                cat,
                "--protocol",
                "category",
                "--attribute",
                &choice.column,
            ],
        )?,
        FittingTable::None => {
            println!("\n== no evaluation: no product has two photos and no column is a category to rank by")
        }
    }
    let (query, words) = first_item(&args.run.join("index"))?;
    // Words to learn from: a catalogue with colours and types (a folder of photos has none).
    if words.is_some() {
        let text = args.run.join("text");
        if text.join("latest.json").is_file() {
            println!(
                "\n== reusing the text model in {} (delete it to train again)",
                text.display()
            );
        } else {
            step(
                "learning the catalogue's words into the index's space (search by words)",
                &["text", "train", "--index", index, "--catalog", cat],
            )?;
        }
    }
    let search_sheet = args.run.join("search.png");
    let recommend_sheet = args.run.join("recommend.png");
    step(
        &format!("the nearest images to item {query}"),
        &[
            "search",
            "--index",
            index,
            &query,
            "-k",
            "10",
            "--sheet",
            search_sheet.to_str().unwrap_or("search.png"),
        ],
    )?;
    if let Some(words) = words {
        let text_sheet = args.run.join("search-text.png");
        step(
            &format!("photos matching the words \"{words}\""),
            &[
                "search",
                "--index",
                index,
                "--text",
                &words,
                "-k",
                "10",
                "--sheet",
                text_sheet.to_str().unwrap_or("search-text.png"),
            ],
        )?;
    }
    step(
        &format!("varied alternatives to item {query}, each with the part that brought it in"),
        &[
            "recommend",
            "--index",
            index,
            &query,
            "-k",
            "10",
            "--diversity",
            "0.5",
            "--sheet",
            recommend_sheet.to_str().unwrap_or("recommend.png"),
        ],
    )?;
    if args.no_serve {
        println!("\nserve it with: lookbook serve --index {index} --addr {}", args.addr);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "\n== the web page and API (Ctrl-C stops)\n$ lookbook serve --index {index} --addr {}",
        args.addr
    );
    // The serve options as `lookbook serve` parses them, so their defaults live in one place.
    let serve = ServeCommand::try_parse_from(["serve", "--index", index, "--addr", &args.addr])?;
    super::serve::run(serve.args, quiet)
}

#[derive(Parser)]
struct ServeCommand {
    #[command(flatten)]
    args: ServeArgs,
}

/// Which table fits the catalogue's test split.
fn evaluation(catalog: &Path) -> Result<FittingTable> {
    let opened = Catalog::open(catalog, &OpenOptions::default())
        .with_context(|| format!("reading the catalogue {}", catalog.display()))?;
    let test: Vec<&Entry> = opened.entries.iter().filter(|e| e.split == Split::Test).collect();
    Ok(fitting_table(&opened, &test))
}

/// The item of the index's first image (a query every catalogue has), and its colour + type +
/// pattern as words to search for (when it has a colour and a type).
fn first_item(index: &Path) -> Result<(String, Option<String>)> {
    let contents = lookbook_index::IndexReader::open_mapped(index)
        .with_context(|| format!("opening the index {}", index.display()))?;
    if contents.records.is_empty() {
        bail!("the index {} is empty", index.display());
    }
    let first = contents.records.get(0)?;
    let words = lookbook_text::attribute_query(&first.attributes).map(|(words, _)| words);
    Ok((first.item_id.clone(), words))
}
