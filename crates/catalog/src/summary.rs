//! What `lookbook catalog inspect` reports about a catalogue.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::entry::CatalogFormat;
use crate::entry::{Catalog, Problem, ProblemKind};
use crate::vocabulary::LabelVocabulary;

/// How many items have 1, 2, 3, … images (the last bucket is "at least").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImagesPerItem {
    /// `"1"`, `"2"`, … `"10+"`.
    pub images: String,
    pub items: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CatalogSummary {
    pub root: PathBuf,
    pub format: CatalogFormat,
    pub images: usize,
    pub items: usize,
    pub images_per_item: Vec<ImagesPerItem>,
    pub columns: Vec<String>,
    pub label_columns: Vec<String>,
    pub label_vocabulary_size: usize,
    pub min_label_count: usize,
    pub splits: BTreeMap<String, usize>,
    pub splits_from_source: bool,
    pub missing_images: usize,
    pub malformed_rows: usize,
    pub repaired_rows: usize,
    /// Every problem found; the CLI shows the first few.
    pub problems: Vec<Problem>,
}

/// Items with this many images or more share the last histogram bucket.
const HISTOGRAM_CAP: usize = 10;

impl CatalogSummary {
    pub fn new(catalog: &Catalog, vocabulary: &LabelVocabulary) -> Self {
        let mut per_item: HashMap<&str, usize> = HashMap::new();
        for e in &catalog.entries {
            *per_item.entry(e.item_id.as_str()).or_insert(0) += 1;
        }
        let mut histogram = [0usize; HISTOGRAM_CAP];
        for &n in per_item.values() {
            histogram[n.min(HISTOGRAM_CAP) - 1] += 1;
        }
        let images_per_item = histogram
            .iter()
            .enumerate()
            .filter(|(_, items)| **items > 0)
            .map(|(i, &items)| ImagesPerItem {
                images: if i + 1 == HISTOGRAM_CAP {
                    format!("{HISTOGRAM_CAP}+")
                } else {
                    (i + 1).to_string()
                },
                items,
            })
            .collect();
        let count = |kind| catalog.problems_of(kind).count();
        CatalogSummary {
            root: catalog.root.clone(),
            format: catalog.format,
            images: catalog.entries.len(),
            items: per_item.len(),
            images_per_item,
            columns: catalog.columns.clone(),
            label_columns: vocabulary.columns.clone(),
            label_vocabulary_size: vocabulary.len(),
            min_label_count: vocabulary.config.min_count,
            splits: catalog
                .split_sizes()
                .into_iter()
                .map(|(s, n)| (s.to_string(), n))
                .collect(),
            splits_from_source: catalog.splits_from_source,
            missing_images: count(ProblemKind::MissingImage),
            malformed_rows: count(ProblemKind::MalformedRow),
            repaired_rows: count(ProblemKind::RepairedRow),
            problems: catalog.problems.clone(),
        }
    }
}

impl CatalogSummary {
    /// The first `show` problems, a line each, and how many more there are.
    pub fn problem_lines(&self, show: usize) -> Vec<String> {
        let mut lines: Vec<String> = self.problems.iter().take(show).map(|p| format!("  {p}")).collect();
        if self.problems.len() > show {
            let more = self.problems.len() - show;
            lines.push(format!("  … {more} more (--show-problems N or --json)"));
        }
        lines
    }
}

impl std::fmt::Display for CatalogSummary {
    /// The summary as `lookbook catalog inspect` prints it, a line per fact (the problems
    /// themselves are listed by the caller, as many as it wants).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let histogram: Vec<String> = self
            .images_per_item
            .iter()
            .map(|b| format!("{}: {}", b.images, b.items))
            .collect();
        writeln!(f, "catalogue    {}", self.root.display())?;
        writeln!(f, "format       {}", self.format)?;
        writeln!(f, "images       {}", self.images)?;
        writeln!(f, "items        {}", self.items)?;
        writeln!(f, "images/item  {}", histogram.join(", "))?;
        writeln!(f, "columns      {}", self.columns.join(", "))?;
        let label_columns = match self.label_columns.is_empty() {
            true => "free labels".to_string(),
            false => self.label_columns.join(", "),
        };
        writeln!(
            f,
            "labels       {} (values with >= {} images, from: {label_columns})",
            self.label_vocabulary_size, self.min_label_count
        )?;
        let splits: Vec<String> = self.splits.iter().map(|(s, n)| format!("{s} {n}")).collect();
        let origin = match self.splits_from_source {
            true => "from the catalogue",
            false => "by item-id hash",
        };
        writeln!(f, "splits       {} ({origin})", splits.join(", "))?;
        write!(
            f,
            "problems     {} missing images, {} malformed rows skipped, {} rows repaired",
            self.missing_images, self.malformed_rows, self.repaired_rows
        )
    }
}
