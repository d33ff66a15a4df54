//! Agent simulations (the quinn-proto way): a harness with a fake clock
//! and a scripted Box (harness.rs), and the tests by behaviour.

mod calls;
mod dialogs;
mod harness;
mod hostile;
mod register;
