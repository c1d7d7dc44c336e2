pub mod catalog;
pub mod device;
pub mod embedding;
pub mod eval;
pub mod index;
pub mod recommend;
pub mod search;
pub mod train;
