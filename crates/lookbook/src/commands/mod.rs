pub mod catalog;
pub mod device;
pub mod embedding;
pub mod eval;
pub mod index;
pub mod search;
pub mod train;
