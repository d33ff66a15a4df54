//! What the emulated Box's TR-064 side writes: its service description,
//! phonebooks, contacts and call list as XML.

use super::*;

/// Services of the emulated Box: type and control URL.
pub(super) const SERVICES: [(&str, &str); 4] = [
    (DEVICE_INFO, "/upnp/control/deviceinfo"),
    (minisip4fb::fritzbox::VOIP, "/upnp/control/x_voip"),
    (minisip4fb::fritzbox::ONTEL, "/upnp/control/x_contact"),
    (minisip4fb::fritzbox::AUTH, "/upnp/control/x_auth"),
];

pub(super) const DEVICE_INFO: &str = "urn:dslforum-org:service:DeviceInfo:1";

pub(super) fn desc() -> String {
    let services: String = SERVICES
        .iter()
        .map(|(t, url)| {
            format!(
                "<service><serviceType>{t}</serviceType><controlURL>{url}</controlURL><SCPDURL>/scpd.xml</SCPDURL></service>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?>\n<root xmlns=\"urn:dslforum-org:device-1-0\"><specVersion><major>1</major><minor>0</minor></specVersion>\
<device><deviceType>urn:dslforum-org:device:InternetGatewayDevice:1</deviceType>\
<friendlyName>FRITZ!Box 7590 (emulated)</friendlyName><manufacturer>AVM</manufacturer><modelName>FRITZ!Box 7590</modelName>\
<serviceList>{services}</serviceList></device></root>"
    )
}

pub(super) fn phonebook_xml(name: &str, contacts: &[Contact]) -> String {
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<phonebooks><phonebook name=\"{}\">",
        escape(name)
    );
    for c in contacts {
        x.push_str(&contact_xml(c));
    }
    x.push_str("</phonebook></phonebooks>");
    x
}

pub(super) fn contact_xml(c: &Contact) -> String {
    format!(
        "<contact><category>0</category><person><realName>{}</realName></person><telephony nid=\"1\"><number type=\"home\" prio=\"1\" id=\"0\">{}</number></telephony><uniqueid>{}</uniqueid></contact>",
        escape(&c.name),
        escape(&c.number),
        c.uid
    )
}

pub(super) fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

/// The call list file GetCallList points at (FRITZBOX.md), newest first.
pub(super) fn call_list_xml(calls: &[ListedCall], max: usize) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<root>");
    for (i, c) in calls.iter().rev().take(max).enumerate() {
        x.push_str(&format!(
            "<Call><Id>{}</Id><Type>{}</Type><Caller>{}</Caller><Called>{}</Called><Name>{}</Name><Device>minisip4fb</Device><Date>{}</Date><Duration>{}:{:02}</Duration></Call>",
            calls.len() - i,
            c.kind,
            escape(&c.caller),
            escape(&c.called),
            escape(&c.name),
            escape(&c.date),
            c.seconds / 60,
            c.seconds % 60
        ));
    }
    x.push_str("</root>");
    x
}

/// A query parameter of a GET target.
pub(super) fn query<'a>(target: &'a str, key: &str) -> Option<&'a str> {
    target
        .split_once('?')?
        .1
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}
