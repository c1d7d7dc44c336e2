//! The index on disk: a folder with one `manifest.json` naming the current generation's
//! files, each with its length and XXH3 checksum.
//!
//! ```text
//! INDEX/manifest.json          format, version, generation, dims, metric, model, files
//! INDEX/vectors-000003.f32     n × dim little-endian f32 (the retrieval embeddings)
//! INDEX/parts-000003.f32       n × parts × part_dim (per-part vectors, for recommendations)
//! INDEX/records-000003.jsonl   one JSON object per row: key, item id, image, attributes, attention boxes
//! INDEX/keys-000003.u64        the rows' keys, little-endian (so a mapped open need not parse)
//! INDEX/graph-000003.usearch   the HNSW graph over the vectors (when the index has one)
//! INDEX/lists-000003.ivf        or the inverted-file lists over them (when it has those)
//! ```
//! [`IndexWriter::commit`] writes a new generation's files, fsyncs them and the folder, then
//! swaps `manifest.json` by rename. A run killed at any point leaves the previous manifest
//! and the files it names intact. Old generations are deleted after the swap.
//!
//! Two ways to read: [`IndexReader::open`] reads everything into memory and verifies every
//! checksum (for updating an index, or when it is small); [`IndexReader::open_mapped`] maps
//! the vector files and the graph instead of reading them and checks their lengths only, so
//! a million-image index opens in a fraction of a second ([`IndexReader::verify`] checks
//! the checksums on demand: `lookbook index verify`).
//!
//! The concerns, one file each (tantivy's writer / reader pairs): [`manifest`] the on-disk
//! format, [`rows`] the float storage, [`contents`] what an open index holds and how it
//! searches, [`gallery`] the reads queries make (which an index in a database answers too), [`writer`] and [`reader`] the two directions.

mod contents;
mod gallery;
mod manifest;
mod reader;
mod rows;
mod writer;

pub use contents::{ExternalIndex, IndexContents, Predicate, SearchMode};
pub use gallery::{Gallery, ItemsPage, StoredRow, ValueCounts, most_frequent};
pub(crate) use manifest::f32_bytes;
pub use manifest::{FORMAT, IndexInfo, Record, StepBox, StepBoxes, VERSION};
pub use reader::IndexReader;
pub use rows::FloatRows;
pub use writer::{FailPoint, IndexWriter};
