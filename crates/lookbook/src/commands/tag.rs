//! `lookbook tag`: a photo's likely attribute values from its nearest catalogue images.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;

use super::query::QueryArgs;

#[derive(Args)]
pub struct TagArgs {
    #[command(flatten)]
    query: QueryArgs,
    /// Neighbours that vote (K).
    #[arg(short, default_value_t = 10)]
    k: usize,
    /// Values shown per attribute.
    #[arg(long, default_value_t = 3)]
    top: usize,
}

pub fn run(args: TagArgs, _quiet: bool) -> Result<ExitCode> {
    if args.k == 0 {
        bail!("-k must be at least 1");
    }
    let opened = args.query.open(false)?;
    let (voters, tags) = opened.engine.tag(&opened.source, args.k, args.top, opened.mode)?;
    if args.query.json {
        println!("{}", serde_json::to_string_pretty(&tags)?);
    } else {
        println!("from the {voters} nearest images:");
        for t in &tags {
            let values: Vec<String> = t.values.iter().map(|(v, p)| format!("{v} {p:.2}")).collect();
            println!("{:<30} {}", t.attribute, values.join(", "));
        }
    }
    Ok(ExitCode::SUCCESS)
}
