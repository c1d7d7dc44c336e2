//! Text → image retrieval (issue 23): each article's words as the query, its photo (or its
//! product, or any photo of the same type and colour) as a hit, recall@k and median rank beside
//! what a random ranking would score.

use std::fmt;

use lookbook_index::Record;
use lookbook_text::retrieval::{first_hit_ranks, median_rank, recall_at, unit};
use lookbook_text::{Caption, TextError, TextModel, attribute_query};
use serde::Serialize;

/// One kind of query against one kind of hit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextRow {
    /// What the query text is ("full text", "name", "colour + type + pattern").
    pub query: String,
    /// What counts as a hit ("same article", "same product code", "same type and colour").
    pub hit: String,
    pub queries: usize,
    /// Recall@k per k of the report.
    pub recall: Vec<f64>,
    /// The expected recall@k of a random ranking, per k.
    pub chance: Vec<f64>,
    /// Median rank of the first hit (a query without one ranks last).
    pub median_rank: f64,
}

/// The text protocol's table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextReport {
    pub ks: Vec<usize>,
    /// Gallery photos.
    pub gallery: usize,
    pub rows: Vec<TextRow>,
}

/// The protocol on one split: each photo's full caption and its name against the split's
/// photos (hit: the same photo; the same item), and the colour + type + pattern query (hit:
/// a photo of the same type and colour). `vectors` are the photos' (`dim` floats each).
pub fn text_report(
    model: &TextModel,
    records: &[Record],
    vectors: &[f32],
    dim: usize,
    ks: &[usize],
) -> Result<TextReport, TextError> {
    let captions: Vec<Caption> = records.iter().map(|r| Caption::of(&r.attributes)).collect();
    let full = model.embed_batch(&captions.iter().map(Caption::full).collect::<Vec<_>>())?;
    let names = model.embed_batch(&captions.iter().map(Caption::name_only).collect::<Vec<_>>())?;
    let same_article = |q: usize, g: usize| q == g;
    let same_item = |q: usize, g: usize| records[q].item_id == records[g].item_id;
    let mut rows = vec![
        text_row("full text", "same article", &full, vectors, dim, ks, same_article),
        text_row("full text", "same product code", &full, vectors, dim, ks, same_item),
        text_row("name", "same article", &names, vectors, dim, ks, same_article),
        text_row("name", "same product code", &names, vectors, dim, ks, same_item),
    ];
    // The attribute query, for the photos that have a colour and a type.
    let attributes: Vec<_> = records.iter().map(|r| attribute_query(&r.attributes)).collect();
    let asked: Vec<usize> = (0..records.len()).filter(|&i| attributes[i].is_some()).collect();
    if !asked.is_empty() {
        let texts: Vec<String> = asked
            .iter()
            .filter_map(|&i| Some(attributes[i].as_ref()?.0.clone()))
            .collect();
        let queries = model.embed_batch(&texts)?;
        let pair = |i: usize| attributes[i].as_ref().map(|(_, pair)| pair);
        rows.push(text_row(
            "colour + type + pattern",
            "same type and colour",
            &queries,
            vectors,
            dim,
            ks,
            |q, g| pair(asked[q]) == pair(g),
        ));
    }
    Ok(TextReport {
        ks: ks.to_vec(),
        gallery: records.len(),
        rows,
    })
}

/// Queries (`dim` floats each) against `gallery` by cosine; `is_hit(q, g)` says whether gallery
/// photo `g` answers query `q`.
pub fn text_row(
    query: &str,
    hit: &str,
    queries: &[f32],
    gallery: &[f32],
    dim: usize,
    ks: &[usize],
    is_hit: impl Fn(usize, usize) -> bool + Sync,
) -> TextRow {
    let (mut queries, mut gallery) = (queries.to_vec(), gallery.to_vec());
    unit(&mut queries, dim);
    unit(&mut gallery, dim);
    let n = gallery.len() / dim.max(1);
    let ranks = first_hit_ranks(&queries, &gallery, dim, &is_hit);
    let hits: Vec<usize> = (0..ranks.len())
        .map(|q| (0..n).filter(|&g| is_hit(q, g)).count())
        .collect();
    TextRow {
        query: query.to_string(),
        hit: hit.to_string(),
        queries: ranks.len(),
        recall: ks.iter().map(|&k| recall_at(&ranks, k)).collect(),
        chance: ks.iter().map(|&k| chance_recall(&hits, n, k)).collect(),
        median_rank: median_rank(&ranks, n),
    }
}

/// The mean over queries of P(at least one of a query's `h` hits in a random top `k` of `n`):
/// 1 − C(n−h, k)/C(n, k).
pub fn chance_recall(hits: &[usize], n: usize, k: usize) -> f64 {
    if hits.is_empty() {
        return 0.0;
    }
    let k = k.min(n);
    let one = |h: usize| -> f64 {
        if h == 0 {
            return 0.0;
        }
        // C(n−h, k)/C(n, k) = Π_{i<k} (n−h−i)/(n−i)
        let miss: f64 = (0..k)
            .map(|i| (n.saturating_sub(h + i)) as f64 / (n - i) as f64)
            .product();
        1.0 - miss
    };
    hits.iter().map(|&h| one(h)).sum::<f64>() / hits.len() as f64
}

impl fmt::Display for TextReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<26} {:<22} {:>7}", "query", "hit", "queries")?;
        for k in &self.ks {
            write!(f, " {:>6}", format!("R@{k}"))?;
        }
        writeln!(f, " {:>8}", "med.rank")?;
        for row in &self.rows {
            write!(f, "{:<26} {:<22} {:>7}", row.query, row.hit, row.queries)?;
            for r in &row.recall {
                write!(f, " {r:>6.3}")?;
            }
            writeln!(f, " {:>8.1}", row.median_rank)?;
            write!(f, "{:<26} {:<22} {:>7}", "", "  chance", "")?;
            for c in &row.chance {
                write!(f, " {c:>6.3}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chance_is_k_over_n_for_one_hit_and_one_for_all_hits() {
        assert!((chance_recall(&[1], 100, 10) - 0.1).abs() < 1e-12);
        assert_eq!(chance_recall(&[100], 100, 1), 1.0);
        assert_eq!(chance_recall(&[0], 100, 10), 0.0);
        // Two hits of 4, top 1: 1/2; top 2: 1 − (2·1)/(4·3) = 5/6.
        assert!((chance_recall(&[2], 4, 1) - 0.5).abs() < 1e-12);
        assert!((chance_recall(&[2], 4, 2) - 5.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn a_row_ranks_each_query_against_the_gallery() {
        // Query 0 points at gallery 0, query 1 between gallery 1 and 2 but nearer 2.
        let queries = [1.0, 0.0, 0.0, 0.0, 0.6, 0.8];
        let gallery = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        let row = text_row("full text", "same article", &queries, &gallery, 3, &[1, 2], |q, g| {
            q == g
        });
        // Query 1's hit (gallery 1) scores 0.6, behind gallery 2's 0.8: rank 2.
        assert_eq!(row.recall, vec![0.5, 1.0]);
        assert_eq!(row.median_rank, 1.5);
        assert!((row.chance[0] - 1.0 / 3.0).abs() < 1e-12);
        let table = TextReport {
            ks: vec![1, 2],
            gallery: 3,
            rows: vec![row],
        }
        .to_string();
        assert!(
            table.contains("full text") && table.contains("0.500") && table.contains("chance"),
            "{table}"
        );
    }
}
