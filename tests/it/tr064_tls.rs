//! TR-064 over HTTPS: the Box's self-signed certificate is trusted on first
//! use (and that is said), pinned, and any other certificate is refused.
//! A small TLS front (rustls, test certificates in `tests/tls/`) stands in
//! for the Box's port 49443 before the emulator's TR-064 endpoint.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use minisip4fb::config::Fingerprint;
use minisip4fb::fritzbox::{Client, Error};
use minisip4fb_emulator::Emulator;
use minisip4fb_emulator::tr064::Tr064Config;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::common;

/// From `openssl x509 -in tests/tls/box-?.crt -noout -fingerprint -sha256`.
const BOX_A: &str = "A8:7C:4B:E7:B1:37:3E:0F:52:A6:80:67:C9:A3:87:98:9C:28:E2:5B:7A:28:A2:97:A8:74:53:36:2A:99:AD:AF";
const BOX_B: &str = "D5:75:88:C9:CF:6D:55:17:CB:08:54:20:7B:22:BA:8D:9B:9A:5C:B1:E8:5A:DC:DB:CE:BF:5C:57:03:F0:5B:62";

/// Serves TLS with certificate `name` on `listener` and passes each
/// request to `upstream` (one request per connection, as the emulator).
/// The thread ends with the test process.
fn tls_front(listener: TcpListener, name: &str, upstream: String) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls");
    let cert = CertificateDer::from_pem_file(dir.join(format!("{name}.crt"))).unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join(format!("{name}.key"))).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap(),
    );
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let (Ok(tcp), config, upstream) = (conn, config.clone(), upstream.clone()) else {
                continue;
            };
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let _ = relay(&mut tls, &upstream);
            });
        }
    });
}

fn relay(tls: &mut impl ReadWrite, upstream: &str) -> std::io::Result<()> {
    let mut req = Vec::new();
    let mut chunk = [0; 4096];
    let head = loop {
        let n = tls.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        req.extend_from_slice(&chunk[..n]);
        if let Some(p) = req.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let text = String::from_utf8_lossy(&req[..head]).to_ascii_lowercase();
    let length: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    while req.len() < head + length {
        let n = tls.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        req.extend_from_slice(&chunk[..n]);
    }
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(&req)?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp)?;
    tls.write_all(&resp)?;
    tls.flush()
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// The emulated Box behind TLS fronts with certificates A and B.
async fn boxes() -> (Emulator, String, String) {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    let url_a = format!("https://{}", a.local_addr().unwrap());
    let url_b = format!("https://{}", b.local_addr().unwrap());
    let tr = Tr064Config {
        files_url: Some(url_a.clone()),
        ..Tr064Config::default()
    };
    let emu = common::emulated_box(&[], Some(tr), 7).await;
    let upstream = emu.tr064_url().unwrap().trim_start_matches("http://");
    tls_front(a, "box-a", upstream.to_owned());
    tls_front(b, "box-b", upstream.to_owned());
    (emu, url_a, url_b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_use_pins_and_a_changed_certificate_is_refused() {
    let (_emu, url_a, url_b) = boxes().await;
    let pin_a: Fingerprint = BOX_A.parse().unwrap();
    let pin_b: Fingerprint = BOX_B.parse().unwrap();
    tokio::task::spawn_blocking(move || {
        // First use: trusted, and the certificate is reported to be pinned.
        let c = Client::connect(&url_a, "admin", "fritz-admin-pw", None).unwrap();
        assert_eq!(c.first_use(), Some(pin_a));

        // Pinned: works end to end, files included (fetched over HTTPS too).
        let mut c = Client::connect(&url_a, "admin", "fritz-admin-pw", Some(pin_a)).unwrap();
        assert_eq!(c.first_use(), None);
        let books = c.phonebooks().unwrap();
        assert!(books[0].2.contains("<realName>Oma</realName>"));
        assert!(c.bar("09005551234", "spam").unwrap());

        // Another certificate (RSA this time) on first use is fine too...
        let c = Client::connect(&url_b, "admin", "fritz-admin-pw", None).unwrap();
        assert_eq!(c.first_use(), Some(pin_b));
        // ...but not when A is pinned.
        let err = Client::connect(&url_b, "admin", "fritz-admin-pw", Some(pin_a))
            .err()
            .expect("a different certificate must be refused");
        match &err {
            Error::CertificateChanged { pinned, seen, .. } => {
                assert_eq!((*pinned, *seen), (pin_a, pin_b));
            }
            other => panic!("expected CertificateChanged, got {other}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains(BOX_B) && msg.contains("tr064_fingerprint"),
            "{msg}"
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_says_it_trusts_the_first_certificate_and_pins_it_in_the_config() {
    let (emu, url_a, url_b) = boxes().await;
    let dir = common::fresh_dir("tls", "cli");
    let config = dir.join("minisip4fb.toml");
    std::fs::write(
        &config,
        "# my comment\n[fritzbox]\nadmin_user = \"admin\"\n",
    )
    .unwrap();
    let c = config.clone();
    let barring = move |url: &str, number: &str| {
        let out = Command::new(common::BIN)
            .args(["barring", "--box", url, "--config"])
            .arg(&c)
            .args(["add", number])
            .env("MINISIP4FB_ADMIN_PASSWORD", "fritz-admin-pw")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), err)
    };
    let read = config.clone();
    let ((code1, err1), text, (code2, err2), (code3, err3)) =
        tokio::task::spawn_blocking(move || {
            let first = barring(&url_a, "09001111111");
            let text = std::fs::read_to_string(&read).unwrap();
            let second = barring(&url_a, "09002222222");
            let other = barring(&url_b, "09003333333");
            (first, text, second, other)
        })
        .await
        .unwrap();
    assert_eq!(code1, Some(0), "{err1}");
    assert!(
        err1.contains("trusting the certificate") && err1.contains(BOX_A),
        "{err1}"
    );
    assert!(text.contains("# my comment"), "comments kept: {text}");
    assert!(
        text.contains(&format!("tr064_fingerprint = \"SHA256:{BOX_A}\"")),
        "{text}"
    );
    assert_eq!(code2, Some(0), "{err2}");
    assert!(!err2.contains("trusting"), "pinned now: {err2}");
    assert_eq!(code3, Some(1), "other certificate refused");
    assert!(err3.contains("other than the pinned one"), "{err3}");
    assert_eq!(emu.barred_numbers(), ["09001111111", "09002222222"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The daemon's side (`check` shares its TR-064 link): pins on first use in
/// its config file, and refuses another certificate with the same advice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_pins_on_first_use_and_refuses_another_certificate() {
    let (emu, url_a, url_b) = boxes().await;
    let dir = common::fresh_dir("tls", "daemon");
    let config = dir.join("minisip4fb.toml");
    let write = |url: &str| {
        let text = format!(
            "[fritzbox]\nhost = \"{}\"\nuser = \"620\"\npassword = \"x\"\nbind = \"127.0.0.1:0\"\ntr064 = \"{url}\"\nadmin_user = \"admin\"\n",
            emu.addr()
        );
        std::fs::write(&config, text).unwrap();
    };
    let check = || async {
        let out = tokio::process::Command::new(common::BIN)
            .args(["check", "--config"])
            .arg(&config)
            .env("MINISIP4FB_ADMIN_PASSWORD", "fritz-admin-pw")
            .output()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code(), text)
    };
    write(&url_a);
    let (_, first) = check().await;
    assert!(
        first.contains("TR-064 at https://") && first.contains(": ok"),
        "{first}"
    );
    assert!(
        first.contains("trusting the certificate"),
        "said so: {first}"
    );
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains(&format!("tr064_fingerprint = \"SHA256:{BOX_A}\"")),
        "{text}"
    );

    // The Box now shows another certificate: refused, exit 1, advice given.
    let pinned = text.replace(&url_a, &url_b);
    std::fs::write(&config, pinned).unwrap();
    let (code, other) = check().await;
    assert_eq!(code, Some(1), "{other}");
    assert!(other.contains("other than the pinned one"), "{other}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// PhoneBlock's client trusts public CAs only (webpki roots): a
/// self-signed certificate on its address is refused, never pinned.
#[test]
fn the_phoneblock_client_refuses_a_self_signed_certificate() {
    use minisip4fb::phoneblock::api::{Api, ApiError};
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}/phoneblock/api", l.local_addr().unwrap());
    tls_front(l, "box-a", "127.0.0.1:9".into());
    let api = Api::new(&url, "t", "env", std::time::Duration::from_secs(5));
    match api.test() {
        Err(ApiError::Unreachable { reason, .. }) => {
            assert!(reason.to_lowercase().contains("certificate"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}
