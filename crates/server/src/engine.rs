//! What the server answers with, independent of HTTP: an opened index, the model that
//! embeds uploads, and the search and recommend queries over them. Every method here is
//! blocking (model inference, index scans); the handlers call them on tokio's blocking pool.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use lookbook_embed::{Embedder, Explanation, SeedEmbedder};
use lookbook_index::{IndexContents, Predicate, SearchMode};
use lookbook_recommend::{Matched, Query, RecommendConfig, nearest_step, recommend};

use crate::api::{Answer, AttributeValues, ImageRef, ItemDetail, ItemPage, QueryInfo, RegionBox, ResultItem};
use crate::error::ApiError;

/// Explained photos kept (boxes of every step per image: a few hundred bytes each).
const REGION_CACHE: usize = 100_000;
/// Values listed per attribute for the page's filters.
const FACET_VALUES: usize = 60;

/// Where the query vector comes from.
pub enum QuerySource {
    /// The first image of an item in the index (its own images are left out of the answer).
    Item(String),
    /// An uploaded photo's bytes.
    Photo(Vec<u8>),
}

/// One search or recommend request, validated.
pub struct QuerySpec {
    pub source: QuerySource,
    pub k: usize,
    /// Attribute column → the value every result must have.
    pub filter: BTreeMap<String, String>,
    /// `None`: plain nearest neighbours (search); `Some(λ)`: recommend with MMR weight λ.
    pub diversity: Option<f32>,
    /// Attention boxes of the results and of an indexed query: the model runs once per
    /// photo not seen before (~45 ms at 192×128 on a CPU core), so clients that only want
    /// the list turn them off.
    pub boxes: bool,
}

/// The index, the model and what the page needs to browse them.
pub struct Engine {
    contents: IndexContents,
    /// Embeds uploads; `None` when the index's model is not available (queries by item id still work).
    embedder: Option<Arc<dyn Embedder>>,
    /// The seed model behind the index, when it is one: attention boxes for queries and results.
    seed: Option<Arc<SeedEmbedder>>,
    /// Item id → its rows, in row order; and the items in order of first appearance.
    items: HashMap<String, Vec<usize>>,
    item_order: Vec<String>,
    facets: Vec<AttributeValues>,
    /// Image key → each step's box as fractions of the photo (step 0 is the whole photo).
    regions: Mutex<HashMap<u64, Arc<Vec<NamedBox>>>>,
    pub(crate) max_k: usize,
}

impl Engine {
    /// Reads every record once: items, their rows, and the attribute values for filters.
    pub fn new(
        contents: IndexContents,
        embedder: Option<Arc<dyn Embedder>>,
        seed: Option<Arc<SeedEmbedder>>,
    ) -> Result<Self, lookbook_index::IndexError> {
        let mut items: HashMap<String, Vec<usize>> = HashMap::new();
        let mut item_order = Vec::new();
        let mut counts: BTreeMap<String, HashMap<String, usize>> = BTreeMap::new();
        for row in 0..contents.records.len() {
            let record = contents.records.get(row)?;
            let rows = items.entry(record.item_id.clone()).or_default();
            if rows.is_empty() {
                item_order.push(record.item_id.clone());
            }
            rows.push(row);
            for (column, value) in &record.attributes {
                *counts
                    .entry(column.clone())
                    .or_default()
                    .entry(value.clone())
                    .or_default() += 1;
            }
        }
        let facets = contents
            .info
            .columns
            .iter()
            .filter_map(|column| {
                let values = counts.remove(column)?;
                let distinct = values.len();
                let mut values: Vec<(String, usize)> = values.into_iter().collect();
                values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                values.truncate(FACET_VALUES);
                Some(AttributeValues {
                    attribute: column.clone(),
                    distinct,
                    values: values
                        .into_iter()
                        .map(|(value, images)| (value, images).into())
                        .collect(),
                })
            })
            .collect();
        Ok(Engine {
            contents,
            embedder,
            seed,
            items,
            item_order,
            facets,
            regions: Mutex::new(HashMap::new()),
            max_k: 200,
        })
    }

    pub fn images(&self) -> usize {
        self.contents.records.len()
    }

    pub fn items(&self) -> usize {
        self.item_order.len()
    }

    pub fn model(&self) -> &str {
        &self.contents.info.model
    }

    /// Whether photos can be uploaded (the index's model is loaded).
    pub fn embeds_photos(&self) -> bool {
        self.embedder.is_some()
    }

    /// Whether answers carry attention boxes.
    pub fn explains(&self) -> bool {
        self.seed.is_some() && self.contents.info.parts > 1
    }

    pub fn attributes(&self) -> &[AttributeValues] {
        &self.facets
    }

    /// The photo file of the image with key `key` — the only way the server finds a file.
    pub fn image_path(&self, key: u64) -> Option<PathBuf> {
        let row = self.contents.row_of(key)?;
        let record = self.contents.records.get(row).ok()?;
        Some(self.contents.info.catalog_root.join(&record.image))
    }

    /// One item: its images and its first image's attributes.
    pub fn item(&self, item_id: &str) -> Result<ItemDetail, ApiError> {
        let rows = self
            .items
            .get(item_id)
            .ok_or_else(|| ApiError::not_found(format!("no item `{item_id}` in the index")))?;
        let mut images = Vec::with_capacity(rows.len());
        let mut attributes = BTreeMap::new();
        for (i, &row) in rows.iter().enumerate() {
            let record = self.contents.records.get(row).map_err(ApiError::internal)?;
            if i == 0 {
                attributes = record.attributes.clone();
            }
            images.push(ImageRef::new(record.key));
        }
        Ok(ItemDetail {
            item_id: item_id.to_string(),
            attributes,
            images,
        })
    }

    /// A page of items (each with its first image), in index order, optionally only those
    /// whose first image passes `filter`.
    pub fn list_items(
        &self,
        offset: usize,
        limit: usize,
        filter: &BTreeMap<String, String>,
    ) -> Result<ItemPage, ApiError> {
        self.check_filter(filter)?;
        let mut matching = 0;
        let mut page = Vec::new();
        for item_id in &self.item_order {
            let row = self.items[item_id][0];
            let record = self.contents.records.get(row).map_err(ApiError::internal)?;
            if !filter.iter().all(|(c, v)| record.attributes.get(c) == Some(v)) {
                continue;
            }
            if matching >= offset && page.len() < limit {
                page.push(ItemDetail {
                    item_id: item_id.clone(),
                    attributes: record.attributes.clone(),
                    images: vec![ImageRef::new(record.key)],
                });
            }
            matching += 1;
        }
        Ok(ItemPage {
            total: matching,
            offset,
            items: page,
        })
    }

    fn check_filter(&self, filter: &BTreeMap<String, String>) -> Result<(), ApiError> {
        for column in filter.keys() {
            if !self.contents.info.columns.contains(column) {
                return Err(ApiError::bad_request(format!(
                    "unknown attribute `{column}`; the index has: {}",
                    self.contents.info.columns.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Nearest images (`diversity: None`) or varied recommendations, with boxes.
    pub fn query(&self, spec: QuerySpec) -> Result<Answer, ApiError> {
        let start = Instant::now();
        if spec.k == 0 || spec.k > self.max_k {
            return Err(ApiError::bad_request(format!(
                "k must be 1..={}, not {}",
                self.max_k, spec.k
            )));
        }
        if let Some(diversity) = spec.diversity
            && !(0.0..=1.0).contains(&diversity)
        {
            return Err(ApiError::bad_request(format!(
                "diversity is λ in 0..1, not {diversity}"
            )));
        }
        self.check_filter(&spec.filter)?;
        let (vector, parts, query) = self.resolve(&spec.source, spec.boxes)?;
        let contents = &self.contents;
        let own_item = query.item_id.clone();
        let accept = |key: u64| {
            let Some(row) = contents.row_of(key) else { return false };
            let Ok(record) = contents.records.get(row) else {
                return false;
            };
            spec.filter.iter().all(|(c, v)| record.attributes.get(c) == Some(v))
        };
        let filtered = !spec.filter.is_empty();
        let filter: Option<&(dyn Fn(u64) -> bool + Sync)> = if filtered { Some(&accept) } else { None };
        // Plain search as a predicate, which an index in PostgreSQL evaluates in SQL.
        let predicate = Predicate {
            attributes: spec.filter.iter().map(|(c, v)| (c.clone(), v.clone())).collect(),
            exclude_item: own_item.clone(),
        };
        let picks: Vec<Pick> = match spec.diversity {
            None => contents
                .search_matching(&vector, spec.k, &predicate, SearchMode::Auto)
                .map_err(ApiError::internal)?
                .into_iter()
                .map(|hit| {
                    let step = match (self.explains(), contents.row_of(hit.key)) {
                        (true, Some(row)) => Some(nearest_step(contents, &parts, row)).filter(|&s| s > 0),
                        _ => None,
                    };
                    (hit.key, hit.distance, step, None)
                })
                .collect(),
            Some(diversity) => {
                let config = RecommendConfig {
                    k: spec.k,
                    diversity,
                    ..RecommendConfig::default()
                };
                let query = Query {
                    vector: &vector,
                    parts: if self.contents.info.parts > 0 { &parts } else { &[] },
                    item_id: own_item.as_deref(),
                };
                recommend(contents, &query, &config, filter)
                    .map_err(ApiError::internal)?
                    .into_iter()
                    .map(|pick| {
                        let step = match pick.matched {
                            Matched::Whole => None,
                            Matched::Part(t) => Some(t),
                        };
                        (
                            pick.key,
                            pick.distance,
                            step,
                            Some((pick.matched_rank, pick.matched_distance)),
                        )
                    })
                    .collect()
            }
        };
        let mut results = Vec::with_capacity(picks.len());
        for (i, (key, distance, step, matched)) in picks.into_iter().enumerate() {
            let row = contents
                .row_of(key)
                .ok_or_else(|| ApiError::internal(format!("key {key} came back from a search but has no record")))?;
            let record = contents.records.get(row).map_err(ApiError::internal)?;
            let part_box = match step {
                Some(t) if spec.boxes && self.explains() => self.regions_of(key).and_then(|r| r.get(t).copied()),
                _ => None,
            };
            let (part_box, part_name) = match part_box {
                Some(named) => (Some(named.bbox), Some(named.name.to_string())),
                None => (None, None),
            };
            results.push(ResultItem {
                rank: i + 1,
                item_id: record.item_id.clone(),
                image: ImageRef::new(key),
                distance,
                matched: match step {
                    None => "whole".into(),
                    Some(_) => "part".into(),
                },
                part: step,
                part_name,
                part_box: part_box.map(Vec::from),
                matched_rank: matched.map(|m| m.0),
                matched_distance: matched.map(|m| m.1),
                attributes: record.attributes.clone(),
            });
        }
        Ok(Answer {
            mode: if spec.diversity.is_some() {
                "recommend"
            } else {
                "search"
            }
            .into(),
            diversity: spec.diversity,
            query,
            results,
            took_ms: start.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// The query's vector and parts, and what the answer says about it.
    fn resolve(&self, source: &QuerySource, boxes: bool) -> Result<(Vec<f32>, Vec<f32>, QueryInfo), ApiError> {
        match source {
            QuerySource::Item(item_id) => {
                let row = *self
                    .items
                    .get(item_id)
                    .and_then(|rows| rows.first())
                    .ok_or_else(|| ApiError::not_found(format!("no item `{item_id}` in the index")))?;
                let key = self.contents.records.keys()[row];
                let regions = match boxes && self.explains() {
                    true => self.regions_of(key).map(|r| step_boxes(&r)).unwrap_or_default(),
                    false => Vec::new(),
                };
                Ok((
                    self.contents.vector_of(row).to_vec(),
                    self.contents.parts_of(row).to_vec(),
                    QueryInfo {
                        item_id: Some(item_id.clone()),
                        image: Some(ImageRef::new(key)),
                        regions,
                    },
                ))
            }
            QuerySource::Photo(bytes) => {
                let info = QueryInfo {
                    item_id: None,
                    image: None,
                    regions: Vec::new(),
                };
                // A seed model embeds and explains in one forward pass.
                if let (Some(seed), true) = (&self.seed, self.explains()) {
                    let explanation = seed.explain_bytes(bytes).map_err(ApiError::bad_image)?;
                    let regions = step_boxes(&fractions(&explanation));
                    return Ok((
                        explanation.vector,
                        explanation.part_vectors,
                        QueryInfo { regions, ..info },
                    ));
                }
                let embedder = self.embedder.as_ref().ok_or_else(|| {
                    ApiError::unavailable(format!(
                        "the index's model `{}` is not loaded: only queries by item_id work",
                        self.contents.info.model
                    ))
                })?;
                if embedder.dim() != self.contents.info.dim {
                    return Err(ApiError::internal(format!(
                        "the model gives {}-d vectors; the index holds {}-d",
                        embedder.dim(),
                        self.contents.info.dim
                    )));
                }
                let mut item = vec![0.0f32; embedder.item_len()];
                embedder.load_bytes(bytes, &mut item).map_err(ApiError::bad_image)?;
                let (vector, parts) = embedder.embed_batch(item, 1);
                Ok((vector, parts, info))
            }
        }
    }

    /// Each step's box of the image `key`, as fractions of its photo (cached: the model
    /// runs once per image).
    fn regions_of(&self, key: u64) -> Option<Arc<Vec<NamedBox>>> {
        if let Some(regions) = self.regions.lock().ok()?.get(&key) {
            return Some(Arc::clone(regions));
        }
        let seed = self.seed.as_ref()?;
        let path = self.image_path(key)?;
        let explanation = match seed.explain(&path) {
            Ok(explanation) => explanation,
            Err(bad) => {
                tracing::warn!("no boxes for {bad}");
                return None;
            }
        };
        let regions = Arc::new(fractions(&explanation));
        let mut cache = self.regions.lock().ok()?;
        if cache.len() >= REGION_CACHE {
            cache.clear();
        }
        cache.insert(key, Arc::clone(&regions));
        Some(regions)
    }
}

/// One answer before it is dressed: key, distance, the matched step (`None`: the whole
/// picture), and for a recommendation the rank and distance in the list it came from.
type Pick = (u64, f32, Option<usize>, Option<(usize, f32)>);

/// A region's box as fractions of its photo, and where it sits on the garment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NamedBox {
    bbox: [f32; 4],
    name: &'static str,
}

/// Each region's box as fractions of the photo's width and height.
fn fractions(explanation: &Explanation) -> Vec<NamedBox> {
    let (w, h) = (explanation.width.max(1) as f32, explanation.height.max(1) as f32);
    explanation
        .regions
        .iter()
        .map(|r| NamedBox {
            bbox: [r.bbox[0] / w, r.bbox[1] / h, r.bbox[2] / w, r.bbox[3] / h],
            name: r.name,
        })
        .collect()
}

/// The attention steps' boxes (step 0, the whole photo, says nothing on a picture).
fn step_boxes(regions: &[NamedBox]) -> Vec<RegionBox> {
    regions
        .iter()
        .enumerate()
        .skip(1)
        .map(|(step, b)| RegionBox {
            step,
            name: b.name.to_string(),
            part_box: b.bbox.to_vec(),
        })
        .collect()
}
