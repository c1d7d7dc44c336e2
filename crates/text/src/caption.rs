//! An article's words: its name, its description and its attribute values, as the catalogue
//! (or an index record) holds them — and the shorter texts a shopper would type, drawn from
//! them as training augmentation and as the evaluation's queries.

use std::collections::BTreeMap;

use lookbook_catalog::{DESCRIPTION_COLUMNS, NAME_COLUMNS};
use rand::Rng;

/// Colour, type and pattern columns, most specific first: the three-word attribute query
/// ("Black Sweater Solid") a stylist might type.
const COLOUR_COLUMNS: [&str; 4] = ["colour_group_name", "baseColour", "colour", "color"];
const TYPE_COLUMNS: [&str; 3] = ["product_type_name", "articleType", "category"];
const PATTERN_COLUMNS: [&str; 2] = ["graphical_appearance_name", "pattern"];

/// Columns that are not words about the garment (Myntra's `year`).
const SKIPPED_COLUMNS: [&str; 1] = ["year"];

/// The text of one article.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Caption {
    pub name: String,
    pub description: String,
    /// Attribute values (type, colour, pattern, department, ...), each once, in column order.
    pub values: Vec<String>,
}

impl Caption {
    /// The caption of an article with these attribute values (column → value).
    pub fn of(attributes: &BTreeMap<String, String>) -> Caption {
        let first = |columns: &[&str]| {
            columns
                .iter()
                .find_map(|c| attributes.get(*c).map(|v| v.trim()).filter(|v| !v.is_empty()))
                .unwrap_or("")
                .to_string()
        };
        let mut values: Vec<String> = Vec::new();
        for (column, value) in attributes {
            let value = value.trim();
            let skip = NAME_COLUMNS.contains(&column.as_str())
                || DESCRIPTION_COLUMNS.contains(&column.as_str())
                || SKIPPED_COLUMNS.contains(&column.as_str())
                || value.is_empty()
                || value.bytes().all(|b| b.is_ascii_digit());
            if !skip && !values.iter().any(|v| v.eq_ignore_ascii_case(value)) {
                values.push(value.to_string());
            }
        }
        Caption {
            name: first(&NAME_COLUMNS),
            description: first(&DESCRIPTION_COLUMNS),
            values,
        }
    }

    /// Everything: name, attribute values, description.
    pub fn full(&self) -> String {
        join([self.name.as_str(), &self.values.join(", "), self.description.as_str()])
    }

    /// The product's name alone.
    pub fn name_only(&self) -> String {
        self.name.clone()
    }

    /// A random part of the caption, as a shopper's query is part of what the catalogue says:
    /// the full text `full_share` of the time, else a subset of the name, some attribute values
    /// and some of the description's sentences — never empty when the caption is not.
    pub fn sample(&self, rng: &mut impl Rng, full_share: f64) -> String {
        if rng.random_bool(full_share.clamp(0.0, 1.0)) {
            return self.full();
        }
        let name = if rng.random_bool(0.6) { self.name.as_str() } else { "" };
        let values: Vec<&str> = self
            .values
            .iter()
            .filter(|_| rng.random_bool(0.5))
            .map(String::as_str)
            .collect();
        let sentences: Vec<&str> = self
            .description
            .split_inclusive('.')
            .filter(|_| rng.random_bool(0.5))
            .collect();
        let text = join([name, &values.join(", "), &sentences.concat()]);
        if text.trim().is_empty() { self.full() } else { text }
    }
}

fn join<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(". ")
}

/// The three-word attribute query (colour, type, pattern; fewer where a catalogue has fewer
/// such columns) and the (colour, type) pair a result must share to answer it; `None` without
/// both a colour and a type.
pub fn attribute_query(attributes: &BTreeMap<String, String>) -> Option<(String, (String, String))> {
    let first = |columns: &[&str]| {
        columns
            .iter()
            .find_map(|c| attributes.get(*c).map(|v| v.trim()).filter(|v| !v.is_empty()))
            .map(str::to_string)
    };
    let colour = first(&COLOUR_COLUMNS)?;
    let kind = first(&TYPE_COLUMNS)?;
    let pattern = first(&PATTERN_COLUMNS).unwrap_or_default();
    let query = join([colour.as_str(), &kind, &pattern]).replace(". ", " ");
    Some((query, (colour, kind)))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::*;

    fn jumper() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("prod_name".into(), "Tilly jumper".into()),
            (
                "detail_desc".into(),
                "Jumper in a soft knit. Ribbing at the cuffs.".into(),
            ),
            ("product_type_name".into(), "Sweater".into()),
            ("colour_group_name".into(), "Black".into()),
            ("perceived_colour_master_name".into(), "black".into()),
            ("graphical_appearance_name".into(), "Solid".into()),
            ("year".into(), "2012".into()),
        ])
    }

    #[test]
    fn a_caption_holds_name_description_and_each_value_once() {
        let caption = Caption::of(&jumper());
        assert_eq!(caption.name, "Tilly jumper");
        assert_eq!(caption.description, "Jumper in a soft knit. Ribbing at the cuffs.");
        // Column order (BTreeMap), "black" folded into "Black", the year left out.
        assert_eq!(caption.values, vec!["Black", "Solid", "Sweater"]);
        assert_eq!(
            caption.full(),
            "Tilly jumper. Black, Solid, Sweater. Jumper in a soft knit. Ribbing at the cuffs."
        );
        assert_eq!(
            attribute_query(&jumper()),
            Some(("Black Sweater Solid".into(), ("Black".into(), "Sweater".into())))
        );
    }

    #[test]
    fn samples_are_parts_of_the_caption_and_never_empty() {
        let caption = Caption::of(&jumper());
        let mut rng = SmallRng::seed_from_u64(7);
        let samples: Vec<String> = (0..200).map(|_| caption.sample(&mut rng, 0.2)).collect();
        let full = caption.full();
        assert!(samples.iter().all(|s| !s.trim().is_empty()));
        let shorter = samples.iter().filter(|s| s.len() < full.len()).count();
        assert!(shorter > 100, "{shorter} of 200 shorter than the full text");
        for sample in &samples {
            for word in sample.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
                assert!(full.contains(word), "`{word}` of `{sample}` is not in the caption");
            }
        }
    }
}
