//! A catalogue photo as an index row: its key, its record, its path relative to the catalogue.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lookbook_catalog::{Catalog, Split};
use lookbook_embed::PhotoBoxes;
use lookbook_index::{IndexContents, IndexInfo, Record, StepBox, StepBoxes};

/// A stable key for an image: its path inside the catalogue, hashed.
pub fn image_key(image: &Path) -> u64 {
    xxhash_rust::xxh3::xxh3_64(image.to_string_lossy().as_bytes())
}

/// The index record of catalogue entry `entry`: key, item, image, non-empty attributes.
pub fn record_of(catalog: &Catalog, entry: usize) -> Record {
    let e = &catalog.entries[entry];
    let attributes: BTreeMap<String, String> = catalog
        .columns
        .iter()
        .zip(&e.values)
        .filter(|(_, v)| !v.is_empty())
        .map(|(c, v)| (c.clone(), v.clone()))
        .collect();
    Record {
        key: image_key(&e.image),
        item_id: e.item_id.clone(),
        image: e.image.clone(),
        attributes,
        boxes: None,
    }
}

/// The photos of `split` that `contents` holds, in catalogue order: each one's record (its
/// attributes from the catalogue, which may hold columns an older index lacks) and its vector,
/// concatenated (`contents.info.dim` floats each). What trains and evaluates on an index's
/// vectors by the catalogue's splits (the text encoder) reads.
pub fn split_rows(catalog: &Catalog, contents: &IndexContents, split: Split) -> (Vec<Record>, Vec<f32>) {
    let dim = contents.info.dim;
    let (mut records, mut vectors) = (Vec::new(), Vec::new());
    for (i, entry) in catalog.entries.iter().enumerate() {
        if entry.split != split {
            continue;
        }
        if let Some(row) = contents.row_of(image_key(&entry.image)) {
            records.push(record_of(catalog, i));
            vectors.extend_from_slice(&contents.vector_of(row)[..dim]);
        }
    }
    (records, vectors)
}

/// An image's attention boxes as its record keeps them (step 0, the whole photo, left out).
pub fn stored_boxes(boxes: &PhotoBoxes) -> StepBoxes {
    StepBoxes {
        size: [boxes.width, boxes.height],
        steps: boxes
            .steps
            .iter()
            .skip(1)
            .map(|(bbox, name)| StepBox {
                bbox: *bbox,
                name: name.clone(),
            })
            .collect(),
    }
}

/// The canonical catalogue root an index records (so resumes compare like with like).
pub fn catalog_root(catalog: &Catalog) -> PathBuf {
    catalog.root.canonicalize().unwrap_or_else(|_| catalog.root.clone())
}

/// `path` as a catalogue-relative image path: as given when it is one, else made relative
/// to the catalogue root.
pub fn relative_image(catalog: &Catalog, path: &Path) -> PathBuf {
    let root = catalog_root(catalog);
    match path.canonicalize() {
        Ok(full) => full.strip_prefix(&root).map(Path::to_path_buf).unwrap_or(full),
        Err(_) => path.to_path_buf(),
    }
}

/// Two builds are the same (so one can resume the other) when the vectors mean the same.
pub fn same_build(a: &IndexInfo, b: &IndexInfo) -> bool {
    a.model == b.model
        && a.dim == b.dim
        && a.metric == b.metric
        && a.parts == b.parts
        && a.part_dim == b.part_dim
        && a.label_part == b.label_part
        && a.catalog_root == b.catalog_root
}
