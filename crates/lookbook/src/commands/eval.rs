//! `lookbook eval`: the study's top-k table for a model (or a baseline) on a catalogue.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use lookbook_catalog::{Catalog, Entry, Split};
use lookbook_embed::{Embedded, Embedder, View, ViewAveraged};
use lookbook_eval::TopKTable;
use lookbook_eval::catalogue::{
    EmbeddedPhotos, FittingTable, RecommendReport, TagReport, TopK, fitting_table, product_code_refusal,
};
use lookbook_eval::indexed::photos_of_index;
use lookbook_eval::leave_one_out::{index_top_k, searched_by};
use lookbook_eval::rerank::KReciprocal;
use lookbook_index::Metric;
use lookbook_recommend::RecommendConfig;
use serde::Serialize;

use super::embedding::{EmbedderArgs, SplitChoice, embed_with_progress, open_catalog, progress_bar};
use super::recommend::ReachArgs;
use lookbook_pgvector::IndexLocation;

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
    /// Recommendations against plain kNN at equal k (--k) over every image of the split:
    /// distance to the query, intra-list diversity, distinct attribute values (--attribute,
    /// default product_type_name or articleType) and items, share with the query's value and
    /// its group (--group, default product_group_name or subCategory); for λ = 0 … 1.
    Recommend,
    /// Text → image (a text model from `lookbook text train`; needs --catalog and --index):
    /// each photo's caption of the split (full text, name, colour + type + pattern) as the
    /// query among the split's photos; recall@k and median rank beside chance.
    Text,
    /// Whether the attention steps find parts of the garment (a seed model's run): share of
    /// step boxes mostly garment, garment share inside a box, garment covered by the boxes,
    /// pairwise IoU of the steps, box area; and a grid of explained photos (--png).
    Attention,
}

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    embedder: EmbedderArgs,
    /// Catalogue folder.
    #[arg(long, required_unless_present = "index")]
    catalog: Option<PathBuf>,
    /// Evaluate an index as built (folder or postgres://...?table=NAME) instead of embedding
    /// a catalogue: its vectors, searched as it searches them (HNSW, pgvector), every row a
    /// query against all the others (product-code, category). With --catalog (the one it
    /// was built from): its vectors with the catalogue's splits, searched exactly as an
    /// embedded catalogue is (--split, --gallery, --expand, --rerank), so one embedding
    /// serves every split and setting.
    #[arg(long, conflicts_with_all = ["model", "baseline", "views", "flip_average"])]
    index: Option<IndexLocation>,
    /// The text model of `--protocol text` (default: `text` in the index's model run folder).
    #[arg(long)]
    text_model: Option<PathBuf>,
    #[arg(long, value_enum)]
    protocol: Protocol,
    /// The attribute column of `--protocol category`, e.g. subCategory (for `tag`: only
    /// this one, instead of every column).
    #[arg(long, required_if_eq("protocol", "category"))]
    attribute: Option<String>,
    /// K of `--protocol tag` (how many neighbours vote) and of `recommend` (list length).
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// The coarse attribute `--protocol recommend` checks results stay in (default
    /// product_group_name, or subCategory).
    #[arg(long)]
    group: Option<String>,
    #[command(flatten)]
    reach: ReachArgs,
    /// Where to draw the top-k curve (default: eval-PROTOCOL-SPLIT.png in the model's
    /// folder; none for a baseline unless given).
    #[arg(long)]
    png: Option<PathBuf>,
    /// Which images (product-code, category); `all` for a catalogue never trained on.
    #[arg(long, value_enum, default_value = "test")]
    split: SplitChoice,
    /// product-code's gallery: the split's other photos, or every photo of the catalogue (the
    /// other splits' photos, training ones included, as distractors: a user's gallery is the
    /// whole catalogue).
    #[arg(long, value_enum, default_value = "split")]
    gallery: GalleryChoice,
    /// Embed each photo and its mirror image and average their retrieval vectors (flip
    /// test-time augmentation: twice the embedding time).
    #[arg(long, conflicts_with = "views")]
    flip_average: bool,
    /// Embed each photo as these views and average their retrieval vectors: photo (as
    /// decoded), mirror, grey (every colourway of a garment looks alike in grey). One
    /// forward pass per view; `--flip-average` is `--views photo,mirror`.
    #[arg(long, value_enum, value_delimiter = ',')]
    views: Vec<ViewChoice>,
    /// Average query expansion with database-side augmentation before ranking (product-code,
    /// inshop, category): every vector becomes the normalised mean of itself and its N nearest
    /// gallery vectors (0: off).
    #[arg(long, default_value_t = 0)]
    expand: usize,
    /// k-reciprocal re-ranking before the table (product-code, inshop, category): K1,K2,LAMBDA
    /// (e.g. 20,6,0.3; Zhong et al. 2017): photos whose nearest neighbours agree move up.
    #[arg(long)]
    rerank: Option<KReciprocal>,
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

/// `--views`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ViewChoice {
    Photo,
    Mirror,
    Grey,
}

impl From<ViewChoice> for View {
    fn from(choice: ViewChoice) -> View {
        match choice {
            ViewChoice::Photo => View::Photo,
            ViewChoice::Mirror => View::Mirror,
            ViewChoice::Grey => View::Grey,
        }
    }
}

/// `--gallery`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GalleryChoice {
    Split,
    All,
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

impl Report {
    /// JSON, or a heading (the model, `place`, the counts, `after`) and the table.
    fn print(&self, json: bool, place: &str, after: &str) -> Result<()> {
        if json {
            println!("{}", serde_json::to_string_pretty(self)?);
            return Ok(());
        }
        let what = match self.protocol {
            Protocol::Category => "precision@k and top-k by category",
            _ => "top-k accuracy",
        };
        let (t, model, images) = (&self.table, &self.model, self.images);
        println!(
            "{model} {place} ({images} images, {} queries, gallery {}){after}, {what}:\n{t}",
            t.queries, t.gallery
        );
        Ok(())
    }
}

impl EvalArgs {
    /// Where to draw the protocol's chart: --png, else eval-PROTOCOL-SPLIT.png in a run folder.
    fn chart(&self) -> Option<PathBuf> {
        let protocol = serde_json::to_value(self.protocol).expect("serialises");
        let split = self.split.to_possible_value().expect("no skipped values");
        let name = format!("eval-{}-{}.png", protocol.as_str().unwrap_or("eval"), split.get_name());
        let run = self.embedder.model.as_ref().filter(|run| run.is_dir());
        self.png.clone().or_else(|| run.map(|run| run.join(name)))
    }
}

pub fn run(args: EvalArgs, quiet: bool) -> Result<ExitCode> {
    if args.ks.is_empty() || args.ks.contains(&0) {
        bail!("--ks needs positive values, e.g. 1,5,10");
    }
    let retrieval = matches!(
        args.protocol,
        Protocol::ProductCode | Protocol::Inshop | Protocol::Category
    );
    if (args.expand > 0 || args.rerank.is_some()) && (!retrieval || args.catalog.is_none()) {
        bail!("--expand and --rerank apply to --protocol product-code, inshop and category on a catalogue");
    }
    match (&args.index, &args.catalog) {
        (Some(index), Some(catalog)) if args.protocol == Protocol::Text => {
            let [split] = Split::ALL
                .into_iter()
                .filter(|&s| args.split.accepts(s))
                .collect::<Vec<_>>()[..]
            else {
                bail!("--protocol text takes one --split (default test)");
            };
            return super::text::eval_report(catalog, index, args.text_model.as_deref(), split, &args.ks, args.json);
        }
        (_, _) if args.protocol == Protocol::Text => bail!("--protocol text needs --catalog and --index"),
        (Some(_), Some(_)) if !retrieval => {
            bail!("--catalog and --index together are for --protocol text, product-code, inshop and category")
        }
        (Some(index), None) => return index_report(&args, index),
        _ => {}
    }
    let catalog = open_catalog(args.catalog.as_ref().expect("clap requires --catalog without --index"))?;
    if args.protocol == Protocol::Attention {
        let Some(run) = &args.embedder.model else {
            bail!("--protocol attention needs --model RUN (a trained seed model)");
        };
        let entries: Vec<usize> = (0..catalog.entries.len())
            .filter(|&i| args.split.accepts(catalog.entries[i].split))
            .collect();
        let split = args.split.to_possible_value().expect("no skipped values");
        return super::attention::attention_report(
            &catalog,
            &entries,
            run,
            split.get_name(),
            args.png.clone(),
            args.json,
        );
    }
    let among_all = args.gallery == GalleryChoice::All;
    if among_all && (args.protocol != Protocol::ProductCode || args.split == SplitChoice::All) {
        bail!("--gallery all is for --protocol product-code with one --split (its photos are the queries)");
    }
    let order: Vec<usize> = (0..catalog.entries.len())
        .filter(|&i| match args.protocol {
            Protocol::ProductCode if among_all => true,
            Protocol::Inshop => matches!(catalog.entries[i].split, Split::Query | Split::Gallery),
            // Queries are the split; the gallery is everything else.
            Protocol::Tag => true,
            Protocol::Recommend => args.split.accepts(catalog.entries[i].split),
            _ => args.split.accepts(catalog.entries[i].split),
        })
        .collect();
    if order.is_empty() {
        bail!("no images of {} fit this protocol and split", catalog.root.display());
    }
    if args.protocol == Protocol::ProductCode {
        let in_split: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| args.split.accepts(catalog.entries[i].split))
            .collect();
        refuse_single_photo_items(&catalog, &in_split, &args)?;
    }
    let (embedded, model, dim, part_shape, label_part, not_indexed) = match &args.index {
        Some(index) => {
            let (embedded, model, dim, not_indexed) = vectors_of_index(index, &catalog, order)?;
            (embedded, model, dim, (0, 0), false, not_indexed)
        }
        None => {
            let (embedder, model) = embedder_with_views(&args)?;
            let (dim, part_shape, label_part) = (embedder.dim(), embedder.parts(), embedder.label_part());
            let bar = progress_bar(order.len(), quiet);
            let embedded = embed_with_progress(embedder, &catalog, order, args.embedder.batch, &bar, 0)?;
            bar.finish_and_clear();
            (embedded, model, dim, part_shape, label_part, 0)
        }
    };
    let entries: Vec<&Entry> = embedded.entries.iter().map(|&i| &catalog.entries[i]).collect();
    let photos = EmbeddedPhotos {
        catalog: &catalog,
        entries: &entries,
        vectors: &embedded.vectors,
        dim,
        metric: args.metric,
    };
    let skipped = embedded.bad.len() + not_indexed;
    match args.protocol {
        Protocol::Recommend => {
            let parts = (embedded.parts.as_slice(), part_shape, label_part);
            return recommend_report(&args, &photos, parts, model);
        }
        Protocol::Tag => return tag_report(&args, &photos, model, skipped),
        _ => {}
    }
    let query_splits: Vec<Split> = Split::ALL.into_iter().filter(|&s| args.split.accepts(s)).collect();
    let table = photos.top_k(
        match args.protocol {
            Protocol::Inshop => TopK::Inshop,
            Protocol::ProductCode if among_all => TopK::ProductCodeAmongAll(&query_splits),
            Protocol::ProductCode => TopK::ProductCode,
            _ => TopK::Category(args.attribute.as_deref().expect("clap requires --attribute")),
        },
        &args.ks,
        args.expand,
        args.rerank,
    )?;
    let report = Report {
        protocol: args.protocol,
        model,
        images: entries.len(),
        skipped,
        table,
    };
    if let Some(png) = &args.chart() {
        let label = report.model.rsplit('/').next().unwrap_or(&report.model);
        match report.table.draw(png, protocol_title(args.protocol), label) {
            Ok(()) => eprintln!("curve: {}", png.display()),
            Err(err) => eprintln!("could not draw {}: {err}", png.display()),
        }
    }
    report.print(args.json, &format!("on {}", catalog.root.display()), "")?;
    Ok(ExitCode::SUCCESS)
}

/// The model `--model`/`--baseline` names, averaged over `--views` (or `--flip-average`).
fn embedder_with_views(args: &EvalArgs) -> Result<(Arc<dyn Embedder>, String)> {
    let (embedder, model) = args.embedder.embedder()?;
    let views: Vec<View> = if args.flip_average {
        vec![View::Photo, View::Mirror]
    } else {
        args.views.iter().map(|&v| v.into()).collect()
    };
    if views.is_empty() || views == [View::Photo] {
        return Ok((embedder, model));
    }
    let averaged = ViewAveraged::new(embedder, &views).context("--views: this model's inputs are not images")?;
    let model = format!("{model} + {}", averaged.label());
    Ok((Arc::new(averaged), model))
}

/// `--catalog` with `--index`: the index's vectors of the catalogue's photos `order`, the
/// model's name, the vectors' length and how many photos the index lacks (left out).
fn vectors_of_index(
    index: &IndexLocation,
    catalog: &Catalog,
    order: Vec<usize>,
) -> Result<(Embedded, String, usize, usize)> {
    let contents = index.open()?;
    let photos = photos_of_index(&contents, catalog, &order).with_context(|| format!("the index {index}"))?;
    if let Some(first) = photos.missing.first() {
        let (count, first) = (photos.missing.len(), first.display());
        eprintln!("{count} photos of the catalogue are not in the index {index}, left out (first: {first})");
    }
    let (parts, boxes, bad) = (Vec::new(), Vec::new(), Vec::new());
    let (entries, vectors) = (photos.entries, photos.vectors);
    let embedded = Embedded {
        entries,
        vectors,
        parts,
        boxes,
        bad,
    };
    let model = format!("{} (index {index})", contents.info.model);
    Ok((embedded, model, contents.info.dim, photos.missing.len()))
}

/// product-code's queries are photos whose item has another photo: on a catalogue with one
/// photo per product there are none, and a table of zeros would say the model is useless.
fn refuse_single_photo_items(catalog: &Catalog, order: &[usize], args: &EvalArgs) -> Result<()> {
    let in_split: Vec<&Entry> = order.iter().map(|&i| &catalog.entries[i]).collect();
    let split = args.split.to_possible_value().expect("no skipped values");
    match fitting_table(catalog, &in_split) {
        FittingTable::ProductCode => Ok(()),
        _ => bail!("{}", product_code_refusal(catalog, split.get_name())),
    }
}

/// `--index`: the table of an index as it is searched. Every row is a query; its neighbours
/// are the index's own answers (k + 1, itself dropped), in batches.
fn index_report(args: &EvalArgs, index: &IndexLocation) -> Result<ExitCode> {
    if !matches!(args.protocol, Protocol::ProductCode | Protocol::Category) {
        bail!("--index evaluates --protocol product-code or category (an index has no query/gallery split)");
    }
    if args.gallery == GalleryChoice::All {
        bail!("--gallery all with --index needs --catalog (the catalogue's splits; an index holds none)");
    }
    let contents = index.open()?;
    let started = std::time::Instant::now();
    let protocol = match args.protocol {
        Protocol::ProductCode => TopK::ProductCode,
        _ => TopK::Category(args.attribute.as_deref().expect("clap requires --attribute")),
    };
    let table = index_top_k(&contents, protocol, &args.ks).with_context(|| format!("evaluating the index {index}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let searched = searched_by(&contents);
    let report = Report {
        protocol: args.protocol,
        model: contents.info.model.clone(),
        images: contents.records.len(),
        skipped: 0,
        table,
    };
    let searched = format!(", searched by {searched} in {seconds:.1} s");
    report.print(args.json, &format!("in the index {index}"), &searched)?;
    Ok(ExitCode::SUCCESS)
}

fn protocol_title(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Inshop => "In-shop top-k accuracy",
        Protocol::ProductCode => "product-code top-k accuracy",
        Protocol::Category => "category precision@k",
        Protocol::Tag => "kNN tagging accuracy",
        Protocol::Recommend => "recommendations against kNN",
        Protocol::Attention => "attention steps on the garment",
        Protocol::Text => "text → image recall",
    }
}

#[derive(Serialize)]
struct TagOutput {
    protocol: Protocol,
    model: String,
    skipped: usize,
    #[serde(flatten)]
    report: TagReport,
}

/// `--protocol tag`: queries are the images of `--split`, the gallery every other image
/// (`all`: every image, leaving the query's own item out).
fn tag_report(args: &EvalArgs, photos: &EmbeddedPhotos, model: String, skipped: usize) -> Result<ExitCode> {
    if args.k == 0 {
        bail!("--k must be at least 1");
    }
    let in_split = |split| args.split.accepts(split);
    let is_query: Option<&dyn Fn(Split) -> bool> = match args.split {
        SplitChoice::All => None,
        _ => Some(&in_split),
    };
    let report = photos.tag(is_query, args.attribute.as_deref(), args.k)?;
    if args.json {
        let output = TagOutput {
            protocol: Protocol::Tag,
            model,
            skipped,
            report,
        };
        println!("{}", serde_json::to_string_pretty(&output)?);
    } else {
        if !report.left_out.is_empty() {
            println!(
                "left out (names or identifiers, not categories): {}",
                report.left_out.join(", ")
            );
        }
        println!(
            "{model} on {}: kNN tagging (K = {}), {} queries against {} gallery images",
            photos.catalog.root.display(),
            report.k,
            report.queries,
            report.gallery
        );
        println!("{report}");
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct RecommendOutput {
    protocol: Protocol,
    model: String,
    #[serde(flatten)]
    report: RecommendReport,
}

/// `--protocol recommend`: every image of the split asks for k results from the rest of the
/// split (its own item left out), by plain kNN and by `recommend` at λ = 0, ¼, ½, ¾ and 1.
fn recommend_report(
    args: &EvalArgs,
    photos: &EmbeddedPhotos,
    parts: (&[f32], (usize, usize), bool),
    model: String,
) -> Result<ExitCode> {
    if args.k == 0 {
        bail!("--k must be at least 1");
    }
    let config = RecommendConfig {
        k: args.k,
        ..args.reach.config()
    };
    let columns = (args.attribute.as_deref(), args.group.as_deref());
    let report = photos.recommend(parts, columns, &config)?;
    let queries = report.trade_off.queries;
    if let Some(png) = &args.chart() {
        match report.draw(png) {
            Ok(()) => eprintln!("trade-off curve: {}", png.display()),
            Err(err) => eprintln!("could not draw {}: {err}", png.display()),
        }
    }
    if args.json {
        let output = RecommendOutput {
            protocol: Protocol::Recommend,
            model,
            report,
        };
        println!("{}", serde_json::to_string_pretty(&output)?);
    } else {
        println!(
            "{model} on {}: {queries} queries, k = {}, attribute {}, group {}",
            photos.catalog.root.display(),
            report.k,
            report.attribute,
            report.group
        );
        println!("{report}");
    }
    Ok(ExitCode::SUCCESS)
}
