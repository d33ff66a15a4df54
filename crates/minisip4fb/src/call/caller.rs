//! Who called: the number as the Box sent it, its E.164 form and a name,
//! kept together from the decision to every outlet.

use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::show::{self, Lang};

/// Who called, as the call log and the events keep it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Caller {
    /// The number as the Box sent it; `None` when withheld.
    pub number: Option<String>,
    /// Its international form, when it has one (`+49301234567`).
    pub e164: Option<String>,
    /// A name: a list's or phonebook entry's that matched, else the
    /// display name the Box sent.
    pub name: Option<String>,
}

impl Caller {
    /// Who called, as people are told ([`show::who`]).
    pub fn who(&self, lang: Lang) -> String {
        show::who(
            self.number.as_deref(),
            self.e164.as_deref(),
            self.name.as_deref(),
            lang,
        )
    }

    /// The number as people read it ([`show::number`]).
    pub fn shown(&self) -> Option<String> {
        show::number(self.number.as_deref(), self.e164.as_deref())
    }

    /// Its JSON fields, into the struct being written (a record's).
    pub(super) fn write_fields<S: SerializeStruct>(&self, o: &mut S) -> Result<(), S::Error> {
        o.serialize_field("caller", &self.number)?;
        o.serialize_field("caller_e164", &self.e164)?;
        o.serialize_field("shown", &self.shown())?;
        o.serialize_field("name", &self.name)
    }
}

/// The fields of every call's JSON (records and events alike): `caller`,
/// `caller_e164`, `shown` (as people read it) and `name`; flattened
/// into the record or event that holds it.
impl Serialize for Caller {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut o = s.serialize_struct("Caller", 4)?;
        self.write_fields(&mut o)?;
        o.end()
    }
}
