//! The FRITZ!Box's phonebook export (also its call-barring list), a list
//! format like text, CSV and vCard: read for the rules' `lists` and for
//! `minisip4fb barring`. Here, not in `fritzbox/`, because the screen
//! reads it and the screen depends on no client.

use crate::text::Lines;

/// A FRITZ!Box phonebook nests five elements deep; this is plenty.
const MAX_XML_DEPTH: usize = 32;

/// The FRITZ!Box phonebook export: `<contact><person><realName>…` and
/// `<telephony><number …>…</number>` (FRITZBOX.md, TR-064 section). Each
/// is a list entry (`screen::list::Entry`): (line, number, name) or
/// (line, what is wrong).
#[allow(clippy::type_complexity)]
pub fn entries(text: &str) -> Vec<Result<(usize, String, Option<String>), (usize, String)>> {
    use quick_xml::Reader;
    use quick_xml::events::Event;
    let mut reader = Reader::from_str(text);
    let mut out = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut text_buf = String::new();
    let mut name: Option<String> = None;
    let mut numbers: Vec<(usize, String)> = Vec::new();
    let mut lines = Lines::new(text);
    let mut line_of = |pos: u64| lines.at(pos as usize);
    loop {
        let pos = reader.buffer_position();
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                if path.len() >= MAX_XML_DEPTH {
                    out.push(Err((
                        line_of(pos),
                        format!("XML nested deeper than {MAX_XML_DEPTH} elements: not a FRITZ!Box phonebook"),
                    )));
                    break;
                }
                let tag = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if tag == "contact" {
                    name = None;
                    numbers.clear();
                }
                text_buf.clear();
                path.push(tag);
            }
            // Text arrives in pieces around entity references (`&amp;`).
            Ok(Event::Text(t)) => text_buf.push_str(&t.decode().unwrap_or_default()),
            Ok(Event::GeneralRef(r)) => match r.decode().unwrap_or_default().as_ref() {
                "amp" => text_buf.push('&'),
                "lt" => text_buf.push('<'),
                "gt" => text_buf.push('>'),
                "quot" => text_buf.push('"'),
                "apos" => text_buf.push('\''),
                _ => {
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        text_buf.push(c);
                    }
                }
            },
            Ok(Event::End(_)) => {
                let value = text_buf.trim().to_owned();
                text_buf.clear();
                match path.pop().as_deref() {
                    Some("realName") => name = Some(value),
                    Some("number") if !value.is_empty() => numbers.push((line_of(pos), value)),
                    Some("contact") => {
                        for (l, n) in numbers.drain(..) {
                            out.push(Ok((l, n, name.clone())));
                        }
                    }
                    _ => {}
                }
            }
            Ok(Event::Eof) => break,
            Err(e) => {
                out.push(Err((
                    line_of(reader.error_position()),
                    format!("XML error: {e}"),
                )));
                break;
            }
            _ => {}
        }
    }
    out
}
