//! lookbook's index in PostgreSQL with pgvector, for catalogues that outgrow one process:
//! several servers query one database (or its replicas), items come and go with SQL
//! transactions, and the catalogue can live next to the rest of a retailer's data.
//!
//! [`PgIndex`] is a [`VectorIndex`](lookbook_index::VectorIndex) (and an
//! [`ExternalIndex`](lookbook_index::ExternalIndex)) over one table:
//!
//! ```text
//! lookbook_indexes   name (the table) | schema_version | info (IndexInfo as JSON) | rows | updated_at
//! <table>            key bigint PK | item_id text | image text | attributes jsonb
//!                    | embedding vector(dim)  (HNSW: vector_l2_ops or vector_cosine_ops)
//!                    | parts real[]  (parts × part_dim, for recommendations)
//!                    | position bigint  (row order: an item's first image is the same one
//!                      whichever store holds the index)
//!                    | boxes jsonb  (each attention step's box and part name; schema 2)
//! ```
//!
//! - [`PgIndex::replace`] bulk-loads a whole [`IndexContents`](lookbook_index::IndexContents)
//!   by binary COPY into a new table, builds its HNSW index, and swaps it in — all in one
//!   transaction, so a failed or interrupted load leaves the previous table as it was.
//! - [`PgIndex::snapshot`] reads the records and vectors back into an `IndexContents` whose
//!   `Auto` searches go to PostgreSQL (so search, recommend, eval and serve work unchanged).
//! - Searches: `ORDER BY embedding <-> $1 LIMIT k` (`<=>` for cosine) with `hnsw.ef_search`
//!   per connection and `hnsw.iterative_scan = strict_order` (pgvector ≥ 0.8), so a filter
//!   in SQL (attributes `@>` a JSON object, an item left out) still returns k rows.
//! - Connections come from an r2d2 pool; each keeps its prepared statements.

mod error;
mod index;
mod index_location;
mod location;
mod pool;
mod schema;

pub use error::PgError;
pub use index::{LoadStats, PgIndex};
pub use index_location::{IndexLocation, IndexWatch};
pub use location::{PgLocation, is_postgres_url};
pub use schema::SCHEMA_VERSION;
