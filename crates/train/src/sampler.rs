//! The order of an epoch for a pair loss: photos of one item side by side, in groups of up to
//! K, the groups in random order (a P×K sampler that keeps the epoch: every photo once).

use std::collections::HashMap;

use rand::Rng;
use rand::seq::SliceRandom;

/// `order` (already shuffled) regrouped: the photos of each identity (`identity_of`; `None`:
/// a photo of its own) cut into groups of up to `per_identity` in their order in `order`, the
/// groups shuffled by `rng` and laid end to end. A batch cut from it holds about
/// batch / K items with K photos each — pairs for the loss — instead of almost none.
pub fn grouped_by_identity(
    order: &[usize],
    identity_of: impl Fn(usize) -> Option<usize>,
    per_identity: usize,
    rng: &mut impl Rng,
) -> Vec<usize> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut open: HashMap<usize, usize> = HashMap::new();
    for &photo in order {
        let Some(identity) = identity_of(photo) else {
            groups.push(vec![photo]);
            continue;
        };
        match open.get(&identity) {
            Some(&g) if groups[g].len() < per_identity.max(1) => groups[g].push(photo),
            _ => {
                open.insert(identity, groups.len());
                groups.push(vec![photo]);
            }
        }
    }
    groups.shuffle(rng);
    groups.concat()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::grouped_by_identity;

    #[test]
    fn every_photo_once_and_each_identity_in_groups_of_k() {
        // Photos 0..20; identity = photo / 5 (four items of five photos), photo 19 alone.
        let order: Vec<usize> = (0..20).rev().collect();
        let identity_of = |p: usize| (p != 19).then_some(p / 5);
        let grouped = grouped_by_identity(&order, identity_of, 2, &mut SmallRng::seed_from_u64(7));
        let mut sorted = grouped.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..20).collect::<Vec<_>>(), "every photo exactly once");
        // Each item's photos, in the order given (descending), cut in twos — 4 3 | 2 1 | 0 for
        // item 0; item 3 has four (19 is alone): 18 17 | 16 15 — and each two side by side.
        let at = |p| grouped.iter().position(|&q| q == p).unwrap();
        for (first, second) in [(4, 3), (2, 1), (9, 8), (7, 6), (14, 13), (12, 11), (18, 17), (16, 15)] {
            assert_eq!(at(second), at(first) + 1, "{first} then {second} in {grouped:?}");
        }
        // The groups are shuffled: not the order given.
        assert_ne!(grouped, order);
    }

    #[test]
    fn k_of_one_or_no_identities_keep_singletons() {
        let order: Vec<usize> = (0..10).collect();
        let mut rng = SmallRng::seed_from_u64(1);
        let grouped = grouped_by_identity(&order, |_| None, 4, &mut rng);
        let mut sorted = grouped.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, order);
    }
}
