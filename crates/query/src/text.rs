//! How a result reads in a terminal: one line a person can scan (issue 25: a result line
//! used to print every attribute, wider than a terminal, with the product's name buried).

use std::collections::BTreeMap;

use lookbook_catalog::key_attributes;

/// The widest result line: a terminal's usual width, with room to spare.
pub const RESULT_LINE_WIDTH: usize = 120;

/// Characters of a name that fit one caption line of a contact sheet's 160-pixel tile.
pub const CAPTION_NAME_WIDTH: usize = 20;

/// One result as a person reads it: rank, item id, distance, `matched` (recommend: why it
/// came), the product's name and up to three key attributes' values, in at most
/// [`RESULT_LINE_WIDTH`] characters (the name, then the attributes, shortened with `…`).
/// `--json` keeps everything.
pub fn result_line(
    rank: usize,
    item_id: &str,
    distance: f32,
    matched: Option<&str>,
    name: &str,
    attributes: &BTreeMap<String, String>,
) -> String {
    let mut line = format!("{rank:>3}  {item_id:<12} {distance:.4}  ");
    if let Some(matched) = matched {
        line.push_str(&format!("{matched:<16} "));
    }
    let keys: Vec<&str> = key_attributes(attributes, 3).into_iter().map(|(_, v)| v).collect();
    let keys = keys.join(" · ");
    let room = RESULT_LINE_WIDTH.saturating_sub(line.chars().count());
    // The name gets what the attributes leave, but never less than half the room.
    let keys_room = keys.chars().count().min(room / 2);
    let name_room = room.saturating_sub(keys_room + usize::from(keys_room > 0) * 2);
    line.push_str(&shorten(name, name_room));
    if keys_room > 0 {
        line.push_str("  ");
        line.push_str(&shorten(&keys, RESULT_LINE_WIDTH.saturating_sub(line.chars().count())));
    }
    line
}

/// `text` in at most `width` characters, ending in `…` when cut.
pub fn shorten(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    if width > 0 {
        cut.push('…');
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_line_fits_120_columns_with_its_name_first() {
        let attributes = BTreeMap::from([
            ("articleType".to_string(), "Shirts".to_string()),
            ("baseColour".to_string(), "Navy Blue".to_string()),
            ("usage".to_string(), "Casual".to_string()),
            ("season".to_string(), "Fall".to_string()),
        ]);
        let name = "Indigo Nation Men Navy Blue and White Checked Slim Fit Casual Shirt with a very long name indeed";
        let line = result_line(1, "15970", 0.1234, Some("upper left #2"), name, &attributes);
        assert!(
            line.chars().count() <= RESULT_LINE_WIDTH,
            "{} columns: {line}",
            line.chars().count()
        );
        assert!(line.contains("Indigo Nation Men Navy Blue"), "{line}");
        assert!(line.contains("Shirts · Navy Blue"), "{line}");
        assert!(!line.contains("Fall"), "season is not a key attribute: {line}");
        let short = result_line(10, "0108775015", 1.5, None, "Strap top", &BTreeMap::new());
        assert_eq!(short, " 10  0108775015   1.5000  Strap top");
    }
}
