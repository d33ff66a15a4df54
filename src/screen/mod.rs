pub mod list;
pub mod number;
