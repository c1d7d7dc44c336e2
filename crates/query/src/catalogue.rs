//! What browsing shows beside the item list: how many items there are and the values of each
//! attribute (the page's filters). Asked of the index once per engine — an index in
//! PostgreSQL counts them in SQL — and kept, since an engine lives until the index changes.

use lookbook_catalog::DESCRIPTION_COLUMNS;
use lookbook_index::Gallery;

use crate::answer::AttributeValues;
use crate::error::QueryError;

/// Values listed per attribute for the page's filters.
const FACET_VALUES: usize = 60;

pub(crate) struct Catalogue {
    pub(crate) items: usize,
    pub(crate) facets: Vec<AttributeValues>,
}

impl Catalogue {
    pub(crate) fn read(gallery: &dyn Gallery) -> Result<Self, QueryError> {
        let facets = gallery
            .value_counts(FACET_VALUES)?
            .into_iter()
            // A description is words to search, not a value to filter by.
            .filter(|counts| !DESCRIPTION_COLUMNS.contains(&counts.column.as_str()))
            .map(|counts| AttributeValues {
                attribute: counts.column,
                distinct: counts.distinct,
                values: counts.values.into_iter().map(Into::into).collect(),
            })
            .collect();
        Ok(Catalogue {
            items: gallery.item_count()?,
            facets,
        })
    }
}
