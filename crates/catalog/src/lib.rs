//! Catalogues of product photos: where the images are, which photos show the same
//! item, what attributes each item has, and which split it belongs to.
//!
//! Every supported on-disk format is read into one [`Catalog`]; everything downstream
//! (image loading, training, indexing, evaluation) sees only that type.
//!
//! ```no_run
//! use lookbook_catalog::{Catalog, OpenOptions};
//! let catalog = Catalog::open("../shared/data/hm", &OpenOptions::default())?;
//! println!("{} images of {} items", catalog.entries.len(), catalog.item_count());
//! # Ok::<(), lookbook_catalog::CatalogError>(())
//! ```

mod catalog;
mod csv_table;
mod detect;
mod entry;
mod error;
pub mod formats;
mod join;
pub mod names;
mod split;
mod summary;
mod vocabulary;

pub use catalog::OpenOptions;
pub use detect::detect_format;
pub use entry::{Catalog, CatalogFormat, Entry, Problem, ProblemKind, Split};
pub use error::CatalogError;
pub use formats::labelled::LabelledListConfig;
pub use names::{DESCRIPTION_COLUMNS, KEY_COLUMNS, NAME_COLUMNS, display_name, is_free_text_column, key_attributes};
pub use split::{SplitFractions, split_for_item};
pub use summary::{CatalogSummary, ImagesPerItem};
pub use vocabulary::{FREE_LABEL_COLUMN, Label, LabelEncoder, LabelVocabulary, VocabularyConfig, is_colour_column};

/// File extensions treated as images when a format lists a folder rather than a table.
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"];

/// True when `path` has one of [`IMAGE_EXTENSIONS`] (case-insensitive).
pub fn has_image_extension(path: &std::path::Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}
