//! A hostile server on the Box's TR-064 address (issue 12, "what held"):
//! whatever it answers, the client gives up with a clear error, bounded
//! in time and memory, and never follows it off to a file.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use minisip4fb::fritzbox::{Client, Error};
use minisip4fb_emulator::tr064::Tr064Config;

use crate::common;

/// Serves every connection with `answer` (given the request's first line)
/// on a thread of its own, for the test's length; returns the base URL.
fn hostile(answer: impl Fn(&mut std::net::TcpStream, &str) + Send + Sync + 'static) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for s in l.incoming().take(64) {
            let Ok(mut s) = s else { continue };
            let answer = answer.clone();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut req = [0u8; 4096];
                let n = s.read(&mut req).unwrap_or(0);
                let text = String::from_utf8_lossy(&req[..n]).into_owned();
                answer(&mut s, text.lines().next().unwrap_or(""));
            });
        }
    });
    url
}

/// Connects to `url` and returns the error and how long it took.
fn refused(url: &str) -> (Error, Duration) {
    let t = Instant::now();
    let e = Client::connect(url, "admin", "pw", None)
        .err()
        .expect("a hostile server must not give a client");
    (e, t.elapsed())
}

fn respond(s: &mut std::net::TcpStream, head: &str, body: &[u8]) {
    let _ = s.write_all(
        format!(
            "HTTP/1.1 {head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    let _ = s.write_all(body);
}

#[test]
fn billion_laughs_are_not_expanded() {
    let mut xml =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE root [\n<!ENTITY lol \"lol\">\n");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".into()
        } else {
            format!("lol{}", i - 1)
        };
        xml.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    xml.push_str("]>\n<root><device><serviceList><service><serviceType>&lol9;</serviceType><controlURL>/x</controlURL></service></serviceList></device></root>");
    let url = hostile(move |s, _| respond(s, "200 OK", xml.as_bytes()));
    let t = Instant::now();
    // Entities are not expanded: the reference stays a few bytes, or the
    // document is refused; either way in a moment.
    match Client::connect(&url, "admin", "pw", None) {
        Ok(c) => {
            let types: usize = c.services().iter().map(|s| s.service_type.len()).sum();
            assert!(types < 100, "{} bytes of service types", types);
        }
        Err(e) => assert!(matches!(e, Error::BadResponse(_)), "{e}"),
    }
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn a_body_of_hundreds_of_megabytes_is_cut_off() {
    let url = hostile(|s, _| {
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 209715200\r\nConnection: close\r\n\r\n<root>",
        );
        let chunk = vec![b'x'; 1 << 16];
        // 200 MB promised; the client must stop reading long before.
        for _ in 0..3200 {
            if s.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let (e, took) = refused(&url);
    assert!(matches!(e, Error::Unreachable { .. }), "{e}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn a_gzip_bomb_is_never_inflated() {
    // 10 MB of zeros would inflate from a few KB; the client asks for no
    // encoding and reads the bytes as they are: not XML.
    let bomb: Vec<u8> = [0x1f, 0x8b, 0x08, 0x00]
        .iter()
        .copied()
        .chain(std::iter::repeat_n(0u8, 4096))
        .collect();
    let url = hostile(move |s, _| {
        let _ = s.write_all(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                bomb.len()
            )
            .as_bytes(),
        );
        let _ = s.write_all(&bomb);
    });
    let (e, took) = refused(&url);
    assert!(
        matches!(e, Error::BadResponse(_) | Error::Unreachable { .. }),
        "{e}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn a_redirect_loop_ends() {
    let url = hostile(|s, _| {
        let _ = s.write_all(
            b"HTTP/1.1 302 Found\r\nLocation: /tr64desc.xml\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    });
    let (e, took) = refused(&url);
    assert!(
        matches!(e, Error::Unreachable { .. } | Error::BadResponse(_)),
        "{e}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn http_500_is_an_error_that_names_it() {
    let url = hostile(|s, _| respond(s, "500 Internal Server Error", b"oops"));
    let (e, _) = refused(&url);
    assert!(e.to_string().contains("HTTP 500"), "{e}");
}

#[test]
fn a_slowloris_server_is_given_up_on() {
    // One byte of the status line every 300 ms: the request's overall
    // deadline (10 s) ends it, not the server.
    let url = hostile(|s, _| {
        for b in b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
            .iter()
            .cycle()
            .take(200)
        {
            if s.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let (e, took) = refused(&url);
    assert!(matches!(e, Error::Unreachable { .. }), "{e}");
    assert!(took < Duration::from_secs(15), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phonebook_url_to_a_local_file_is_not_followed() {
    let emu = common::emulated_box(
        &[],
        Some(Tr064Config {
            files_url: Some("file:///etc".into()),
            ..Tr064Config::default()
        }),
        5,
    )
    .await;
    let url = emu.tr064_url().unwrap().to_owned();
    let e = tokio::task::spawn_blocking(move || {
        let mut c = Client::connect(&url, "admin", "fritz-admin-pw", None).unwrap();
        c.phonebooks().unwrap_err()
    })
    .await
    .unwrap();
    let text = e.to_string();
    assert!(
        text.contains("file:///etc"),
        "the error names the URL: {text}"
    );
    assert!(!text.contains("root:"), "{text}");
}
