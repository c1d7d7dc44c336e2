//! One catalogue's training photos added to another's, so that one model learns from both
//! (H&M's product codes and Myntra's article types, say) while validation, test and every
//! report stay on the first catalogue's own photos.

use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::entry::{Catalog, Entry, Split};

impl Catalog {
    /// Appends `other`'s training-split photos to this catalogue and returns where they landed
    /// in [`Catalog::entries`]. Its other splits are left out: its test photos stay unseen, and
    /// validation stays on this catalogue's photos.
    ///
    /// - Image paths become absolute (`other.root` joined and made absolute), so
    ///   [`Catalog::image_path`] finds them under this catalogue's root.
    /// - Item ids get the other catalogue's name in front (`myntra:15970`): two catalogues
    ///   number their products independently, and equal numbers are not the same garment.
    /// - Columns are the union, this catalogue's first; a column the other lacks is empty in
    ///   its rows (unknown), and the other's problems are appended with its root in their place.
    pub fn append_training_photos(&mut self, other: &Catalog) -> Range<usize> {
        let name = source_name(other);
        let other_root = std::path::absolute(&other.root).unwrap_or_else(|_| other.root.clone());
        for column in &other.columns {
            if self.column_index(column).is_none() {
                self.columns.push(column.clone());
                for entry in &mut self.entries {
                    entry.values.push(String::new());
                }
            }
        }
        let start = self.entries.len();
        let placed: Vec<usize> = other
            .columns
            .iter()
            .map(|c| self.column_index(c).expect("every column of other was added"))
            .collect();
        for entry in other.split(Split::Train) {
            let mut values = vec![String::new(); self.columns.len()];
            for (value, &at) in entry.values.iter().zip(&placed) {
                values[at].clone_from(value);
            }
            self.entries.push(Entry {
                image: other_root.join(&entry.image),
                item_id: format!("{name}:{}", entry.item_id),
                values,
                labels: entry.labels.clone(),
                split: Split::Train,
            });
        }
        self.problems.extend(other.problems.iter().map(|p| {
            let mut p = p.clone();
            p.location = Path::new(&other.root).join(&p.location).display().to_string();
            p
        }));
        start..self.entries.len()
    }
}

/// The folder's name (`myntra`), else the format's.
fn source_name(catalog: &Catalog) -> String {
    let root: PathBuf = std::path::absolute(&catalog.root).unwrap_or_else(|_| catalog.root.clone());
    root.file_name()
        .and_then(|n| n.to_str())
        .map_or_else(|| catalog.format.name().to_string(), str::to_string)
}
