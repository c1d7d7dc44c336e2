pub mod catalog;
pub mod device;
pub mod train;
