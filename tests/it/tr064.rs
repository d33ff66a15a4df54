//! The TR-064 client against the emulated Box's TR-064 endpoint.

use minisip4fb::fritzbox::{Client, Error};
use minisip4fb_emulator::Emulator;
use minisip4fb_emulator::tr064::Tr064Config;

use crate::common;

async fn emulator(tr: Tr064Config) -> Emulator {
    common::emulated_box(&[], Some(tr), 5).await
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_phonebooks_and_call_barring() {
    let emu = emulator(Tr064Config::default()).await;
    let url = emu.tr064_url().unwrap().to_owned();
    let (phones, internal, books) = blocking(move || {
        let mut c = Client::connect(&url, "admin", "fritz-admin-pw", None).unwrap();
        let before = c.ip_phones().unwrap();
        let internal = c
            .set_ip_phone(0, "minisip4fb", "Ab3dEfGhIjK9", "minisip4fb", "")
            .unwrap();
        let after = c.ip_phones().unwrap();
        assert!(c.bar("09005551234", "spam").unwrap());
        assert!(
            !c.bar("09005551234", "spam").unwrap(),
            "looked up first: no duplicate"
        );
        assert!(c.barring_list().unwrap().contains("09005551234"));
        assert!(c.unbar("09005551234").unwrap());
        assert!(!c.unbar("09005551234").unwrap());
        (before.len(), (internal, after), c.phonebooks().unwrap())
    })
    .await;
    assert_eq!(phones, 0);
    assert_eq!(internal.0, "**620");
    assert_eq!(internal.1[0].username, "minisip4fb");
    assert!(emu.barred_numbers().is_empty());
    assert_eq!(books.len(), 1);
    assert_eq!(books[0].1, "Telefonbuch");
    assert!(books[0].2.contains("<realName>Oma</realName>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_say_what_to_do() {
    let emu = emulator(Tr064Config {
        telefonie_right: false,
        ..Tr064Config::default()
    })
    .await;
    let url = emu.tr064_url().unwrap().to_owned();
    let (wrong, no_right, unreachable) = blocking(move || {
        let wrong = Client::connect(&url, "admin", "nope", None)
            .unwrap()
            .ip_phones()
            .unwrap_err();
        let no_right = Client::connect(&url, "admin", "fritz-admin-pw", None)
            .unwrap()
            .ip_phones()
            .unwrap_err();
        let unreachable = Client::connect("http://127.0.0.1:9", "admin", "x", None)
            .err()
            .unwrap();
        (wrong, no_right, unreachable)
    })
    .await;
    assert!(matches!(wrong, Error::Auth { .. }), "{wrong}");
    assert_eq!(
        wrong.to_string(),
        "the FRITZ!Box rejected user \"admin\" for TR-064: wrong user name or password"
    );
    assert!(
        no_right
            .to_string()
            .contains("lacks the right 'Telefonie': enable it under System → FRITZ!Box-Benutzer"),
        "{no_right}"
    );
    assert!(
        matches!(unreachable, Error::Unreachable { .. }),
        "{unreachable}"
    );

    let emu = emulator(Tr064Config::default()).await;
    let url = emu.tr064_url().unwrap().to_owned();
    let (bad_chars, gap) = blocking(move || {
        let mut c = Client::connect(&url, "admin", "fritz-admin-pw", None).unwrap();
        (
            // A sign the Box refuses in an IP phone's password over TR-064.
            c.set_ip_phone(0, "minisip4fb", "Good-Password_1", "x", "")
                .unwrap_err(),
            c.set_ip_phone(5, "minisip4fb", "GoodPassword1", "x", "")
                .unwrap_err(),
        )
    })
    .await;
    assert!(bad_chars.to_string().contains("error 803"), "{bad_chars}");
    assert!(
        bad_chars
            .to_string()
            .contains("an IP phone's password: letters and digits only"),
        "{bad_chars}"
    );
    assert!(gap.to_string().contains("error 820"), "{gap}");
}

/// A hostile answer on the Box's address claims 4294967295 IP phones:
/// refused at once instead of asking for each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_count_from_the_box_is_refused() {
    let emu = emulator(Tr064Config {
        claimed_clients: Some("4294967295".into()),
        ..Tr064Config::default()
    })
    .await;
    let url = emu.tr064_url().unwrap().to_owned();
    let e = blocking(move || {
        let mut c = Client::connect(&url, "admin", "fritz-admin-pw", None).unwrap();
        c.ip_phones().unwrap_err()
    })
    .await;
    assert!(e.to_string().contains("claims 4294967295 IP phones"), "{e}");
}

/// The registrar's accounts are the Box's IP phones; the client sees the
/// same list, numbers are given as the Box does, and an index in use or an
/// eleventh phone is refused (820).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_phones_are_the_registrars_accounts() {
    let emu = common::emulated_box(&[("620", "geheim123")], Some(Tr064Config::default()), 5).await;
    let url = emu.tr064_url().unwrap().to_owned();
    let (first, ours, in_use, after_delete, eleventh) = blocking(move || {
        let mut c = Client::connect(&url, "admin", "fritz-admin-pw", None).unwrap();
        let first = c.ip_phones().unwrap();
        let ours = c
            .set_ip_phone(1, "minisip4fb", "Ab3dEfGhIjK9", "minisip4fb", "")
            .unwrap();
        let in_use = c
            .set_ip_phone(0, "somebody", "Ab3dEfGhIjK9", "x", "")
            .unwrap_err();
        c.delete_ip_phone(0).unwrap();
        let after_delete = c.ip_phones().unwrap();
        for i in 1..10 {
            c.set_ip_phone(i, &format!("phone{i}"), "Ab3dEfGhIjK9", "x", "")
                .unwrap();
        }
        let eleventh = c
            .set_ip_phone(10, "phone10", "Ab3dEfGhIjK9", "x", "")
            .unwrap_err();
        (first, ours, in_use, after_delete, eleventh)
    })
    .await;
    assert_eq!(first.len(), 1);
    assert_eq!(
        (
            first[0].username.as_str(),
            first[0].internal_number.as_str()
        ),
        ("620", "**620")
    );
    assert_eq!(ours, "**621");
    assert!(in_use.to_string().contains("error 820"), "{in_use}");
    assert_eq!(after_delete.len(), 1);
    assert_eq!(after_delete[0].username, "minisip4fb");
    assert_eq!(after_delete[0].internal_number, "**621", "kept its number");
    assert!(eleventh.to_string().contains("error 820"), "{eleventh}");
    let phones = emu.ip_phones();
    assert_eq!(phones.len(), 10);
    assert!(phones.iter().all(|p| p.username != "620"), "deleted");
}

/// Phonebook entries added and removed over TR-064 show in the Box's
/// phonebook at once; calls the Box saw are in its call list by type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_and_the_call_list() {
    use minisip4fb_emulator::{CallOutcome, CallSpec, Caller};
    let emu = emulator(Tr064Config::default()).await;
    let url = emu.tr064_url().unwrap().to_owned();
    let u = url.clone();
    let (uid, export, again) = blocking(move || {
        let mut c = Client::connect(&u, "admin", "fritz-admin-pw", None).unwrap();
        let uid = c.add_contact("0", "Tante Erna", "0301112222").unwrap();
        let export = c.phonebooks().unwrap();
        c.delete_contact("0", &uid).unwrap();
        let again = c.delete_contact("0", &uid).unwrap_err();
        assert!(c.bar("09005551234", "spam").unwrap());
        (uid, export, again)
    })
    .await;
    assert!(!uid.is_empty());
    assert!(export[0].2.contains("<realName>Tante Erna</realName>"));
    assert!(again.to_string().contains("error 714"), "{again}");
    assert!(
        emu.phonebooks()[0].1.iter().all(|c| c.name != "Tante Erna"),
        "deleted"
    );
    let call = |n: &str| CallSpec::new(Caller::National(n.into()));
    assert_eq!(
        emu.call(call("0309999999")).await.outcome,
        CallOutcome::NoBinding
    );
    assert_eq!(
        emu.call(call("0900 5551234")).await.outcome,
        CallOutcome::BarredByBox,
        "a barred number never rings"
    );
    let list = blocking(move || {
        let mut c = Client::connect(&url, "admin", "fritz-admin-pw", None).unwrap();
        c.call_list(10).unwrap()
    })
    .await;
    let barred = list.find("<Type>10</Type><Caller>0900 5551234</Caller>");
    let missed = list.find("<Type>2</Type><Caller>0309999999</Caller>");
    assert!(
        barred.is_some() && missed.is_some() && barred < missed,
        "newest first: {list}"
    );
}

/// A raw POST to the emulated Box: (status, WWW-Authenticate, body).
fn post(url: &str, path: &str, soapaction: &str, auth: Option<&str>) -> (u16, String, String) {
    use std::io::{Read, Write};
    let host = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let (service, action) = soapaction.split_once('#').unwrap();
    let body = format!(
        "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><u:{action} xmlns:u=\"{service}\"/></s:Body></s:Envelope>"
    );
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nSOAPACTION: \"{soapaction}\"\r\nContent-Type: text/xml\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let www = resp
        .lines()
        .find_map(|l| l.strip_prefix("WWW-Authenticate: "))
        .unwrap_or_default()
        .to_owned();
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, www, body)
}

/// The Box's HTTP digest: realm `HTTPS Access`, the uri and realm of the
/// answer checked, a nonce count that must grow, the control URL that
/// names the service. Each slip is a violation the tests fail on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_and_routing_are_checked() {
    use minisip4fb::sip::digest::{Challenge, authorization};
    let emu = emulator(Tr064Config::default()).await;
    let url = emu.tr064_url().unwrap().to_owned();
    let voip = "urn:dslforum-org:service:X_VoIP:1#X_AVM-DE_GetNumberOfClients";
    let path = "/upnp/control/x_voip";
    let u = url.clone();
    let (www, ok, replay, wrong_path) = blocking(move || {
        let (status, www, _) = post(&u, path, voip, None);
        assert_eq!(status, 401);
        let ch = Challenge::parse(&www).unwrap();
        let auth = |nc, uri: &str| {
            authorization(&ch, "admin", "fritz-admin-pw", "POST", uri, nc, "0a4f113b")
        };
        let ok = post(&u, path, voip, Some(&auth(1, path)));
        let replay = post(&u, path, voip, Some(&auth(1, path)));
        // Right digest, but the action belongs to another control URL.
        let onwrong = "urn:dslforum-org:service:X_AVM-DE_OnTel:1#GetPhonebookList";
        let wrong_path = post(&u, path, onwrong, Some(&auth(2, path)));
        // An answer for another uri than the one POSTed.
        let _ = post(&u, path, voip, Some(&auth(3, "/upnp/control/x_contact")));
        (www, ok, replay, wrong_path)
    })
    .await;
    assert!(www.starts_with("Digest realm=\"HTTPS Access\""), "{www}");
    assert_eq!(ok.0, 200, "{}", ok.2);
    assert!(ok.2.contains("<NewX_AVM-DE_NumberOfClients>0<"), "{}", ok.2);
    assert_eq!(replay.0, 401, "a reused nonce count is challenged again");
    assert_eq!(wrong_path.0, 500);
    assert!(
        wrong_path.2.contains("<errorCode>401</errorCode>"),
        "{}",
        wrong_path.2
    );
    let v = emu.violations().await.join("\n");
    for expect in [
        "nonce count Some(1) not above the last one",
        "GetPhonebookList posted to /upnp/control/x_voip, the control URL of",
        "digest uri Some(\"/upnp/control/x_contact\") is not the POSTed control URL",
    ] {
        assert!(v.contains(expect), "{expect:?} in:\n{v}");
    }
    // The client itself breaks none of these rules.
    let emu = emulator(Tr064Config::default()).await;
    let url = emu.tr064_url().unwrap().to_owned();
    blocking(move || {
        let mut c = Client::connect(&url, "admin", "fritz-admin-pw", None).unwrap();
        for _ in 0..3 {
            c.ip_phones().unwrap();
        }
    })
    .await;
    assert_eq!(emu.violations().await, Vec::<String>::new());
}

/// Failed logins: ten lock the Box (503) for its lockout, which ends; a
/// Box that answers a failed login with HTTP 200 and a fault 401 is read
/// as a wrong password too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_lock_for_a_while_and_a_fault_200_is_a_wrong_password() {
    // Long enough that a slow machine never sees it end by itself; the
    // test ends it when the Box's time would be up.
    let emu = std::sync::Arc::new(
        emulator(Tr064Config {
            lockout: std::time::Duration::from_secs(600),
            ..Tr064Config::default()
        })
        .await,
    );
    let url = emu.tr064_url().unwrap().to_owned();
    let box_ = emu.clone();
    let (wrong, locked, after) = blocking(move || {
        // Each attempt is two failed logins (the client tries a fresh nonce once).
        let mut wrong = Vec::new();
        for _ in 0..5 {
            wrong.push(
                Client::connect(&url, "admin", "nope", None)
                    .unwrap()
                    .ip_phones()
                    .unwrap_err(),
            );
        }
        let locked = Client::connect(&url, "admin", "fritz-admin-pw", None)
            .unwrap()
            .ip_phones()
            .unwrap_err();
        // The Box's time is up.
        box_.end_tr064_lockout();
        let after = Client::connect(&url, "admin", "fritz-admin-pw", None)
            .unwrap()
            .ip_phones();
        (wrong, locked, after)
    })
    .await;
    assert!(
        wrong.iter().all(|e| matches!(e, Error::Auth { .. })),
        "{wrong:?}"
    );
    assert!(matches!(locked, Error::Locked), "{locked}");
    assert!(after.is_ok(), "{after:?}");

    let emu = emulator(Tr064Config {
        auth_failure_as_fault: true,
        ..Tr064Config::default()
    })
    .await;
    let url = emu.tr064_url().unwrap().to_owned();
    let (wrong, right) = blocking(move || {
        let wrong = Client::connect(&url, "admin", "nope", None)
            .unwrap()
            .ip_phones()
            .unwrap_err();
        let right = Client::connect(&url, "admin", "fritz-admin-pw", None)
            .unwrap()
            .ip_phones();
        (wrong, right)
    })
    .await;
    assert!(matches!(wrong, Error::Auth { .. }), "{wrong}");
    assert!(right.is_ok(), "{right:?}");
}
