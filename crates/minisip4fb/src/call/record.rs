//! One call as recorded: what the call log stores, `calls --json` prints
//! and the outlets are told.

use serde::Serialize;

use crate::call::Action;
use crate::call::CallerClass;
use crate::net::Outcome;

/// One call as recorded: typed from the decision to the outcome; text
/// only in SQLite and JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// The row id; `None` before the record is written (events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// When the INVITE arrived, RFC 3339, UTC.
    pub time: String,
    /// The number as the Box sent it; `None` when withheld.
    pub caller: Option<String>,
    pub caller_e164: Option<String>,
    pub name: Option<String>,
    pub called: Option<String>,
    pub class: CallerClass,
    /// What was done (`ring` in log-only mode).
    pub decision: Action,
    /// What the rules said.
    pub action: Action,
    pub rule: Option<String>,
    pub reason: String,
    /// How the call ended; `None` while it runs.
    pub outcome: Option<Outcome>,
    /// INVITE → decision, ms.
    pub decision_ms: Option<f64>,
    /// INVITE → the end of a call we terminated (our BYE confirmed), ms.
    pub bye_ms: Option<f64>,
}
