//! RFC 4475 torture messages: each file parses or is rejected as the
//! verdict table in tests/rfc4475/README.md says, and nothing panics.

use minisip4fb::sip::{self, Message};

const ACCEPT: &[&str] = &[
    "wsinv",
    "intmeth",
    "esc01",
    "escnull",
    "esc02",
    "lwsdisp",
    "longreq",
    "dblreq",
    "semiuri",
    "transports",
    "mpart01",
    "unreason",
    "noreason",
    "badbranch",
    "insuf",
    "unkscm",
    "novelsc",
    "unksm2",
    "bext01",
    "invut",
    "regaut01",
    "multi01",
    "mcl01",
    "bcast",
    "zeromf",
    "cparam01",
    "cparam02",
    "regescrt",
    "sdp01",
    "inv2543",
];
const REJECT: &[&str] = &[
    "badinv01",
    "clerr",
    "ncl",
    "scalar02",
    "scalarlg",
    "quotbal",
    "ltgtruri",
    "lwsruri",
    "lwsstart",
    "trws",
    "escruri",
    "baddate",
    "regbadct",
    "badaspec",
    "baddn",
    "badvers",
    "mismatch01",
    "mismatch02",
    "bigcode",
];

fn load(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/rfc4475/{name}.dat", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_file_has_a_verdict() {
    let dir = format!("{}/tests/rfc4475", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .into_string()
                .ok()?
                .strip_suffix(".dat")
                .map(str::to_owned)
        })
        .collect();
    files.sort();
    let mut listed: Vec<String> = ACCEPT.iter().chain(REJECT).map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed);
    assert_eq!(files.len(), 49);
}

#[test]
fn valid_messages_parse_and_round_trip() {
    for name in ACCEPT {
        let msg = sip::parse(&load(name)).unwrap_or_else(|e| panic!("{name}: rejected: {e}"));
        let again = sip::parse(&msg.to_bytes())
            .unwrap_or_else(|e| panic!("{name}: rewritten form rejected: {e}"));
        assert_eq!(msg, again, "{name}: round trip changed the message");
    }
}

#[test]
fn invalid_messages_are_rejected() {
    for name in REJECT {
        if let Ok(m) = sip::parse(&load(name)) {
            panic!("{name}: accepted: {m:?}");
        }
    }
}

#[test]
fn baddn_is_rejected_for_its_display_name_too() {
    let mut data = load("baddn");
    data.extend_from_slice(b"\r\n");
    assert!(matches!(sip::parse(&data), Err(sip::ParseError::Header(_))));
}

#[test]
fn details_of_accepted_messages() {
    let Message::Request(r) = sip::parse(&load("wsinv")).unwrap() else {
        panic!()
    };
    assert_eq!(r.headers.cseq().unwrap().seq, 9);
    let vias = r.headers.vias().unwrap();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[1].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(
        r.headers.from().unwrap().display_name().as_deref(),
        Some("J Rosenberg \\\"")
    );
    assert_eq!(r.headers.to().unwrap().tag(), Some("1918181833n"));
    assert_eq!(r.body.len(), 150);
    let contact = &r.headers.name_addrs("Contact").unwrap()[0];
    assert_eq!(contact.param("newparam"), Some(Some("newvalue")));

    let Message::Request(r) = sip::parse(&load("dblreq")).unwrap() else {
        panic!()
    };
    assert!(r.body.is_empty());
    let Message::Request(r) = sip::parse(&load("inv2543")).unwrap() else {
        panic!()
    };
    assert_eq!(
        r.body.len(),
        105,
        "no Content-Length: the body is the rest of the datagram"
    );
    let Message::Request(r) = sip::parse(&load("esc02")).unwrap() else {
        panic!()
    };
    assert_eq!(r.method.as_str(), "RE%47IST%45R");
    assert_eq!(
        r.headers.name_addrs("Contact").unwrap().len(),
        2,
        "C%6Fntact is not Contact"
    );
    let Message::Response(r) = sip::parse(&load("noreason")).unwrap() else {
        panic!()
    };
    assert_eq!((r.status.0, r.reason.as_str()), (100, ""));
    let Message::Request(r) = sip::parse(&load("mpart01")).unwrap() else {
        panic!()
    };
    assert_eq!(r.body.len(), 553);
}
