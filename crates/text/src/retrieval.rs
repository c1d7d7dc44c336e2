//! Text → image ranks by cosine, exactly: what validation and `lookbook eval --protocol text`
//! measure.

/// Each row of `rows` (`dim` floats each) divided by its length.
pub fn unit(rows: &mut [f32], dim: usize) {
    for row in rows.chunks_exact_mut(dim.max(1)) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|x| *x /= norm);
        }
    }
}

/// For each query (rows of `queries`), the 1-based rank of its best-placed hit among the
/// `gallery` rows by inner product (cosine for unit rows); `None` when no gallery row is a hit.
/// `is_hit(q, g)` says whether gallery row `g` answers query `q`.
pub fn first_hit_ranks(
    queries: &[f32],
    gallery: &[f32],
    dim: usize,
    is_hit: impl Fn(usize, usize) -> bool + Sync,
) -> Vec<Option<usize>> {
    let gallery: Vec<&[f32]> = gallery.chunks_exact(dim).collect();
    queries
        .chunks_exact(dim)
        .enumerate()
        .map(|(q, query)| {
            let scores: Vec<f32> = gallery
                .iter()
                .map(|g| g.iter().zip(query).map(|(a, b)| a * b).sum())
                .collect();
            let best = (0..gallery.len())
                .filter(|&g| is_hit(q, g))
                .map(|g| scores[g])
                .fold(None, |best: Option<f32>, s| Some(best.map_or(s, |b| b.max(s))))?;
            // Ties count against the hit: a constant encoder ranks nothing first.
            Some(scores.iter().filter(|&&s| s >= best).count())
        })
        .collect()
}

/// Share of queries with a hit in the top `k` (queries without any hit count as misses).
pub fn recall_at(ranks: &[Option<usize>], k: usize) -> f64 {
    if ranks.is_empty() {
        return 0.0;
    }
    ranks.iter().filter(|r| r.is_some_and(|r| r <= k)).count() as f64 / ranks.len() as f64
}

/// The median rank of the first hit (queries without one ranked last: gallery + 1).
pub fn median_rank(ranks: &[Option<usize>], gallery: usize) -> f64 {
    let mut ranks: Vec<usize> = ranks.iter().map(|r| r.unwrap_or(gallery + 1)).collect();
    if ranks.is_empty() {
        return 0.0;
    }
    ranks.sort_unstable();
    let n = ranks.len();
    match n % 2 {
        1 => ranks[n / 2] as f64,
        _ => (ranks[n / 2 - 1] + ranks[n / 2]) as f64 / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_recall_and_median_on_a_hand_built_case() {
        // Two queries, three gallery rows in 2-d.
        let queries = [1.0, 0.0, 0.0, 1.0];
        let gallery = [0.9, 0.1, 0.1, 0.9, 0.5, 0.5];
        // Query 0's hit is row 0 (rank 1); query 1's hit is row 2: row 1 scores 0.9, row 2 0.5,
        // row 0 0.1 → rank 2.
        let ranks = first_hit_ranks(&queries, &gallery, 2, |q, g| (q, g) == (0, 0) || (q, g) == (1, 2));
        assert_eq!(ranks, vec![Some(1), Some(2)]);
        assert_eq!(recall_at(&ranks, 1), 0.5);
        assert_eq!(recall_at(&ranks, 2), 1.0);
        assert_eq!(median_rank(&ranks, 3), 1.5);
        // No hit at all: a miss, ranked last.
        let none = first_hit_ranks(&queries[..2], &gallery, 2, |_, _| false);
        assert_eq!(none, vec![None]);
        assert_eq!(median_rank(&none, 3), 4.0);
        // Ties count against the hit.
        let tied = first_hit_ranks(&[1.0, 0.0], &[1.0, 0.0, 1.0, 0.0], 2, |_, g| g == 0);
        assert_eq!(tied, vec![Some(2)]);
    }
}
