//! SOAP 1.1 envelopes and responses as TR-064 uses them, and the Box's
//! fault codes mapped to messages a person can act on.

use std::fmt;

use quick_xml::Reader;
use quick_xml::events::Event;

use super::Service;

/// A SOAP fault with the UPnP error code (FRITZBOX.md lists the Box's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub code: u32,
    pub description: String,
}

impl Fault {
    /// What the code means and what to do about it.
    pub fn advice(&self) -> &'static str {
        match self.code {
            401 => "the FRITZ!Box does not know this action (update FRITZ!OS?)",
            402 => "invalid arguments",
            501 => "the action failed on the FRITZ!Box",
            600 => "the FRITZ!Box does not accept one of the values",
            606 => {
                "the FRITZ!Box user lacks the right 'Telefonie': enable it under System → FRITZ!Box-Benutzer"
            }
            713 => "no entry at that index",
            714 => "no such entry",
            801 => "a value is too short (user names need 4, passwords 8 characters)",
            802 => "a value is too long (at most 64 characters)",
            803 => {
                "a value has characters the FRITZ!Box does not allow (an IP phone's password: letters and digits only; its user name: letters, digits, - . _)"
            }
            820 => "internal error of the FRITZ!Box (e.g. an index beyond the last entry)",
            866 => {
                "a second factor is required: confirm on the FRITZ!Box (press a button on it, or dial the code it shows on a connected phone), then run the command again"
            }
            867 => "second factor: the FRITZ!Box blocks the confirmation for now; wait and retry",
            868 => "second factor: another confirmation is already running; finish or wait for it",
            _ => "unknown error code",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (error {}: {})",
            self.advice(),
            self.code,
            self.description
        )
    }
}

fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// A SOAP 1.1 request envelope (TR-064 §3.2).
pub fn envelope(service_type: &str, action: &str, args: &[(&str, &str)]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>",
    );
    s.push_str(&format!(
        "<u:{action} xmlns:u=\"{}\">",
        escape(service_type)
    ));
    for (k, v) in args {
        s.push_str(&format!("<{k}>{}</{k}>", escape(v)));
    }
    s.push_str(&format!("</u:{action}></s:Body></s:Envelope>"));
    s
}

/// Why a response carries no out-arguments.
#[derive(Debug)]
pub enum Parsed {
    Fault(Fault),
    Bad(String),
}

/// One element: its parent's local name, its own, and its text.
struct El {
    parent: String,
    name: String,
    text: String,
}

/// A SOAP answer nests five elements deep, a device description about
/// ten: anything deeper is not from a FRITZ!Box.
const MAX_DEPTH: usize = 32;
/// Elements read from one answer, at most (a Box's answers have dozens).
const MAX_ELEMENTS: usize = 20_000;

/// Elements in document order, each with only its parent's name: memory
/// and work linear in the answer's size, bounded in depth and count.
fn elements(xml: &str) -> Result<Vec<El>, String> {
    let mut reader = Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut out = Vec::new();
    let name_of =
        |n: quick_xml::name::LocalName<'_>| String::from_utf8_lossy(n.as_ref()).into_owned();
    loop {
        if out.len() > MAX_ELEMENTS {
            return Err(format!(
                "more than {MAX_ELEMENTS} elements: not a FRITZ!Box answer"
            ));
        }
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                if path.len() >= MAX_DEPTH {
                    return Err(format!(
                        "nested deeper than {MAX_DEPTH} elements: not a FRITZ!Box answer"
                    ));
                }
                path.push(name_of(e.local_name()));
                text.clear();
            }
            Ok(Event::Empty(e)) => out.push(El {
                parent: path.last().cloned().unwrap_or_default(),
                name: name_of(e.local_name()),
                text: String::new(),
            }),
            Ok(Event::Text(t)) => text.push_str(&t.decode().map_err(|e| e.to_string())?),
            Ok(Event::CData(t)) => text.push_str(&String::from_utf8_lossy(&t)),
            Ok(Event::GeneralRef(r)) => {
                let name = r.decode().map_err(|e| e.to_string())?;
                match name.as_ref() {
                    "amp" => text.push('&'),
                    "lt" => text.push('<'),
                    "gt" => text.push('>'),
                    "quot" => text.push('"'),
                    "apos" => text.push('\''),
                    _ => {
                        if let Ok(Some(c)) = r.resolve_char_ref() {
                            text.push(c);
                        }
                    }
                }
            }
            Ok(Event::End(_)) => {
                let name = path.pop().unwrap_or_default();
                out.push(El {
                    parent: path.last().cloned().unwrap_or_default(),
                    name,
                    text: std::mem::take(&mut text),
                });
            }
            Ok(Event::Eof) => return Ok(out),
            Err(e) => {
                return Err(format!(
                    "XML error at byte {}: {e}",
                    reader.error_position()
                ));
            }
            _ => {}
        }
    }
}

/// The out-arguments of `<u:ActionResponse>`, or the fault.
pub fn parse_response(xml: &str, action: &str) -> Result<Vec<(String, String)>, Parsed> {
    let els = elements(xml).map_err(Parsed::Bad)?;
    let code = els.iter().find(|e| e.name == "errorCode").map(|e| &e.text);
    if let Some(code) = code {
        let description = els
            .iter()
            .find(|e| e.name == "errorDescription")
            .map(|e| e.text.trim().to_owned())
            .unwrap_or_default();
        let code = code
            .trim()
            .parse()
            .map_err(|_| Parsed::Bad(format!("fault with error code {code:?}")))?;
        return Err(Parsed::Fault(Fault { code, description }));
    }
    let response = format!("{action}Response");
    if !els.iter().any(|e| e.name == response) {
        return Err(Parsed::Bad(format!("no {response} in the answer")));
    }
    Ok(els
        .into_iter()
        .filter(|e| e.parent == response)
        .map(|e| (e.name, e.text))
        .collect())
}

/// The in-arguments of a request envelope (the emulator's side).
pub fn parse_request(xml: &str, action: &str) -> Result<Vec<(String, String)>, String> {
    let els = elements(xml)?;
    if !els.iter().any(|e| e.name == action) {
        return Err(format!("no {action} element"));
    }
    Ok(els
        .into_iter()
        .filter(|e| e.parent == action)
        .map(|e| (e.name, e.text))
        .collect())
}

/// Services and their control URLs from `tr64desc.xml`.
pub fn services(desc: &str) -> Result<Vec<Service>, String> {
    let els = elements(desc)?;
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for e in els {
        match e.name.as_str() {
            "serviceType" => current = Some(e.text.trim().to_owned()),
            "controlURL" => {
                if let Some(st) = current.take() {
                    out.push(Service {
                        service_type: st,
                        control_url: e.text.trim().to_owned(),
                    });
                }
            }
            _ => {}
        }
    }
    if out.is_empty() {
        return Err("tr64desc.xml lists no services".into());
    }
    Ok(out)
}

/// A phonebook entry as `SetCallBarringEntry` takes it (FRITZBOX.md).
pub fn contact_xml(name: &str, number: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><contact><category>0</category><person><realName>{}</realName></person>\
         <telephony><number type=\"home\" prio=\"1\">{}</number></telephony></contact>",
        escape(name),
        escape(number)
    )
}

/// The text of the first `<tag>` in `xml`.
pub fn tag_text(xml: &str, tag: &str) -> Option<String> {
    elements(xml)
        .ok()?
        .into_iter()
        .find(|e| e.name == tag)
        .map(|e| e.text.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_or_huge_answers_are_refused_in_linear_time() {
        // 4,000 levels took 447 MB when every element copied its path.
        let deep = format!("{}{}", "<a>".repeat(4000), "</a>".repeat(4000));
        let e = parse_response(&deep, "X").unwrap_err();
        assert!(
            matches!(&e, Parsed::Bad(m) if m.contains("nested deeper")),
            "{e:?}"
        );
        let wide = format!("<r>{}</r>", "<b/>".repeat(50_000));
        let e = parse_response(&wide, "X").unwrap_err();
        assert!(
            matches!(&e, Parsed::Bad(m) if m.contains("more than")),
            "{e:?}"
        );
    }

    #[test]
    fn envelope_escapes_arguments() {
        let e = envelope(
            "urn:dslforum-org:service:X_AVM-DE_OnTel:1",
            "SetCallBarringEntry",
            &[("NewPhonebookEntryData", "<contact>&</contact>")],
        );
        assert!(
            e.contains(
                "<u:SetCallBarringEntry xmlns:u=\"urn:dslforum-org:service:X_AVM-DE_OnTel:1\">"
            ),
            "{e}"
        );
        assert!(e.contains("<NewPhonebookEntryData>&lt;contact&gt;&amp;&lt;/contact&gt;</NewPhonebookEntryData>"), "{e}");
    }

    #[test]
    fn response_and_fault() {
        let ok = r#"<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">
<s:Body><u:X_AVM-DE_GetClient3Response xmlns:u="urn:dslforum-org:service:X_VoIP:1">
<NewX_AVM-DE_ClientUsername>minisip4fb</NewX_AVM-DE_ClientUsername><NewX_AVM-DE_PhoneName>Spam &amp; Co</NewX_AVM-DE_PhoneName>
<NewX_AVM-DE_OutGoingNumber></NewX_AVM-DE_OutGoingNumber></u:X_AVM-DE_GetClient3Response></s:Body></s:Envelope>"#;
        let out = parse_response(ok, "X_AVM-DE_GetClient3").unwrap();
        assert_eq!(
            out[0],
            ("NewX_AVM-DE_ClientUsername".into(), "minisip4fb".into())
        );
        assert_eq!(out[1].1, "Spam & Co");
        assert_eq!(out[2].1, "");
        let fault = r#"<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring>
<detail><UPnPError xmlns="urn:dslforum-org:control-1-0"><errorCode>606</errorCode><errorDescription>Action not authorized</errorDescription></UPnPError></detail>
</s:Fault></s:Body></s:Envelope>"#;
        match parse_response(fault, "X_AVM-DE_SetClient4") {
            Err(Parsed::Fault(f)) => {
                assert_eq!(f.code, 606);
                assert!(
                    f.to_string()
                        .contains("enable it under System → FRITZ!Box-Benutzer"),
                    "{f}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse_response("<x>", "A"), Err(Parsed::Bad(_))));
        assert!(
            Fault {
                code: 866,
                description: String::new()
            }
            .advice()
            .contains("second factor")
        );
    }

    #[test]
    fn device_description() {
        let desc = r#"<root xmlns="urn:dslforum-org:device-1-0"><device><serviceList>
<service><serviceType>urn:dslforum-org:service:DeviceInfo:1</serviceType><serviceId>urn:DeviceInfo-com:serviceId:DeviceInfo1</serviceId>
<controlURL>/upnp/control/deviceinfo</controlURL><eventSubURL>/upnp/control/deviceinfo</eventSubURL><SCPDURL>/deviceinfoSCPD.xml</SCPDURL></service>
</serviceList><deviceList><device><serviceList><service><serviceType>urn:dslforum-org:service:X_VoIP:1</serviceType>
<controlURL>/upnp/control/x_voip</controlURL></service></serviceList></device></deviceList></device></root>"#;
        let s = services(desc).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[1],
            Service {
                service_type: "urn:dslforum-org:service:X_VoIP:1".into(),
                control_url: "/upnp/control/x_voip".into()
            }
        );
    }
}
