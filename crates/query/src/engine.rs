//! The engine: an opened index, the model that embeds photo queries, and the queries over
//! them. Every method is blocking (model inference, index scans); the server calls them on
//! tokio's blocking pool.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use lookbook_catalog::display_name;
use lookbook_embed::{Embedder, PhotoBoxes, SeedEmbedder};
use lookbook_eval::knn_probabilities;
use lookbook_index::{Gallery, Hit, IndexInfo, Predicate, Record, SearchMode, StoredRow};
use lookbook_recommend::{Matched, Query, RecommendConfig, nearest_step, recommend};

use crate::answer::{Answer, AttributeValues, ImageRef, ItemDetail, ItemPage, QueryInfo, ResultItem, Tagged};
use crate::catalogue::Catalogue;
use crate::error::QueryError;
use crate::regions::{BoxCache, region_boxes, stored};
use lookbook_text::TextModel;

/// Where the query vector comes from.
#[derive(Debug, Clone)]
pub enum QuerySource {
    /// The first image of an item in the index (its own images are left out of the answer).
    Item(String),
    /// A photo's bytes (an upload).
    Photo(Vec<u8>),
    /// A photo file.
    File(PathBuf),
    /// Words ("black ribbed jumper"), through the engine's text model.
    Text(String),
}

/// One search or recommend request.
#[derive(Debug, Clone)]
pub struct QuerySpec {
    pub source: QuerySource,
    pub k: usize,
    /// Attribute column → the value every result must have.
    pub filter: BTreeMap<String, String>,
    /// `None`: plain nearest neighbours (search); `Some(λ)`: recommend with MMR weight λ.
    pub diversity: Option<f32>,
    /// A recommendation's other settings (its `k` and `diversity` are the spec's).
    pub recommend: RecommendConfig,
    /// Attention boxes of the results and of the query: read from the index (an index built
    /// before they were stored runs the model once per photo not seen before, ~45 ms at
    /// 192×128 on a CPU core), so clients that only want the list may turn them off.
    pub boxes: bool,
    /// Through the index's graph or lists (`Auto`) or every vector (`Exact`).
    pub search_mode: SearchMode,
    /// A filter on an attribute the index lacks is refused (the API: a typo should say so),
    /// or matches nothing (the CLI, as a filter on a value no image has).
    pub refuse_unknown_attributes: bool,
    /// Words mixed into a photo or item query ("like this, but red"), with their weight in
    /// 0..1: the query vector is (1 − w)·photo + w·words.
    pub text: Option<(String, f32)>,
}

impl QuerySpec {
    /// Nearest images to `source`, with boxes, through the index's graph or lists.
    pub fn search(source: QuerySource, k: usize) -> Self {
        QuerySpec {
            source,
            k,
            filter: BTreeMap::new(),
            diversity: None,
            recommend: RecommendConfig::default(),
            boxes: true,
            search_mode: SearchMode::Auto,
            refuse_unknown_attributes: true,
            text: None,
        }
    }

    /// Varied recommendations for `source` at λ = `diversity`.
    pub fn recommend(source: QuerySource, k: usize, diversity: f32) -> Self {
        QuerySpec {
            diversity: Some(diversity),
            ..Self::search(source, k)
        }
    }
}

/// The query resolved: its vectors, its own item (left out of answers) and what the answer
/// says about it.
pub(crate) struct Resolved {
    pub(crate) vector: Vec<f32>,
    pub(crate) parts: Vec<f32>,
    pub(crate) info: QueryInfo,
}

/// Whether the index's builder stored each image's boxes (any record tells).
pub(crate) fn stores_boxes(gallery: &dyn Gallery) -> bool {
    gallery.any_record().ok().flatten().is_some_and(|r| r.boxes.is_some())
}

/// The index, the model and what browsing them needs.
pub struct Engine {
    /// The index's rows: in this process (an index folder) or asked of PostgreSQL query by
    /// query (a table), so a server on a table holds none of them.
    pub(crate) gallery: Box<dyn Gallery>,
    /// Embeds photo queries; `None` when the index's model is not loaded (queries by item id
    /// still work).
    pub(crate) embedder: Option<Arc<dyn Embedder>>,
    /// The seed model behind the index, when it is one: attention boxes.
    pub(crate) seed: Option<Arc<SeedEmbedder>>,
    /// Embeds text queries into the index's space (`lookbook text train`), when there is one.
    pub(crate) text: Option<Arc<TextModel>>,
    /// Counted on first use: a one-off CLI query by photo need not read a million records.
    catalogue: OnceLock<Catalogue>,
    boxes: BoxCache,
    /// The index stores each image's boxes (built since issue 20): no model needed for them.
    stored_boxes: bool,
    /// The largest k a query may ask for.
    pub max_k: usize,
}

impl Engine {
    pub fn new(
        gallery: Box<dyn Gallery>,
        embedder: Option<Arc<dyn Embedder>>,
        seed: Option<Arc<SeedEmbedder>>,
    ) -> Self {
        let stored_boxes = stores_boxes(&*gallery);
        Engine {
            gallery,
            embedder,
            seed,
            text: None,
            catalogue: OnceLock::new(),
            boxes: BoxCache::default(),
            stored_boxes,
            max_k: usize::MAX,
        }
    }

    /// Counts the items and attribute values now (a server does, before it listens).
    pub fn browsable(self) -> Result<Self, QueryError> {
        self.catalogue()?;
        Ok(self)
    }

    fn catalogue(&self) -> Result<&Catalogue, QueryError> {
        if let Some(catalogue) = self.catalogue.get() {
            return Ok(catalogue);
        }
        let catalogue = Catalogue::read(&*self.gallery)?;
        Ok(self.catalogue.get_or_init(|| catalogue))
    }

    /// What the index holds (dimensions, model, columns, photo root).
    pub fn info(&self) -> &IndexInfo {
        self.gallery.info()
    }

    pub fn gallery(&self) -> &dyn Gallery {
        &*self.gallery
    }

    pub fn images(&self) -> usize {
        self.gallery.image_count()
    }

    pub fn items(&self) -> usize {
        self.catalogue().map_or(0, |c| c.items)
    }

    pub fn model(&self) -> &str {
        &self.info().model
    }

    /// Whether photos can be queried (the index's model is loaded).
    pub fn embeds_photos(&self) -> bool {
        self.embedder.is_some()
    }

    /// Whether answers carry attention boxes (stored in the index, or from the seed model).
    pub fn explains(&self) -> bool {
        (self.stored_boxes || self.seed.is_some()) && self.info().parts > 1
    }

    pub fn attributes(&self) -> &[AttributeValues] {
        self.catalogue().map_or(&[], |c| &c.facets)
    }

    /// Whether `item_id` is an item of the index.
    pub fn has_item(&self, item_id: &str) -> Result<bool, QueryError> {
        Ok(self.gallery.first_row(item_id)?.is_some())
    }

    /// The stored row of the image `key`, if the index has it.
    fn row(&self, key: u64) -> Result<Option<StoredRow>, QueryError> {
        Ok(self.gallery.rows(&[key])?.pop().flatten())
    }

    /// The rows of `keys` (each a search's answer), in that order: a key without a row is an
    /// index changed under the search — an internal error, not a silent gap.
    fn rows_of(&self, keys: &[u64]) -> Result<Vec<StoredRow>, QueryError> {
        keys.iter()
            .zip(self.gallery.rows(keys)?)
            .map(|(key, row)| {
                row.ok_or_else(|| QueryError::Internal(format!("key {key} came back from a search but has no record")))
            })
            .collect()
    }

    /// The photo file of the image with key `key` — the only way the server finds a file.
    pub fn image_path(&self, key: u64) -> Option<PathBuf> {
        let row = self.row(key).ok()??;
        Some(self.info().catalog_root.join(&row.record.image))
    }

    /// Each attention step's box in the image `key`: as the index stored it, else from the
    /// seed model (none without one).
    pub fn boxes_of(&self, key: u64) -> Option<Arc<PhotoBoxes>> {
        self.boxes_for(&self.row(key).ok()??.record)
    }

    /// [`Engine::boxes_of`] an image whose record is read.
    fn boxes_for(&self, record: &Record) -> Option<Arc<PhotoBoxes>> {
        if let Some(boxes) = &record.boxes {
            return Some(Arc::new(stored(boxes)));
        }
        let path = self.info().catalog_root.join(&record.image);
        self.boxes.get(self.seed.as_deref()?, record.key, &path)
    }

    /// One item: its images and its first image's attributes.
    pub fn item(&self, item_id: &str) -> Result<ItemDetail, QueryError> {
        let keys = self.gallery.item_keys(item_id)?;
        let Some(first) = self.rows_of(&keys[..keys.len().min(1)])?.pop() else {
            return Err(QueryError::NotFound(format!("no item `{item_id}` in the index")));
        };
        Ok(ItemDetail {
            item_id: item_id.to_string(),
            name: display_name(&first.record.attributes, &first.record.image),
            attributes: first.record.attributes,
            images: keys.into_iter().map(ImageRef::new).collect(),
        })
    }

    /// A page of items (each with its first image), in index order, optionally only those
    /// whose first image passes `filter`.
    pub fn list_items(
        &self,
        offset: usize,
        limit: usize,
        filter: &BTreeMap<String, String>,
    ) -> Result<ItemPage, QueryError> {
        self.check_filter(filter)?;
        let attributes: Vec<(String, String)> = filter.iter().map(|(c, v)| (c.clone(), v.clone())).collect();
        let page = self.gallery.items_page(offset, limit, &attributes)?;
        Ok(ItemPage {
            total: page.total,
            offset,
            items: page
                .first_images
                .into_iter()
                .map(|record| ItemDetail {
                    name: display_name(&record.attributes, &record.image),
                    images: vec![ImageRef::new(record.key)],
                    item_id: record.item_id,
                    attributes: record.attributes,
                })
                .collect(),
        })
    }

    fn check_filter(&self, filter: &BTreeMap<String, String>) -> Result<(), QueryError> {
        for column in filter.keys() {
            if !self.info().columns.contains(column) {
                return Err(QueryError::BadRequest(format!(
                    "unknown attribute `{column}`; the index has: {}",
                    self.info().columns.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Nearest images (`diversity: None`) or varied recommendations, with boxes.
    pub fn query(&self, spec: &QuerySpec) -> Result<Answer, QueryError> {
        let start = Instant::now();
        if spec.k == 0 || spec.k > self.max_k {
            return Err(QueryError::BadRequest(match self.max_k {
                usize::MAX => "k must be at least 1".to_string(),
                max_k => format!("k must be 1..={max_k}, not {}", spec.k),
            }));
        }
        if let Some(diversity) = spec.diversity
            && !(0.0..=1.0).contains(&diversity)
        {
            return Err(QueryError::BadRequest(format!(
                "diversity is λ in 0..1, not {diversity}"
            )));
        }
        if spec.refuse_unknown_attributes {
            self.check_filter(&spec.filter)?;
        }
        let mut query = self.resolve(&spec.source, spec.boxes)?;
        if let Some((text, weight)) = &spec.text
            && !matches!(spec.source, QuerySource::Text(_))
        {
            self.mix_words(&mut query, text, *weight)?;
        }
        // Each pick with its row: a search reads them with the neighbours, a recommendation after.
        let (picks, rows): (Vec<Pick>, Vec<StoredRow>) = match spec.diversity {
            None => self
                .nearest(&query, spec.k, &spec.filter, spec.search_mode)?
                .into_iter()
                .map(|(hit, row)| ((hit.key, hit.distance, None, None), row))
                .unzip(),
            Some(diversity) => {
                let picks: Vec<Pick> = self
                    .recommend(&query, spec, diversity)?
                    .into_iter()
                    .map(|pick| {
                        let step = match pick.matched {
                            Matched::Whole => Some(None),
                            Matched::Part(t) => Some(Some(t)),
                        };
                        let matched = Some((pick.matched_rank, pick.matched_distance));
                        (pick.key, pick.distance, step, matched)
                    })
                    .collect();
                let keys: Vec<u64> = picks.iter().map(|p| p.0).collect();
                let rows = self.rows_of(&keys)?;
                (picks, rows)
            }
        };
        let mut results = Vec::with_capacity(picks.len());
        for (i, ((key, distance, step, matched), row)) in picks.into_iter().zip(rows).enumerate() {
            // A search result matched by its nearest attention step; a recommendation by the
            // list it came in through.
            let step = match step {
                Some(listed) => listed,
                None if self.explains() => Some(nearest_step(self.info(), &query.parts, &row.parts)).filter(|&s| s > 0),
                None => None,
            };
            let record = row.record;
            let part = match step {
                Some(t) if spec.boxes && self.explains() => self
                    .boxes_for(&record)
                    .and_then(|b| Some((b.fraction(t)?, b.steps.get(t)?.1.clone()))),
                _ => None,
            };
            results.push(ResultItem {
                rank: i + 1,
                name: display_name(&record.attributes, &record.image),
                item_id: record.item_id,
                image: ImageRef::new(key),
                distance,
                matched: if step.is_some() { "part" } else { "whole" }.into(),
                part: step,
                part_name: part.as_ref().map(|(_, name)| name.clone()),
                part_box: part.map(|(b, _)| b.to_vec()),
                matched_rank: matched.map(|m| m.0),
                matched_distance: matched.map(|m| m.1),
                attributes: record.attributes,
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
            query: query.info,
            results,
            took_ms: start.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// A photo's likely attribute values: each column's values among its `k` nearest images
    /// (the query's own item left out), the `top` most probable; and how many voted.
    pub fn tag(
        &self,
        source: &QuerySource,
        k: usize,
        top: usize,
        mode: SearchMode,
    ) -> Result<(usize, Vec<Tagged>), QueryError> {
        if k == 0 {
            return Err(QueryError::BadRequest("k must be at least 1".into()));
        }
        let query = self.resolve(source, false)?;
        let neighbours: Vec<BTreeMap<String, String>> = self
            .nearest(&query, k, &BTreeMap::new(), mode)?
            .into_iter()
            .map(|(_, row)| row.record.attributes)
            .collect();
        let tags = self
            .info()
            .columns
            .iter()
            .map(|column| {
                let values = neighbours.iter().map(|a| a.get(column).map_or("", String::as_str));
                let mut values = knn_probabilities(values, neighbours.len());
                values.truncate(top);
                Tagged {
                    attribute: column.clone(),
                    values,
                }
            })
            .filter(|t| !t.values.is_empty())
            .collect();
        Ok((neighbours.len(), tags))
    }

    /// The `k` nearest images passing `filter`, other than the query item's own — as a
    /// predicate, which an index in PostgreSQL evaluates in SQL — with their rows.
    fn nearest(
        &self,
        query: &Resolved,
        k: usize,
        filter: &BTreeMap<String, String>,
        mode: SearchMode,
    ) -> Result<Vec<(Hit, StoredRow)>, QueryError> {
        let predicate = Predicate {
            attributes: filter.iter().map(|(c, v)| (c.clone(), v.clone())).collect(),
            exclude_item: query.info.item_id.clone(),
        };
        Ok(self.gallery.search_rows(&query.vector, k, &predicate, mode)?)
    }

    fn recommend(
        &self,
        query: &Resolved,
        spec: &QuerySpec,
        diversity: f32,
    ) -> Result<Vec<lookbook_recommend::Recommendation>, QueryError> {
        let info = self.info();
        let filter = Predicate {
            attributes: spec.filter.iter().map(|(c, v)| (c.clone(), v.clone())).collect(),
            exclude_item: None,
        };
        let config = RecommendConfig {
            k: spec.k,
            diversity,
            ..spec.recommend
        };
        let whole_parts = query.parts.len() == info.parts * info.part_dim;
        let query = Query {
            vector: &query.vector,
            parts: if info.parts > 0 && whole_parts {
                &query.parts
            } else {
                &[]
            },
            item_id: query.info.item_id.as_deref(),
        };
        Ok(recommend(&*self.gallery, &query, &config, &filter)?)
    }

    /// The query's vector and parts, and what the answer says about it.
    fn resolve(&self, source: &QuerySource, boxes: bool) -> Result<Resolved, QueryError> {
        let no_info = QueryInfo {
            item_id: None,
            image: None,
            regions: Vec::new(),
            text: None,
            unknown_words: Vec::new(),
        };
        match source {
            QuerySource::Text(text) => {
                let words = self.words(text)?;
                Ok(Resolved {
                    vector: words.vector,
                    // Words have no parts: a recommendation goes by the whole picture.
                    parts: Vec::new(),
                    info: QueryInfo {
                        text: Some(text.clone()),
                        unknown_words: words.unknown_words,
                        ..no_info
                    },
                })
            }
            QuerySource::Item(item_id) => {
                let not_found = || QueryError::NotFound(format!("no item `{item_id}` in the index"));
                let row = self.gallery.first_row(item_id)?.ok_or_else(not_found)?;
                let key = row.record.key;
                let regions = match boxes && self.explains() {
                    true => self
                        .boxes_for(&row.record)
                        .map(|b| region_boxes(&b))
                        .unwrap_or_default(),
                    false => Vec::new(),
                };
                Ok(Resolved {
                    vector: row.vector,
                    parts: row.parts,
                    info: QueryInfo {
                        item_id: Some(item_id.clone()),
                        image: Some(ImageRef::new(key)),
                        regions,
                        ..no_info
                    },
                })
            }
            QuerySource::Photo(_) | QuerySource::File(_) => {
                // A seed model embeds and explains in one forward pass.
                if let (Some(seed), true) = (&self.seed, self.explains()) {
                    let explanation = match source {
                        QuerySource::Photo(bytes) => seed.explain_bytes(bytes)?,
                        QuerySource::File(path) => seed.explain(path).map_err(QueryError::BadFile)?,
                        QuerySource::Item(_) | QuerySource::Text(_) => unreachable!("matched above"),
                    };
                    let regions = region_boxes(&PhotoBoxes::of(&explanation));
                    return Ok(Resolved {
                        vector: explanation.vector,
                        parts: explanation.part_vectors,
                        info: QueryInfo { regions, ..no_info },
                    });
                }
                let embedder = self.embedder.as_ref().ok_or_else(|| {
                    QueryError::Unavailable(format!(
                        "the index's model `{}` is not loaded: only queries by item id work",
                        self.info().model
                    ))
                })?;
                if embedder.dim() != self.info().dim {
                    return Err(QueryError::Internal(format!(
                        "the model gives {}-d vectors; the index holds {}-d",
                        embedder.dim(),
                        self.info().dim
                    )));
                }
                let mut item = vec![0.0f32; embedder.item_len()];
                match source {
                    QuerySource::Photo(bytes) => embedder.load_bytes(bytes, &mut item)?,
                    QuerySource::File(path) => embedder.load_item(path, &mut item).map_err(QueryError::BadFile)?,
                    QuerySource::Item(_) | QuerySource::Text(_) => unreachable!("matched above"),
                }
                let (vector, parts) = embedder.embed_batch(&item, 1);
                Ok(Resolved {
                    vector,
                    parts,
                    info: no_info,
                })
            }
        }
    }
}

/// One answer before it is dressed: key, distance, the matched step (`None`: a search result,
/// whose nearest step is found from its parts; `Some(None)`: the whole picture), and for a
/// recommendation the rank and distance in the list it came from.
type Pick = (u64, f32, Option<Option<usize>>, Option<(usize, f32)>);
