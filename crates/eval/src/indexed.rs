//! An index's vectors as the embedded photos of its catalogue: rows matched to catalogue
//! entries by image path, so one embedding (`lookbook index`) serves every split, gallery and
//! ranking setting of the catalogue protocols.

use std::path::{Path, PathBuf};

use lookbook_catalog::Catalog;
use lookbook_index::IndexContents;

use crate::catalogue::EvalError;

/// The vectors of the catalogue entries an index holds.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedPhotos {
    /// The catalogue entry of each row.
    pub entries: Vec<usize>,
    pub vectors: Vec<f32>,
    /// Entries asked for that the index does not hold (their image paths).
    pub missing: Vec<PathBuf>,
}

/// The index's vectors of `catalog`'s entries `order` (in that order); the index must have
/// been built from this catalogue folder.
pub fn photos_of_index(
    contents: &IndexContents,
    catalog: &Catalog,
    order: &[usize],
) -> Result<IndexedPhotos, EvalError> {
    if !same_folder(&contents.info.catalog_root, &catalog.root) {
        return Err(EvalError::OtherCatalogue {
            index: contents.info.catalog_root.clone(),
            catalogue: catalog.root.clone(),
        });
    }
    let mut row_of = std::collections::HashMap::new();
    for (row, record) in contents.records.iter().enumerate() {
        row_of.insert(record?.image.clone(), row);
    }
    let dim = contents.info.dim;
    let mut photos = IndexedPhotos {
        entries: Vec::new(),
        vectors: Vec::new(),
        missing: Vec::new(),
    };
    for &i in order {
        let image = &catalog.entries[i].image;
        match row_of.get(image) {
            Some(&row) => {
                photos.entries.push(i);
                photos.vectors.extend_from_slice(&contents.vectors[row * dim..][..dim]);
            }
            None => photos.missing.push(image.clone()),
        }
    }
    Ok(photos)
}

/// One folder, however it is written (relative, with `..`, through a link).
fn same_folder(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
