//! `lookbook eval`: the study's top-k table for a model (or a baseline) on a catalogue.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use lookbook_catalog::{Catalog, Entry, Split};
use lookbook_eval::{Role, TopKTable, precision_at_k, tag_accuracy, top_k_accuracy};
use lookbook_imaging::draw::{Line, line_chart, write_png};
use lookbook_index::Metric;
use serde::Serialize;

use super::embedding::{EmbedderArgs, SplitChoice, embed_with_progress, open_catalog, progress_bar};

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
    /// kNN tagging: each image of the split gets the attribute values of its K nearest
    /// images of other splits (other items, with --split all); accuracy per attribute
    /// beside always guessing the most common value.
    Tag,
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
    /// The attribute column of `--protocol category`, e.g. subCategory (for `tag`: only
    /// this one, instead of every column).
    #[arg(long, required_if_eq("protocol", "category"))]
    attribute: Option<String>,
    /// K of `--protocol tag`: how many neighbours vote.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Where to draw the top-k curve (default: eval-PROTOCOL-SPLIT.png in the model's
    /// folder; none for a baseline unless given).
    #[arg(long)]
    png: Option<PathBuf>,
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
            // Queries are the split; the gallery is everything else.
            Protocol::Tag => true,
            _ => args.split.accepts(catalog.entries[i].split),
        })
        .collect();
    if order.is_empty() {
        bail!("no images of {} fit this protocol and split", catalog.root.display());
    }
    let dim = embedder.dim();
    let bar = progress_bar(order.len(), quiet);
    let embedded = embed_with_progress(embedder, &catalog, order, args.embedder.batch, &bar, 0)?;
    bar.finish_and_clear();
    let entries: Vec<_> = embedded.entries.iter().map(|&i| &catalog.entries[i]).collect();
    if args.protocol == Protocol::Tag {
        return tag_report(
            &args,
            &catalog,
            &entries,
            &embedded.vectors,
            dim,
            model,
            embedded.bad.len(),
        );
    }
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
        Protocol::Tag => unreachable!("answered above"),
    };
    let report = Report {
        protocol: args.protocol,
        model,
        images: entries.len(),
        skipped: embedded.bad.len(),
        table,
    };
    let png = args.png.clone().or_else(|| {
        args.embedder.model.as_ref().map(|run| {
            let protocol = serde_json::to_value(args.protocol).expect("serialises");
            let split = args.split.to_possible_value().expect("no skipped values");
            run.join(format!(
                "eval-{}-{}.png",
                protocol.as_str().unwrap_or("eval"),
                split.get_name()
            ))
        })
    });
    if let Some(png) = &png {
        let line = Line {
            label: report.model.rsplit('/').next().unwrap_or(&report.model).to_string(),
            points: report
                .table
                .ks
                .iter()
                .zip(&report.table.values)
                .map(|(&k, &v)| (k as f64, v))
                .collect(),
        };
        let title = format!("{} ({} queries)", protocol_title(args.protocol), report.table.queries);
        match line_chart(&title, "k", &[line], (800, 500)).and_then(|chart| write_png(png, &chart)) {
            Ok(()) => eprintln!("curve: {}", png.display()),
            Err(err) => eprintln!("could not draw {}: {err}", png.display()),
        }
    }
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

fn protocol_title(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Inshop => "In-shop top-k accuracy",
        Protocol::ProductCode => "product-code top-k accuracy",
        Protocol::Category => "category precision@k",
        Protocol::Tag => "kNN tagging accuracy",
    }
}

#[derive(Serialize)]
struct TagReport {
    protocol: Protocol,
    model: String,
    k: usize,
    queries: usize,
    gallery: usize,
    skipped: usize,
    attributes: Vec<lookbook_eval::TagAccuracy>,
}

/// `--protocol tag`: queries are the images of `--split`, the gallery every other image
/// (`all`: every image, leaving the query's own item out).
fn tag_report(
    args: &EvalArgs,
    catalog: &Catalog,
    entries: &[&Entry],
    vectors: &[f32],
    dim: usize,
    model: String,
    skipped: usize,
) -> Result<ExitCode> {
    if args.k == 0 {
        bail!("--k must be at least 1");
    }
    let roles: Vec<Role> = entries
        .iter()
        .map(
            |e| match (args.split == SplitChoice::All, args.split.accepts(e.split)) {
                (true, _) => Role::Both,
                (false, true) => Role::Query,
                (false, false) => Role::Gallery,
            },
        )
        .collect();
    let queries = roles.iter().filter(|r| **r != Role::Gallery).count();
    let gallery = roles.iter().filter(|r| **r != Role::Query).count();
    if queries == 0 || gallery == 0 {
        bail!("--protocol tag needs images in and outside --split ({queries} queries, {gallery} gallery)");
    }
    let columns: Vec<String> = match &args.attribute {
        Some(a) if !catalog.columns.contains(a) => bail!(
            "no column `{a}` in {} (columns: {})",
            catalog.root.display(),
            catalog.columns.join(", ")
        ),
        Some(a) => vec![a.clone()],
        // Names and identifiers (nearly one value per image) are not categories to predict.
        None => {
            let (kept, names): (Vec<String>, Vec<String>) = catalog.columns.iter().cloned().partition(|c| {
                let column = catalog.column_index(c).expect("a catalogue column");
                let values: Vec<&str> = entries
                    .iter()
                    .map(|e| e.values[column].as_str())
                    .filter(|v| !v.is_empty())
                    .collect();
                let distinct: std::collections::HashSet<&str> = values.iter().copied().collect();
                distinct.len() * 4 <= values.len()
            });
            if !names.is_empty() && !args.json {
                println!("left out (names or identifiers, not categories): {}", names.join(", "));
            }
            kept
        }
    };
    let values: Vec<Vec<&str>> = columns
        .iter()
        .map(|c| {
            let column = catalog.column_index(c).expect("checked above");
            entries.iter().map(|e| e.values[column].as_str()).collect()
        })
        .collect();
    let items: Vec<&str> = entries.iter().map(|e| e.item_id.as_str()).collect();
    let attributes = tag_accuracy(&columns, &values, &items, &roles, vectors, dim, args.metric, args.k)?;
    let report = TagReport {
        protocol: Protocol::Tag,
        model,
        k: args.k,
        queries,
        gallery,
        skipped,
        attributes,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} on {}: kNN tagging (K = {}), {} queries against {} gallery images",
            report.model,
            catalog.root.display(),
            report.k,
            report.queries,
            report.gallery
        );
        println!("| attribute | accuracy | majority-class prior | queries |");
        println!("|---|---|---|---|");
        for a in &report.attributes {
            println!(
                "| {} | {:.3} | {:.3} ({}) | {} |",
                a.attribute, a.accuracy, a.prior, a.majority, a.queries
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
