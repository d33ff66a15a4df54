pub mod list;
pub mod number;
pub mod rules;
