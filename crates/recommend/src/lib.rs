//! Diverse recommendations from clothing parts (the study's recommendation, issue 5).
//!
//! Plain nearest neighbours return near-copies: the same dress in five colours, then its
//! closest cousin. A recommendation instead
//! 1. gathers candidates by the whole picture (the retrieval embedding) **and** by each
//!    attention step's part vector (part t of the query against part t of every image), so
//!    an item can qualify by its collar, its print or its silhouette alone;
//! 2. keeps one image per item (the one nearest the query) and leaves out the query's own;
//! 3. keeps only candidates within reach: among the ⌈k·(1 + λ)⌉ nearest items of some list
//!    ([`RecommendConfig::rank_reach`]) and within [`RecommendConfig::radius`] times the
//!    lists' k-th nearest distances, by the whole picture or by its nearest aspects — so a
//!    far-off item never comes in (issue 17: a jumper's list at λ = 1 held socks, a dress and
//!    a football shirt);
//! 4. re-ranks by maximal marginal relevance: each pick maximises
//!    `w·relevance − λ·redundancy` on the retrieval embedding, with w = 1 − λ·(1 − floor)
//!    ([`RecommendConfig::relevance_floor`]): relevance blends the whole-picture distance
//!    with the distance in the candidate's nearest aspect (the whole or one part) as λ
//!    grows, redundancy rises as a candidate nears an item already picked (see
//!    [`maximal_marginal_relevance`] for the exact terms). λ = 0 is plain nearest neighbours
//!    (one image per item); at λ = 1 relevance still weighs `floor`, so the most varied list
//!    stays about the query.
//!
//! A photo query that is itself in the index (an upload of a catalogue photo) leaves its own
//! item out, as a query by item id does.
//!
//! Distances (in units of this query's typical neighbour distance) rather than cosine
//! similarities, because the study retrieves by Euclidean distance and because the seed
//! model's H&M embeddings agree to a cosine of 0.997 on average: a fixed similarity scale
//! would see every pair as a near-copy.

use std::collections::HashMap;

use lookbook_index::{Gallery, Hit, IndexError, IndexInfo, Predicate, SearchMode, StoredRow};
use serde::Serialize;

mod stats;

pub use stats::{ListStats, RowLabels, list_stats};

/// How many and how varied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecommendConfig {
    pub k: usize,
    /// λ in [0, 1]: 0 = nearest items, higher = more varied.
    pub diversity: f32,
    /// Candidates taken from each list (the whole picture and each part); 0 = max(5k, 50).
    pub pool: usize,
    /// Also recommend other images of the query's own item.
    pub include_own_item: bool,
    /// Candidates further from the query than this many times a list's k-th nearest item's
    /// distance — by the whole picture, and by the mean of their nearest aspects — are dropped.
    pub radius: f32,
    /// The weight relevance keeps at λ = 1 (it falls linearly from 1 at λ = 0). At 0, λ = 1
    /// picks by redundancy alone, as before issue 17.
    pub relevance_floor: f32,
    /// How much a candidate's nearest part may stand in for the whole picture in its
    /// relevance at λ = 1 (0: relevance is the whole picture's distance alone).
    pub part_relevance: f32,
    /// Candidates are among the ⌈k·(1 + rank_reach·λ)⌉ nearest items of some list (the whole
    /// picture or a part): at 1, the 2k nearest at λ = 1. Infinite: no such limit. (Chosen on
    /// H&M's validation split: the items just past the k nearest already leave the query's
    /// product group more often, and a distance radius alone let λ = 1 drift to 0.78 of
    /// kNN's same-group share.)
    pub rank_reach: f32,
    /// A candidate's relevance (and reach) by its nearest aspects: the mean distance of its
    /// `aspects` nearest lists (whole picture or part), each in that list's scale.
    pub aspects: usize,
    /// With a label part (`IndexInfo::label_part`: each image's label scores — the model's
    /// category and pattern predictions — as its last part, which brings candidates in too),
    /// candidates further from the query's label scores than this many times the label list's
    /// k-th distance are dropped: a varied list stays in the query's category (issue 17: an
    /// identity-trained embedding leaves the product group within a few ranks). Chosen on
    /// H&M's validation split; BENCHMARKS.md.
    pub label_gate: f32,
    /// With a label part, λ acts as λ^p: the gate keeps lists on topic, so redundancy can
    /// weigh more early on the slider.
    pub label_diversity_power: f32,
    /// With a label part, [`RecommendConfig::relevance_floor`] is this instead.
    pub label_relevance_floor: f32,
}

impl Default for RecommendConfig {
    fn default() -> Self {
        RecommendConfig {
            k: 10,
            diversity: 0.5,
            pool: 0,
            include_own_item: false,
            radius: 1.5,
            relevance_floor: 0.7,
            part_relevance: 1.0,
            rank_reach: 1.0,
            aspects: 2,
            label_gate: 1.4,
            label_diversity_power: 0.2,
            label_relevance_floor: 0.0,
        }
    }
}

impl RecommendConfig {
    fn pool(&self) -> usize {
        match self.pool {
            0 => (self.k * 5).max(50),
            pool => pool.max(self.k),
        }
    }
}

/// What a query is: its retrieval vector, its part vectors (`parts × part_dim`, may be
/// empty) and, when it came from the index, its item id.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub vector: &'a [f32],
    pub parts: &'a [f32],
    pub item_id: Option<&'a str>,
}

/// Which candidate list a recommendation came in through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Matched {
    /// The retrieval embedding (the whole garment).
    Whole,
    /// Attention step `t`'s part vector (0 = the texture encoding of the whole map,
    /// 1..=K the regions the LSTM proposed).
    Part(usize),
}

impl Matched {
    /// "whole", "texture" (step 0: the texture encoding of the whole map, as the web page
    /// says), the matched part's name ("upper left"), or "part t" when it has none.
    pub fn describe(self, part_name: Option<&str>) -> String {
        match (self, part_name) {
            (Matched::Whole, _) => "whole".into(),
            (Matched::Part(0), _) => "texture".into(),
            (Matched::Part(_), Some(name)) => name.into(),
            (Matched::Part(t), None) => format!("part {t}"),
        }
    }
}

/// One recommended image and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub key: u64,
    pub item_id: String,
    /// Distance to the query by the retrieval embedding.
    pub distance: f32,
    /// The list where it ranked best (ties go to the whole picture).
    pub matched: Matched,
    /// Its rank there (1 = nearest) and its distance there.
    pub matched_rank: usize,
    pub matched_distance: f32,
    /// The MMR score it was picked with.
    pub score: f32,
}

struct Candidate {
    key: u64,
    item_id: String,
    distance: f32,
    matched: Matched,
    matched_rank: usize,
    matched_distance: f32,
    /// The mean of its distances to the query in the `config.aspects` lists it is nearest in
    /// (whole picture or parts), each in that list's σ: how related it is by its closest aspects.
    nearest_aspect: f32,
}

/// The scale of "near" in one candidate list: σ, the median distance of its k nearest items,
/// and the k-th nearest item's distance (the reach of a radius).
#[derive(Debug, Clone, Copy)]
struct ListScale {
    sigma: f32,
    kth: f32,
}

impl ListScale {
    /// The scale of a list's distinct items' distances (nearest first).
    fn of(items: &[(String, f32)], k: usize) -> ListScale {
        let mut near: Vec<f32> = items.iter().take(k.max(1)).map(|(_, d)| *d).collect();
        near.sort_by(f32::total_cmp);
        ListScale {
            sigma: near.get(near.len() / 2).copied().unwrap_or(1.0).max(f32::EPSILON),
            kth: near.last().copied().unwrap_or(1.0).max(f32::EPSILON),
        }
    }
}

/// `hits` (nearest first) as their distinct items, each with its first (nearest) distance.
fn distinct_items(hits: &[Hit], item_of: impl Fn(u64) -> Option<String>) -> Vec<(String, f32)> {
    let mut seen = std::collections::HashSet::new();
    hits.iter()
        .filter_map(|hit| item_of(hit.key).map(|item| (item, hit.distance)))
        .filter(|(item, _)| seen.insert(item.clone()))
        .collect()
}

/// The attention step (1..=K) whose part vector in `row_parts` (an image's `parts × part_dim`)
/// is nearest the query's parts (0 when the index has no steps beyond the whole picture): the
/// part a search result matched by. With a label part (`IndexInfo::label_part`) the last part
/// is not a step.
pub fn nearest_step(info: &IndexInfo, query_parts: &[f32], row_parts: &[f32]) -> usize {
    let part_dim = info.part_dim.max(1);
    let steps = info.parts.saturating_sub(usize::from(info.label_part));
    row_parts
        .chunks_exact(part_dim)
        .zip(query_parts.chunks_exact(part_dim))
        .take(steps)
        .enumerate()
        .skip(1)
        .map(|(t, (a, b))| (t, info.metric.distance(a, b)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(0, |(t, _)| t)
}

/// The rows a recommendation has read so far, by key: each search's hits are fetched in one
/// read (one round trip to a database), and each row once.
struct Fetched<'a> {
    gallery: &'a dyn Gallery,
    rows: HashMap<u64, StoredRow>,
}

impl Fetched<'_> {
    /// Keeps the rows a search read with its hits; returns the hits.
    fn keep(&mut self, found: Vec<(Hit, StoredRow)>) -> Vec<Hit> {
        found
            .into_iter()
            .map(|(hit, row)| {
                self.rows.entry(hit.key).or_insert(row);
                hit
            })
            .collect()
    }

    fn fetch(&mut self, hits: &[Hit]) -> Result<(), IndexError> {
        let mut missing: Vec<u64> = hits
            .iter()
            .map(|h| h.key)
            .filter(|k| !self.rows.contains_key(k))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        let rows = self.gallery.rows(&missing)?;
        self.rows
            .extend(missing.into_iter().zip(rows).filter_map(|(key, row)| Some((key, row?))));
        Ok(())
    }

    fn item_of(&self, key: u64) -> Option<String> {
        self.rows.get(&key).map(|row| row.record.item_id.clone())
    }
}

/// Up to `config.k` recommendations for `query` among the images `filter` accepts.
pub fn recommend(
    gallery: &dyn Gallery,
    query: &Query,
    config: &RecommendConfig,
    filter: &Predicate,
) -> Result<Vec<Recommendation>, IndexError> {
    let labelled;
    let info = gallery.info();
    let config = match info.label_part {
        true => {
            labelled = RecommendConfig {
                diversity: config.diversity.clamp(0.0, 1.0).powf(config.label_diversity_power),
                relevance_floor: config.label_relevance_floor,
                ..*config
            };
            &labelled
        }
        false => config,
    };
    if query.vector.len() != info.dim {
        return Err(IndexError::Dimension {
            expected: info.dim,
            got: query.vector.len(),
        });
    }
    let images = gallery.image_count();
    if config.k == 0 || images == 0 {
        return Ok(Vec::new());
    }
    let mut fetched = Fetched {
        gallery,
        rows: HashMap::new(),
    };
    // A photo that is itself in the index (an upload of a catalogue photo) is its item.
    let photo_item = match query.item_id {
        None if !config.include_own_item => same_photo(&mut fetched, query.vector)?,
        _ => None,
    };
    let own = (!config.include_own_item)
        .then_some(query.item_id.or(photo_item.as_deref()))
        .flatten();
    // The own item is left out by the search itself where the filter leaves nothing else out
    // that way; otherwise (a filter excluding another item) by the rows read.
    let mut predicate = filter.clone();
    if predicate.exclude_item.is_none() {
        predicate.exclude_item = own.map(str::to_string);
    }
    let keep = |fetched: &Fetched, hits: Vec<Hit>| -> Vec<Hit> {
        hits.into_iter()
            .filter(|h| {
                fetched
                    .item_of(h.key)
                    .is_some_and(|item| own != Some(item.as_str()) && filter.exclude_item.as_ref() != Some(&item))
            })
            .collect()
    };

    // The whole picture: widened until it holds k distinct items, so that λ = 0 is
    // exactly the k nearest items however many images each has.
    let mut count = config.pool();
    let whole = loop {
        let found = gallery.search_rows(query.vector, count, &predicate, SearchMode::Auto)?;
        let short = found.len() < count;
        let hits = fetched.keep(found);
        let hits = keep(&fetched, hits);
        let mut items: Vec<String> = hits.iter().filter_map(|h| fetched.item_of(h.key)).collect();
        items.sort_unstable();
        items.dedup();
        if items.len() >= config.k || short || count >= images {
            break hits;
        }
        count = (count * 2).min(images);
    };
    let mut lists: Vec<(Matched, Vec<Hit>)> = vec![(Matched::Whole, whole)];
    let (parts, part_dim) = (info.parts, info.part_dim);
    if parts > 0 && query.parts.len() == parts * part_dim {
        for (t, part) in query.parts.chunks_exact(part_dim).enumerate() {
            let hits = fetched.keep(gallery.search_part_rows(t, part, config.pool(), &predicate)?);
            lists.push((Matched::Part(t), keep(&fetched, hits)));
        }
    }
    let item_of = |key: u64| fetched.item_of(key);

    // Each image once, with the list where it ranked best. The label list brings candidates
    // in but is not a part anyone can see: what it alone brought counts as the whole picture.
    let label_list = (info.label_part && lists.len() > 1).then(|| lists.len() - 1);
    let mut by_key: HashMap<u64, (Matched, usize, f32)> = HashMap::new();
    for (list, (matched, hits)) in lists.iter().enumerate() {
        for (rank, hit) in hits.iter().enumerate() {
            if Some(list) == label_list {
                by_key.entry(hit.key).or_insert_with(|| {
                    let whole = fetched
                        .rows
                        .get(&hit.key)
                        .map_or(hit.distance, |row| info.metric.distance(query.vector, &row.vector));
                    (Matched::Whole, rank, whole)
                });
                continue;
            }
            let entry = by_key.entry(hit.key).or_insert((*matched, rank, hit.distance));
            if rank < entry.1 {
                *entry = (*matched, rank, hit.distance);
            }
        }
    }
    // Each list as its distinct items: their ranks bound the reach, their distances the scale.
    let list_items: Vec<Vec<(String, f32)>> = lists.iter().map(|(_, hits)| distinct_items(hits, item_of)).collect();
    let scales: Vec<ListScale> = list_items.iter().map(|items| ListScale::of(items, config.k)).collect();
    let part_queries: Vec<&[f32]> = match part_dim {
        0 => Vec::new(),
        _ => query.parts.chunks_exact(part_dim).collect(),
    };
    // A candidate's distance in each list, in that list's scales: (in σ, in k-th distances),
    // each the mean of its `config.aspects` nearest aspects.
    let aspects = |row: &StoredRow, whole: f32| -> (f32, f32) {
        let mut in_sigma = vec![whole / scales[0].sigma];
        let mut in_kth = vec![whole / scales[0].kth];
        if lists.len() > 1 {
            for (t, part) in row.parts.chunks_exact(part_dim.max(1)).enumerate() {
                let (Some(q), Some(scale)) = (part_queries.get(t), scales.get(t + 1)) else {
                    break;
                };
                let d = info.metric.distance(q, part);
                in_sigma.push(d / scale.sigma);
                in_kth.push(d / scale.kth);
            }
        }
        let best = |mut v: Vec<f32>| {
            v.sort_by(f32::total_cmp);
            let m = config.aspects.clamp(1, v.len());
            v[..m].iter().sum::<f32>() / m as f32
        };
        // Near by the whole picture alone is always near enough (λ = 0 is plain kNN) — unless
        // the candidate is outside the query's category by its label scores.
        let whole_reach = in_kth[0];
        let off_topic = label_list.is_some() && in_kth.last().is_some_and(|&d| d > config.label_gate);
        let reach = match off_topic {
            true => f32::INFINITY,
            false => best(in_kth).min(whole_reach),
        };
        (best(in_sigma), reach)
    };
    // Each item once: its image nearest the query.
    let mut by_item: HashMap<String, (Candidate, f32)> = HashMap::new();
    for (key, (matched, rank, matched_distance)) in by_key {
        let Some(row) = fetched.rows.get(&key) else { continue };
        let whole = info.metric.distance(query.vector, &row.vector);
        let (nearest_aspect, reach) = aspects(row, whole);
        let candidate = Candidate {
            key,
            item_id: row.record.item_id.clone(),
            distance: whole,
            matched,
            matched_rank: rank + 1,
            matched_distance,
            nearest_aspect,
        };
        match by_item.get(&candidate.item_id) {
            Some((kept, _)) if (kept.distance, kept.key) <= (candidate.distance, candidate.key) => {}
            _ => {
                by_item.insert(candidate.item_id.clone(), (candidate, reach));
            }
        }
    }
    // Each item's best rank among the distinct items of any list.
    let mut item_rank: HashMap<&str, usize> = HashMap::new();
    for items in &list_items {
        for (rank, (item, _)) in items.iter().enumerate() {
            let best = item_rank.entry(item.as_str()).or_insert(rank);
            *best = (*best).min(rank);
        }
    }
    let lambda = config.diversity.clamp(0.0, 1.0);
    // (∞ · 0 would be NaN: an unlimited reach is no limit at any λ.)
    let rank_limit = match config.rank_reach {
        reach if reach.is_finite() => (config.k as f32 * (1.0 + reach.max(0.0) * lambda)).ceil(),
        _ => f32::INFINITY,
    };
    // Near enough by the whole picture or by one part: within `radius` × that list's k-th
    // nearest distance. A candidate far from the query in every aspect never qualifies.
    let radius = config.radius.max(1.0);
    let mut candidates: Vec<Candidate> = by_item
        .into_values()
        .filter(|(_, reach)| *reach <= radius)
        .filter(|(c, _)| {
            item_rank
                .get(c.item_id.as_str())
                .is_some_and(|&r| (r as f32) < rank_limit)
        })
        .map(|(candidate, _)| candidate)
        .collect();
    candidates.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.key.cmp(&b.key)));
    Ok(maximal_marginal_relevance(info, &fetched.rows, candidates, config))
}

/// The item of the indexed image whose vector is `vector` itself (distance ≈ 0), if any.
fn same_photo(fetched: &mut Fetched, vector: &[f32]) -> Result<Option<String>, IndexError> {
    let scale = vector.iter().map(|v| v * v).sum::<f32>().sqrt().max(1.0);
    let hits = fetched
        .gallery
        .search(vector, 1, &Predicate::default(), SearchMode::Auto)?;
    let Some(hit) = hits.first().filter(|hit| hit.distance <= 1e-4 * scale) else {
        return Ok(None);
    };
    fetched.fetch(&hits[..1])?;
    Ok(fetched.item_of(hit.key))
}

/// Greedy MMR over `candidates` (sorted nearest first, so ties keep that order).
///
/// Both terms are measured in σ, the median distance to the query of the k nearest — the
/// scale of "near" for this query, model and list, whatever the embedding's spread.
/// Relevance is −[(1 − λ)·d(q, c)/σ + λ·a(c)], where a(c) is the candidate's distance in the
/// list (whole picture or one part) it is nearest in: at λ = 0 plain nearest neighbours, and
/// as λ grows an item may be as relevant for one shared part as for the whole (the study's
/// "varied, yet related by a part"). Its weight falls from 1 at λ = 0 to
/// [`RecommendConfig::relevance_floor`] at λ = 1. Redundancy is a Gaussian kernel of the
/// whole-picture distance to the nearest pick, exp(−(d/σ)²/2): 1 for a copy, 0.6 at σ, 0.01
/// at 3σ. It saturates on purpose: a linear "distance to the picks" term rewards being far
/// from them without limit, and since a candidate far from the query is far from picks near
/// the query, at λ = ½ the two terms cancel and any candidate in the pool is as good as the
/// nearest (measured on H&M: results 31% further from the query than kNN's at λ = ½). The
/// kernel only pushes away from near-copies.
fn maximal_marginal_relevance(
    info: &IndexInfo,
    rows: &HashMap<u64, StoredRow>,
    mut candidates: Vec<Candidate>,
    config: &RecommendConfig,
) -> Vec<Recommendation> {
    let lambda = config.diversity.clamp(0.0, 1.0);
    let relevance_weight = 1.0 - lambda * (1.0 - config.relevance_floor.clamp(0.0, 1.0));
    let metric = info.metric;
    let sigma = {
        let mut near: Vec<f32> = candidates.iter().take(config.k).map(|c| c.distance).collect();
        near.sort_by(f32::total_cmp);
        near.get(near.len() / 2).copied().unwrap_or(1.0).max(f32::EPSILON)
    };
    let relevance: Vec<f32> = candidates
        .iter()
        .map(|c| {
            let by_part = lambda * config.part_relevance.clamp(0.0, 1.0);
            (1.0 - by_part) * c.distance / sigma + by_part * c.nearest_aspect.min(c.distance / sigma)
        })
        .collect();
    let mut relevance = relevance;
    // Redundancy of each remaining candidate with the picks so far.
    let mut redundancy = vec![0.0f32; candidates.len()];
    let mut picked = Vec::with_capacity(config.k);
    while picked.len() < config.k && !candidates.is_empty() {
        let score = |i: usize| -relevance_weight * relevance[i] - lambda * redundancy[i];
        let best = (0..candidates.len())
            .reduce(|best, i| if score(i) > score(best) { i } else { best })
            .expect("not empty");
        let best_score = score(best);
        let chosen = candidates.remove(best);
        redundancy.remove(best);
        relevance.remove(best);
        // Every candidate's row was read (a candidate is made from one).
        let vector_of = |key: u64| rows[&key].vector.as_slice();
        let chosen_vector = vector_of(chosen.key);
        for (i, candidate) in candidates.iter().enumerate() {
            let d = metric.distance(chosen_vector, vector_of(candidate.key)) / sigma;
            redundancy[i] = redundancy[i].max((-0.5 * d * d).exp());
        }
        picked.push(Recommendation {
            key: chosen.key,
            item_id: chosen.item_id,
            distance: chosen.distance,
            matched: chosen.matched,
            matched_rank: chosen.matched_rank,
            matched_distance: chosen.matched_distance,
            score: best_score,
        });
    }
    picked
}
