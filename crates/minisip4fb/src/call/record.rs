//! One call as recorded: what the call log stores, `calls --json` prints
//! and the outlets are told.

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::call::{Action, Caller, CallerClass, LogOnly, Time};
use crate::net::Outcome;

/// One call as recorded: typed from the decision to the outcome; text
/// only in SQLite and JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The row id; `None` before the record is written (events).
    pub id: Option<i64>,
    /// When the INVITE arrived.
    pub time: Time,
    /// Who called.
    pub caller: Caller,
    /// The Box named the caller from one of its phonebooks.
    pub contact: bool,
    pub called: Option<String>,
    pub class: CallerClass,
    /// What was done (`ring` when log-only).
    pub decision: Action,
    /// What the rules said.
    pub action: Action,
    /// Why a call the rules would keep out rang all the same.
    pub log_only: Option<LogOnly>,
    pub rule: Option<String>,
    pub reason: String,
    /// How the call ended; `None` while it runs.
    pub outcome: Option<Outcome>,
    /// INVITE → decision, ms.
    pub decision_ms: Option<f64>,
    /// INVITE → the end of a call we terminated (our BYE confirmed), ms.
    pub bye_ms: Option<f64>,
    /// The account (`[fritzbox]` or an `[[account]]`, by name) the call
    /// came to; `None` in rows written before accounts were recorded.
    pub account: Option<String>,
}

/// The JSON of a call, the same for the API, `calls --json`, the events,
/// hooks and MQTT: the record's fields, and what people are shown of it
/// (`shown`: the number as people read it), made here once.
impl Serialize for Record {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut o = s.serialize_struct("Record", 19)?;
        match self.id {
            Some(id) => o.serialize_field("id", &id)?,
            None => o.skip_field("id")?,
        }
        o.serialize_field("time", &self.time)?;
        self.caller.write_fields(&mut o)?;
        o.serialize_field("contact", &self.contact)?;
        o.serialize_field("called", &self.called)?;
        o.serialize_field("class", &self.class)?;
        o.serialize_field("decision", &self.decision)?;
        o.serialize_field("action", &self.action)?;
        o.serialize_field("log_only", &self.log_only.is_some())?;
        o.serialize_field("log_only_by", &self.log_only)?;
        o.serialize_field("rule", &self.rule)?;
        o.serialize_field("reason", &self.reason)?;
        o.serialize_field("outcome", &self.outcome)?;
        o.serialize_field("decision_ms", &self.decision_ms)?;
        o.serialize_field("bye_ms", &self.bye_ms)?;
        o.serialize_field("account", &self.account)?;
        o.end()
    }
}
