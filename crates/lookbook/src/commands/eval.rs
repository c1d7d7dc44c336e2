//! `lookbook eval`: the study's top-k table for a model (or a baseline) on a catalogue.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use lookbook_catalog::Split;
use lookbook_eval::{Role, TopKTable, precision_at_k, top_k_accuracy};
use lookbook_index::Metric;
use serde::Serialize;

use super::embedding::{EmbedderArgs, SplitChoice, embed_with_progress, open_catalog};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// DeepFashion In-shop: `query` images against `gallery` images, hit = same item id.
    Inshop,
    /// Catalogues without query/gallery (H&M): every image of the split whose item has
    /// another image there is a query; the gallery is every other image; hit = same item id.
    ProductCode,
    /// Precision@k of an attribute (--attribute) among the k nearest images of the split.
    Category,
}

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    embedder: EmbedderArgs,
    /// Catalogue folder.
    #[arg(long)]
    catalog: PathBuf,
    #[arg(long, value_enum)]
    protocol: Protocol,
    /// The attribute column of `--protocol category`, e.g. subCategory.
    #[arg(long, required_if_eq("protocol", "category"))]
    attribute: Option<String>,
    /// Which images (product-code, category); `all` for a catalogue never trained on.
    #[arg(long, value_enum, default_value = "test")]
    split: SplitChoice,
    /// The k of the table.
    #[arg(long, value_delimiter = ',', default_value = "1,5,10,20,30,50")]
    ks: Vec<usize>,
    /// Distance: euclidean (the study) or cosine.
    #[arg(long, default_value = "euclidean")]
    metric: Metric,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    protocol: Protocol,
    model: String,
    images: usize,
    skipped: usize,
    #[serde(flatten)]
    table: TopKTable,
}

pub fn run(args: EvalArgs, quiet: bool) -> Result<ExitCode> {
    if args.ks.is_empty() || args.ks.contains(&0) {
        bail!("--ks needs positive values, e.g. 1,5,10");
    }
    let catalog = open_catalog(&args.catalog)?;
    let (embedder, model) = args.embedder.embedder()?;
    let order: Vec<usize> = (0..catalog.entries.len())
        .filter(|&i| match args.protocol {
            Protocol::Inshop => matches!(catalog.entries[i].split, Split::Query | Split::Gallery),
            _ => args.split.accepts(catalog.entries[i].split),
        })
        .collect();
    if order.is_empty() {
        bail!("no images of {} fit this protocol and split", catalog.root.display());
    }
    let dim = embedder.dim();
    let embedded = embed_with_progress(embedder, &catalog, order, args.embedder.batch, quiet)?;
    let entries: Vec<_> = embedded.entries.iter().map(|&i| &catalog.entries[i]).collect();
    let table = match args.protocol {
        Protocol::Inshop => {
            let roles: Vec<Role> = entries
                .iter()
                .map(|e| {
                    if e.split == Split::Query {
                        Role::Query
                    } else {
                        Role::Gallery
                    }
                })
                .collect();
            let items: Vec<&str> = entries.iter().map(|e| e.item_id.as_str()).collect();
            top_k_accuracy(&items, &roles, &embedded.vectors, dim, args.metric, &args.ks)?
        }
        Protocol::ProductCode => {
            let items: Vec<&str> = entries.iter().map(|e| e.item_id.as_str()).collect();
            top_k_accuracy(
                &items,
                &vec![Role::Both; items.len()],
                &embedded.vectors,
                dim,
                args.metric,
                &args.ks,
            )?
        }
        Protocol::Category => {
            let attribute = args.attribute.as_deref().expect("clap requires --attribute");
            let Some(column) = catalog.columns.iter().position(|c| c == attribute) else {
                bail!(
                    "no column `{attribute}` in {} (columns: {})",
                    catalog.root.display(),
                    catalog.columns.join(", ")
                );
            };
            let values: Vec<&str> = entries.iter().map(|e| e.values[column].as_str()).collect();
            precision_at_k(
                &values,
                &vec![Role::Both; values.len()],
                &embedded.vectors,
                dim,
                args.metric,
                &args.ks,
            )?
        }
    };
    let report = Report {
        protocol: args.protocol,
        model,
        images: entries.len(),
        skipped: embedded.bad.len(),
        table,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let what = if args.protocol == Protocol::Category {
            "precision"
        } else {
            "top-k accuracy"
        };
        println!(
            "{} on {} ({} images, {} queries, gallery {}), {}:",
            report.model,
            catalog.root.display(),
            report.images,
            report.table.queries,
            report.table.gallery,
            what
        );
        let header: Vec<String> = report.table.ks.iter().map(|k| format!("k={k}")).collect();
        let values: Vec<String> = report.table.values.iter().map(|v| format!("{v:.3}")).collect();
        println!("| {} |", header.join(" | "));
        println!("|{}", "---|".repeat(header.len()));
        println!("| {} |", values.join(" | "));
    }
    Ok(ExitCode::SUCCESS)
}
