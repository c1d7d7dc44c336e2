//! The protocols on a catalogue's embedded photos: which photos are queries and gallery,
//! which columns are measured, and the report each gives (printed by the CLI as a markdown
//! table, or as JSON).

use std::fmt;
use std::path::Path;

use lookbook_catalog::{Catalog, Entry, Split};
use lookbook_imaging::draw::{DrawError, Line, line_chart, write_png};
use lookbook_index::{IndexError, Metric};
use lookbook_recommend::RecommendConfig;
use serde::Serialize;

use crate::recommend::{LabelledRows, RecommendRow, TradeOff, recommend_trade_off};
use crate::rerank::{KReciprocal, k_reciprocal_neighbours};
use crate::{
    Role, TagAccuracy, TopKTable, expand_by_neighbours, is_categorical, precision_at_k, precision_at_k_of,
    tag_accuracy, top_k_accuracy, top_k_accuracy_of, valued_queries,
};

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A column the catalogue lacks.
    #[error("no column `{column}` in {catalogue} (columns: {columns})")]
    NoColumn {
        column: String,
        catalogue: String,
        columns: String,
    },
    /// An index evaluated with a catalogue it was not built from.
    #[error("the index was built from {}, not {}: its rows cannot be matched to this catalogue", index.display(), catalogue.display())]
    OtherCatalogue {
        index: std::path::PathBuf,
        catalogue: std::path::PathBuf,
    },
    /// Nothing to measure (no queries, no gallery).
    #[error("{0}")]
    Empty(String),
}

/// The embedded photos of a protocol: catalogue entries in row order with their vectors.
pub struct EmbeddedPhotos<'a> {
    pub catalog: &'a Catalog,
    pub entries: &'a [&'a Entry],
    pub vectors: &'a [f32],
    pub dim: usize,
    pub metric: Metric,
}

/// The retrieval tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopK<'a> {
    /// DeepFashion In-shop: query photos against gallery photos, hit = same item.
    Inshop,
    /// Every photo against the others, hit = same item (H&M's product code).
    ProductCode,
    /// The photos of these splits against every other photo of the catalogue, hit = same
    /// item: the other splits' photos (training ones included) are distractors, as in a
    /// user's whole catalogue.
    ProductCodeAmongAll(&'a [Split]),
    /// Precision@k of an attribute among the k nearest.
    Category(&'a str),
}

impl EmbeddedPhotos<'_> {
    fn column(&self, name: &str) -> Result<usize, EvalError> {
        self.catalog
            .column_index(name)
            .ok_or_else(|| no_column(self.catalog, name))
    }

    /// The table of `protocol` at each of `ks`, every vector first expanded by its `expand`
    /// nearest gallery vectors ([`expand_by_neighbours`]; 0 = as embedded), then ranked by
    /// distance or, with `rerank`, by [`k_reciprocal_neighbours`].
    pub fn top_k(
        &self,
        protocol: TopK,
        ks: &[usize],
        expand: usize,
        rerank: Option<KReciprocal>,
    ) -> Result<TopKTable, EvalError> {
        let (entries, dim, metric) = (self.entries, self.dim, self.metric);
        let items: Vec<&str> = entries.iter().map(|e| e.item_id.as_str()).collect();
        let roles: Vec<Role> = entries
            .iter()
            .map(|e| match &protocol {
                TopK::Inshop if e.split == Split::Query => Role::Query,
                TopK::Inshop => Role::Gallery,
                TopK::ProductCodeAmongAll(queries) if !queries.contains(&e.split) => Role::Gallery,
                _ => Role::Both,
            })
            .collect();
        let vectors = expand_by_neighbours(&roles, self.vectors, dim, metric, expand)?;
        if let Some(settings) = rerank {
            let k_max = ks.iter().copied().max().unwrap_or(0);
            return Ok(match protocol {
                TopK::Category(attribute) => {
                    let column = self.column(attribute)?;
                    let values: Vec<&str> = entries.iter().map(|e| e.values[column].as_str()).collect();
                    let roles = valued_queries(&roles, &values);
                    let found = k_reciprocal_neighbours(&roles, &vectors, dim, metric, settings, k_max);
                    precision_at_k_of(&values, &roles, &found, ks)
                }
                _ => {
                    let found = k_reciprocal_neighbours(&roles, &vectors, dim, metric, settings, k_max);
                    top_k_accuracy_of(&items, &roles, &found, ks)
                }
            });
        }
        Ok(match protocol {
            TopK::Category(attribute) => {
                let column = self.column(attribute)?;
                let values: Vec<&str> = entries.iter().map(|e| e.values[column].as_str()).collect();
                precision_at_k(&values, &roles, &vectors, dim, metric, ks)?
            }
            _ => top_k_accuracy(&items, &roles, &vectors, dim, metric, ks)?,
        })
    }

    /// kNN tagging: the photos `is_query` accepts against the others (`None`: every photo,
    /// leaving its own item out), for `attribute` or every categorical column.
    pub fn tag(
        &self,
        is_query: Option<&dyn Fn(Split) -> bool>,
        attribute: Option<&str>,
        k: usize,
    ) -> Result<TagReport, EvalError> {
        let roles: Vec<Role> = self
            .entries
            .iter()
            .map(|e| match is_query {
                None => Role::Both,
                Some(is_query) if is_query(e.split) => Role::Query,
                Some(_) => Role::Gallery,
            })
            .collect();
        let queries = roles.iter().filter(|r| **r != Role::Gallery).count();
        let gallery = roles.iter().filter(|r| **r != Role::Query).count();
        if queries == 0 || gallery == 0 {
            return Err(EvalError::Empty(format!(
                "--protocol tag needs images in and outside --split ({queries} queries, {gallery} gallery)"
            )));
        }
        let (columns, left_out): (Vec<String>, Vec<String>) = match attribute {
            Some(a) => {
                self.column(a)?;
                (vec![a.to_string()], Vec::new())
            }
            // Names and identifiers (nearly one value per image) are not categories to predict.
            None => self.catalog.columns.iter().cloned().partition(|c| {
                let column = self.catalog.column_index(c).expect("a catalogue column");
                is_categorical(self.entries.iter().map(|e| e.values[column].as_str()))
            }),
        };
        let values: Vec<Vec<&str>> = columns
            .iter()
            .map(|c| {
                let column = self.catalog.column_index(c).expect("checked above");
                self.entries.iter().map(|e| e.values[column].as_str()).collect()
            })
            .collect();
        let items: Vec<&str> = self.entries.iter().map(|e| e.item_id.as_str()).collect();
        let attributes = tag_accuracy(
            &columns,
            &values,
            &items,
            &roles,
            self.vectors,
            self.dim,
            self.metric,
            k,
        )?;
        Ok(TagReport {
            k,
            queries,
            gallery,
            left_out,
            attributes,
        })
    }

    /// Recommendations against kNN per λ: the measured `attribute` (default
    /// product_type_name or articleType, else the first column) and the `group` lists should
    /// stay in (default product_group_name or subCategory); `parts` beside the vectors.
    pub fn recommend(
        &self,
        (parts, part_shape, label_part): (&[f32], (usize, usize), bool),
        (attribute, group): (Option<&str>, Option<&str>),
        config: &RecommendConfig,
    ) -> Result<RecommendReport, EvalError> {
        let (attribute, column) = self.column_or(attribute, &["product_type_name", "articleType"], true)?;
        let (group, group_column) = self.column_or(group, &["product_group_name", "subCategory"], false)?;
        let value_in = |column: Option<usize>| -> Vec<Option<&str>> {
            self.entries
                .iter()
                .map(|e| column.map(|c| e.values[c].as_str()).filter(|v| !v.is_empty()))
                .collect()
        };
        let item_ids: Vec<&str> = self.entries.iter().map(|e| e.item_id.as_str()).collect();
        let (values, groups) = (value_in(column), value_in(group_column));
        let rows = LabelledRows {
            item_ids: &item_ids,
            values: &values,
            groups: &groups,
            vectors: self.vectors,
            parts,
            dim: self.dim,
            part_shape,
            label_part,
            metric: self.metric,
        };
        let trade_off = recommend_trade_off(&rows, config)?;
        if trade_off.queries == 0 {
            return Err(EvalError::Empty(
                "no queries: the split needs images of at least two items".into(),
            ));
        }
        Ok(RecommendReport {
            k: config.k,
            attribute,
            group,
            trade_off,
        })
    }

    /// The column `given`, else the first of `defaults` the catalogue has (else its first
    /// column when `or_first`, else none: ""), and its index; a named column it lacks is an error.
    fn column_or(
        &self,
        given: Option<&str>,
        defaults: &[&str],
        or_first: bool,
    ) -> Result<(String, Option<usize>), EvalError> {
        let columns = &self.catalog.columns;
        let name = match given {
            Some(name) => name.to_string(),
            None => defaults
                .iter()
                .find(|c| columns.iter().any(|x| x == *c))
                .map(|c| c.to_string())
                .or_else(|| or_first.then(|| columns.first().cloned()).flatten())
                .unwrap_or_default(),
        };
        let index = self.catalog.column_index(&name);
        if index.is_none() && !name.is_empty() {
            return Err(no_column(self.catalog, &name));
        }
        Ok((name, index))
    }
}

fn no_column(catalog: &Catalog, column: &str) -> EvalError {
    EvalError::NoColumn {
        column: column.to_string(),
        catalogue: catalog.root.display().to_string(),
        columns: catalog.columns.join(", "),
    }
}

/// kNN tagging accuracy per attribute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagReport {
    pub k: usize,
    pub queries: usize,
    pub gallery: usize,
    /// Columns not measured: names or identifiers, not categories.
    #[serde(skip)]
    pub left_out: Vec<String>,
    pub attributes: Vec<TagAccuracy>,
}

/// Recommendations against kNN.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecommendReport {
    pub k: usize,
    pub attribute: String,
    pub group: String,
    #[serde(flatten)]
    pub trade_off: TradeOff,
}

impl fmt::Display for TopKTable {
    /// One markdown table: a column per k (a precision table adds a row of top-k hit rates).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header: Vec<String> = self.ks.iter().map(|k| format!("k={k}")).collect();
        let row = |values: &[f64]| values.iter().map(|v| format!("{v:.3}")).collect::<Vec<_>>().join(" | ");
        if self.hit_rates.is_empty() {
            writeln!(f, "| {} |", header.join(" | "))?;
            writeln!(f, "|{}", "---|".repeat(header.len()))?;
            return write!(f, "| {} |", row(&self.values));
        }
        writeln!(f, "| | {} |", header.join(" | "))?;
        writeln!(f, "|---|{}", "---|".repeat(header.len()))?;
        writeln!(f, "| precision@k | {} |", row(&self.values))?;
        write!(f, "| top-k (one of k shares it) | {} |", row(&self.hit_rates))
    }
}

/// Columns that name a product's category, most specific first: the attribute a catalogue
/// without repeated items is evaluated by when it has one (H&M, Myntra, DeepFashion-style).
pub const CATEGORY_COLUMNS: [&str; 5] = ["product_type_name", "articleType", "category_name", "category", "type"];

/// The attribute to rank by when no item has two photos, and why it was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CategoryChoice {
    pub column: String,
    pub why: String,
}

/// The rule: the first of [`CATEGORY_COLUMNS`] the catalogue has that is categorical (at most
/// one value per four photos); else the categorical column with the most distinct values
/// (the most informative to rank by); `None` when no column is categorical.
pub fn category_column(catalog: &Catalog, entries: &[&Entry]) -> Option<CategoryChoice> {
    let values = |column: usize| entries.iter().map(move |e| e.values[column].as_str());
    let categorical = |column: usize| is_categorical(values(column));
    for name in CATEGORY_COLUMNS {
        if catalog.column_index(name).is_some_and(categorical) {
            return Some(CategoryChoice {
                column: name.to_string(),
                why: format!("{name}: the catalogue's category column"),
            });
        }
    }
    let distinct = |column: usize| {
        let set: std::collections::HashSet<&str> = values(column).filter(|v| !v.is_empty()).collect();
        set.len()
    };
    (0..catalog.columns.len())
        .filter(|&c| categorical(c) && distinct(c) >= 2)
        .max_by_key(|&c| (distinct(c), std::cmp::Reverse(c)))
        .map(|c| CategoryChoice {
            column: catalog.columns[c].clone(),
            why: format!(
                "{}: the categorical column with the most values ({})",
                catalog.columns[c],
                distinct(c)
            ),
        })
}

impl fmt::Display for TagReport {
    /// A markdown row per attribute: accuracy beside always guessing the majority value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "| attribute | accuracy | majority-class prior | queries |")?;
        write!(f, "|---|---|---|---|")?;
        for a in &self.attributes {
            write!(
                f,
                "\n| {} | {:.3} | {:.3} ({}) | {} |",
                a.attribute, a.accuracy, a.prior, a.majority, a.queries
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for RecommendReport {
    /// A markdown row per method, each ratio against kNN's.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "| method | distance to query (vs kNN) | intra-list diversity (vs kNN) | distinct {} | distinct items | same {} as query | same {} as query (vs kNN) |",
            self.attribute, self.attribute, self.group
        )?;
        write!(f, "|---|---|---|---|---|---|---|")?;
        let knn = self.trade_off.rows[0].stats;
        for r in &self.trade_off.rows {
            write!(
                f,
                "\n| {} | {:.4} ({:.2}) | {:.4} ({:.2}) | {:.2} | {:.2} | {:.3} | {:.3} ({:.2}) |",
                r.method,
                r.stats.relevance_distance,
                r.relevance_vs_knn,
                r.stats.diversity,
                r.stats.diversity / knn.diversity.max(f64::MIN_POSITIVE),
                r.stats.distinct_values,
                r.stats.distinct_items,
                r.stats.same_value,
                r.stats.same_group,
                r.stats.same_group / knn.same_group.max(f64::MIN_POSITIVE)
            )?;
        }
        Ok(())
    }
}

impl TopKTable {
    /// The table as a curve over k (one line, `label`), titled `title`, drawn into `png`.
    pub fn draw(&self, png: &Path, title: &str, label: &str) -> Result<(), DrawError> {
        let line = Line {
            label: label.to_string(),
            points: self.ks.iter().zip(&self.values).map(|(&k, &v)| (k as f64, v)).collect(),
        };
        let title = format!("{title} ({} queries)", self.queries);
        write_png(png, &line_chart(&title, "k", &[line], (800, 500))?)
    }
}

impl RecommendReport {
    /// Distance to the query against diversity: recommendations from λ = 0 to 1, and kNN's
    /// point, drawn into `png`.
    pub fn draw(&self, png: &Path) -> Result<(), DrawError> {
        let point = |r: &RecommendRow| (r.stats.diversity, r.stats.relevance_distance);
        let rows = &self.trade_off.rows;
        let lines = [
            Line {
                label: "recommend, λ = 0 … 1".into(),
                points: rows[1..].iter().map(point).collect(),
            },
            Line {
                label: "plain kNN".into(),
                points: vec![point(&rows[0])],
            },
        ];
        let title = format!(
            "distance to the query against diversity ({} queries, k = {})",
            self.trade_off.queries, self.k
        );
        let chart = line_chart(
            &title,
            "intra-list diversity (mean pairwise distance)",
            &lines,
            (800, 500),
        )?;
        write_png(png, &chart)
    }
}

/// The top-k table a catalogue's photos support (issue 25: a catalogue with one photo per
/// product used to get a row of zeros, "0 queries", as its headline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FittingTable {
    /// Some product has two photos among them: the study's table, by item id.
    ProductCode,
    /// One photo per product: rank by this category instead.
    Category(CategoryChoice),
    /// One photo per product and no categorical column.
    None,
}

/// Which table fits `photos` (a split's entries); the category column is chosen on the whole
/// catalogue, since whether a column is a category is a property of the catalogue, not of a
/// small split.
pub fn fitting_table(catalog: &Catalog, photos: &[&Entry]) -> FittingTable {
    if crate::has_repeated_items(photos.iter().map(|e| e.item_id.as_str())) {
        return FittingTable::ProductCode;
    }
    let everything: Vec<&Entry> = catalog.entries.iter().collect();
    category_column(catalog, &everything).map_or(FittingTable::None, FittingTable::Category)
}

/// Why product-code has nothing to measure on `catalog`'s `split` (no product with two
/// photos there), naming the protocols that fit.
pub fn product_code_refusal(catalog: &Catalog, split: &str) -> String {
    let everything: Vec<&Entry> = catalog.entries.iter().collect();
    let category = category_column(catalog, &everything).map_or_else(
        || "category --attribute COLUMN".to_string(),
        |choice| format!("category --attribute {}", choice.column),
    );
    format!(
        "no item of {} ({split} split) has two photos, so `--protocol product-code` (a hit = another photo of \
         the query's item) has no queries. Protocols that fit one photo per product: `--protocol {category}` \
         (precision@k and top-k by category), `--protocol tag` and `--protocol recommend`",
        catalog.root.display()
    )
}
