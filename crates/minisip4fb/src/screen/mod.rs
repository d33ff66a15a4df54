//! Call screening: number normalisation (E.164), rule lists, rules and
//! the decision. Nothing here does network I/O; deciding never blocks.

pub mod doors;
pub mod list;
pub mod number;
pub mod passes;
pub mod phonebook_xml;
pub mod rules;
