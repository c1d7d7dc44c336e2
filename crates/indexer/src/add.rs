//! What `index add` starts from. A folder is read whole (its next generation is written whole);
//! a table's rows stay in PostgreSQL — it is asked only which of the photos to add it holds —
//! and the embedded rows are inserted alone, so adding 1,000 photos to a table of a million
//! rows costs the 1,000 (issue 22).

use std::collections::HashSet;
use std::path::PathBuf;

use lookbook_catalog::Catalog;
use lookbook_index::IndexContents;
use lookbook_pgvector::{IndexLocation, PgIndex};

use crate::{IndexerError, entries_to_add, image_key};

pub struct AddBase {
    /// The rows to commit: a folder's all, a table's new ones only.
    pub contents: IndexContents,
    /// A table (`None`: a folder, whose contents hold every row), and which of the photos to
    /// add it held.
    table: Option<(PgIndex, HashSet<u64>)>,
    before: usize,
}

impl AddBase {
    pub fn open(location: &IndexLocation) -> Result<AddBase, IndexerError> {
        let (contents, table) = match location.postgres() {
            Some(table) => {
                let index = PgIndex::open(&table?)?;
                (IndexContents::new(index.info().clone()), Some((index, HashSet::new())))
            }
            None => (location.open_for_update()?, None),
        };
        let before = contents.records.len();
        Ok(AddBase {
            contents,
            table,
            before,
        })
    }

    /// The catalogue entries to embed: `images` (paths in the catalogue), or without them every
    /// photo of the catalogue the index does not hold.
    pub fn todo(&mut self, catalog: &Catalog, images: &[PathBuf]) -> Result<Vec<usize>, IndexerError> {
        let key_of = |i: usize| image_key(&catalog.entries[i].image);
        let Some((index, held)) = &mut self.table else {
            let contents = &self.contents;
            return entries_to_add(|key| contents.row_of(key).is_some(), catalog, images);
        };
        let candidates = match images.is_empty() {
            true => (0..catalog.entries.len()).collect(),
            false => entries_to_add(|_| false, catalog, images)?,
        };
        let keys: Vec<u64> = candidates.iter().map(|&i| key_of(i)).collect();
        held.extend(index.held_keys(&keys)?);
        Ok(match images.is_empty() {
            true => candidates.into_iter().filter(|&i| !held.contains(&key_of(i))).collect(),
            false => candidates,
        })
    }

    /// Rows added since opening (photos embedded again replace their rows).
    pub fn added(&self) -> usize {
        match &self.table {
            Some((_, held)) => self
                .contents
                .records
                .keys()
                .iter()
                .filter(|k| !held.contains(k))
                .count(),
            None => self.contents.records.len() - self.before,
        }
    }

    /// Images in the index with what was added.
    pub fn images(&self) -> usize {
        match &self.table {
            Some((index, _)) => lookbook_index::VectorIndex::len(index) + self.added(),
            None => self.contents.records.len(),
        }
    }
}
