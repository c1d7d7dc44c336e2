pub mod catalog;
pub mod train;
