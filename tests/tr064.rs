//! The TR-064 client against the emulated Box's TR-064 endpoint.

use minisip4fb::emulator::Emulator;
use minisip4fb::emulator::tr064::Tr064Config;
use minisip4fb::fritzbox::{Client, Error};

mod common;

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
