//! What the household can switch while the daemon runs, shared by the
//! phone's thread and the outlets that set it (the dashboard, MQTT, the
//! CLI): the rules in use, the shield, the door openers.

pub mod doors;
pub mod passes;
pub mod shield;

use std::sync::Arc;

use arc_swap::ArcSwapOption;

use crate::screen::rules::Rules;

/// The rules in use: swapped whole on a reload, read with one atomic load
/// per call; `None` until the first compile is done.
pub type RulesSnapshot = Arc<ArcSwapOption<Rules>>;
