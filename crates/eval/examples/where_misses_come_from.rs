//! Where a product-code query's wrong first answers come from, by split: with the whole
//! catalogue as gallery, is a training photo (a product code the model was trained to pull
//! together) more often the wrong first answer than its share of the gallery says?
//!
//!   cargo run --release -p lookbook-eval --example where_misses_come_from -- CATALOG INDEX [SPLIT]
//!
//! INDEX is `lookbook index --catalog CATALOG` of a model (every photo); SPLIT test (default) or val.

use std::collections::HashMap;

use lookbook_catalog::{Catalog, OpenOptions, Split};
use lookbook_eval::indexed::photos_of_index;
use lookbook_index::{ExactIndex, IndexReader, Metric, VectorIndex};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [catalog, index, rest @ ..] = &args[..] else {
        return Err("usage: where_misses_come_from CATALOG INDEX [test|val]".into());
    };
    let split = match rest.first().map(String::as_str) {
        None | Some("test") => Split::Test,
        Some("val") => Split::Val,
        Some(other) => return Err(format!("split `{other}`: test or val").into()),
    };
    let catalog = Catalog::open(catalog, &OpenOptions::default())?;
    let contents = IndexReader::open(index)?;
    let order: Vec<usize> = (0..catalog.entries.len()).collect();
    let photos = photos_of_index(&contents, &catalog, &order)?;
    let dim = contents.info.dim;
    let entries: Vec<_> = photos.entries.iter().map(|&i| &catalog.entries[i]).collect();
    let mut gallery = ExactIndex::new(dim, Metric::Euclidean);
    for row in 0..entries.len() {
        gallery.add(row as u64, &photos.vectors[row * dim..][..dim])?;
    }
    let mut per_item: HashMap<&str, usize> = HashMap::new();
    for e in entries.iter().filter(|e| e.split == split) {
        *per_item.entry(e.item_id.as_str()).or_default() += 1;
    }
    let queries: Vec<usize> = (0..entries.len())
        .filter(|&r| entries[r].split == split && per_item[entries[r].item_id.as_str()] > 1)
        .collect();
    let (mut misses, mut by_split): (usize, HashMap<Split, usize>) = (0, HashMap::new());
    // Of right and wrong first answers: how many share the query's value of each column.
    let columns = ["product_type_name", "colour_group_name", "graphical_appearance_name"];
    let column_of: Vec<Option<usize>> = columns.iter().map(|c| catalog.column_index(c)).collect();
    let (mut same_right, mut same_wrong) = (vec![0usize; columns.len()], vec![0usize; columns.len()]);
    for &q in &queries {
        let hits = gallery.search(&photos.vectors[q * dim..][..dim], 2, None)?;
        let first = hits.iter().find(|h| h.key as usize != q).expect("more than one photo");
        let answer = entries[first.key as usize];
        let right = answer.item_id == entries[q].item_id;
        for (c, column) in column_of.iter().enumerate() {
            let same = column.is_some_and(|k| answer.values[k] == entries[q].values[k]);
            let counts = if right { &mut same_right } else { &mut same_wrong };
            counts[c] += usize::from(same);
        }
        if !right {
            misses += 1;
            *by_split.entry(answer.split).or_default() += 1;
        }
    }
    let share = |s: Split| entries.iter().filter(|e| e.split == s).count() as f64 / entries.len() as f64;
    println!(
        "{} queries ({split:?}), {misses} wrong first answers; gallery {} photos",
        queries.len(),
        entries.len()
    );
    println!("| split of the wrong first answer | share of wrong answers | share of the gallery |");
    println!("|---|---|---|");
    for s in [Split::Train, Split::Val, Split::Test] {
        let n = by_split.get(&s).copied().unwrap_or(0);
        println!(
            "| {s:?} | {:.3} ({n}) | {:.3} |",
            n as f64 / misses.max(1) as f64,
            share(s)
        );
    }
    // Chance: of the gallery photos of the query's type (other items), the share in its colour.
    if let (Some(t), Some(c)) = (column_of[0], column_of[1]) {
        let mut shares = 0.0;
        for &q in &queries {
            let same_type = entries
                .iter()
                .filter(|e| e.item_id != entries[q].item_id && e.values[t] == entries[q].values[t]);
            let (n, same_colour) = same_type.fold((0usize, 0usize), |(n, s), e| {
                (n + 1, s + usize::from(e.values[c] == entries[q].values[c]))
            });
            shares += same_colour as f64 / n.max(1) as f64;
        }
        println!(
            "chance: a photo of the query's type (another item) is in its colour {:.3} of the time",
            shares / queries.len() as f64
        );
    }
    let rights = queries.len() - misses;
    println!("\n| the first answer shares the query's | when right ({rights}) | when wrong ({misses}) |");
    println!("|---|---|---|");
    for (c, column) in columns.iter().enumerate() {
        let part = |n: usize, of: usize| n as f64 / of.max(1) as f64;
        println!(
            "| {column} | {:.3} | {:.3} |",
            part(same_right[c], rights),
            part(same_wrong[c], misses)
        );
    }
    Ok(())
}
