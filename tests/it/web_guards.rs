//! Issue 28 against the web side, over real HTTP from several loopback
//! addresses: one limiter for every password check, per client; the Host
//! check (DNS rebinding); idle connections; the door openers' status.

use std::time::Duration;

use minisip4fb_emulator::{CallOutcome, CallSpec, Caller};

use crate::common;
use crate::web::{base, config, daemon, get};

/// One request over a fresh connection from `from` (a loopback address
/// of the test's choosing): the status and the whole answer.
async fn raw(from: &str, port: u16, request: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = connect_from(from, port).await;
    s.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut answer))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

async fn connect_from(from: &str, port: u16) -> tokio::net::TcpStream {
    let s = tokio::net::TcpSocket::new_v4().unwrap();
    s.bind(format!("{from}:0").parse().unwrap()).unwrap();
    s.connect(format!("127.0.0.1:{port}").parse().unwrap())
        .await
        .unwrap()
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

/// Issue 28, 2 and 3: every check of the web password (the Bearer token
/// of `/metrics` and the login form) counts against one limiter per
/// client. A guesser at 127.0.0.2 is locked out after a few tries, for
/// the Bearer and the form alike, even with the right password, while
/// the owner at 127.0.0.3 logs in at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_the_password_is_limited_per_client() {
    let dir = common::fresh_dir("web", "guessing");
    std::fs::write(dir.join("web-password"), "dashboard-secret\n").unwrap();
    let cfg = config(
        &dir,
        "[web]\nlisten = \"0.0.0.0:0\"\npassword_file = \"web-password\"\n",
    );
    let emu = common::usual_box(27).await;
    let (mut d, url) = daemon(&cfg, &emu, &["run"]).await;
    let port = port_of(&url);
    let metrics = |password: &str| {
        format!(
            "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {password}\r\nConnection: close\r\n\r\n"
        )
    };
    let login = |password: &str| {
        let body = format!("password={password}");
        format!(
            "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let mut codes = Vec::new();
    for i in 0..200 {
        codes.push(
            raw("127.0.0.2", port, &metrics(&format!("guess{i}")))
                .await
                .0,
        );
    }
    let refused = codes.iter().filter(|c| **c == 401).count();
    assert!(refused <= 6, "at most a few guesses are checked: {codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 429).count(), 200 - refused);
    let (code, text) = raw("127.0.0.2", port, &metrics("dashboard-secret")).await;
    assert_eq!(
        code, 429,
        "the right password from the guesser waits too: {text}"
    );
    assert!(text.to_ascii_lowercase().contains("retry-after:"), "{text}");
    let (code, _) = raw("127.0.0.2", port, &login("dashboard-secret")).await;
    assert_eq!(code, 429, "the form counts against the same limiter");
    // The owner elsewhere is not locked out.
    let (code, text) = raw("127.0.0.3", port, &login("dashboard-secret")).await;
    assert_eq!(code, 303, "{text}");
    assert!(text.contains("minisip4fb_session="), "{text}");
    let (code, _) = raw("127.0.0.3", port, &metrics("dashboard-secret")).await;
    assert_eq!(code, 200);
    assert!(
        d.log().contains("wrong password from 127.0.0.2"),
        "{}",
        d.log()
    );
    assert!(!d.log().contains("dashboard-secret"), "never logged");
    assert_eq!(d.terminate().map(|s| s.code()), Some(Some(0)));
}

/// Issue 28, 5: DNS rebinding. A page of `rebind.attacker.example` whose
/// name now points to the dashboard sends `Host:` and `Origin:` with that
/// name: pages, API, events and metrics are refused (421), the shield
/// stays on and nothing is allowed. The listen address, loopback names
/// and `[web] hosts` work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebound_name_is_refused() {
    let dir = common::fresh_dir("web", "rebind");
    std::fs::write(dir.join("allow.txt"), "").unwrap();
    let cfg = config(
        &dir,
        "[web]\nlisten = \"127.0.0.1:0\"\nallow_list = \"allow.txt\"\nhosts = [\"pi.fritz.box\"]\n\
         [[rule]]\nname = \"allowed\"\nlists = [\"allow.txt\"]\naction = \"ring\"\n",
    );
    let emu = common::usual_box(28).await;
    let (mut d, url) = daemon(&cfg, &emu, &["run"]).await;
    let port = port_of(&url);
    let evil = "rebind.attacker.example";
    let req = |method: &str, path: &str, host: &str, body: &str| {
        format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nOrigin: http://{host}:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    for (method, path, body) in [
        ("GET", "/", ""),
        ("GET", "/api/calls", ""),
        ("GET", "/api/status", ""),
        ("GET", "/events", ""),
        ("GET", "/metrics", ""),
        ("POST", "/api/shield", r#"{"on":false}"#),
        ("POST", "/api/allow", r#"{"number":"09005551234"}"#),
    ] {
        let (code, text) = raw("127.0.0.1", port, &req(method, path, evil, body)).await;
        assert_eq!(code, 421, "{method} {path}: {text}");
    }
    let (code, text) = raw("127.0.0.1", port, &req("GET", "/api/status", evil, "")).await;
    assert_eq!(code, 421, "{text}");
    for host in ["127.0.0.1", "localhost", "PI.fritz.box"] {
        let (code, text) = raw("127.0.0.1", port, &req("GET", "/api/status", host, "")).await;
        assert_eq!(code, 200, "{host}: {text}");
        assert!(text.contains("\"shield\":true"), "{text}");
    }
    assert_eq!(std::fs::read_to_string(dir.join("allow.txt")).unwrap(), "");
    assert_eq!(d.terminate().map(|s| s.code()), Some(Some(0)));
}

/// Issue 28, 4: connections that send nothing. With 256 file descriptors
/// (the web gets 32 connections of them), 300 idle connections neither
/// take the household's dashboard nor a call's audio: the quietest are
/// closed as new ones come, a request still gets its answer, a spam call
/// is still terminated, and an idle connection is closed after the
/// header timeout (10 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_do_not_starve_the_phone() {
    use std::os::unix::process::CommandExt;
    use tokio::io::AsyncReadExt;
    let dir = common::fresh_dir("web", "idle");
    let cfg = config(&dir, "[web]\nlisten = \"127.0.0.1:0\"\n");
    let emu = common::usual_box(29).await;
    let mut cmd = common::against_box(&["run"], &cfg, emu.addr());
    cmd.env_remove("MINISIP4FB_WEB_PASSWORD");
    // SAFETY: setrlimit only, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 256,
                rlim_max: 256,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let mut d = common::Proc::spawn_logged(&mut cmd);
    let url = base(&d).await;
    let port = port_of(&url);
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    let opened = std::time::Instant::now();
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(connect_from("127.0.0.4", port).await);
    }
    let (code, text) = raw(
        "127.0.0.1",
        port,
        "GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(code, 200, "{text}");
    let call =
        CallSpec::new(Caller::National("09005551234".into())).cancel_after(Duration::from_secs(5));
    assert_eq!(emu.call(call).await.outcome, CallOutcome::TerminatedByPhone);
    // The first ones were closed to make room.
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(1), idle[0].read(&mut buf))
        .await
        .expect("closed, not waiting");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    // The last one is closed by the header timeout.
    let last = idle.last_mut().unwrap();
    let n = tokio::time::timeout(Duration::from_secs(20), last.read(&mut buf))
        .await
        .expect("closed within 20 s");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    let waited = opened.elapsed();
    assert!(waited >= Duration::from_secs(9), "{waited:?}");
    assert!(!d.log().contains("Too many open files"), "{}", d.log());
    assert_eq!(d.terminate().map(|s| s.code()), Some(Some(0)));
}

/// Issue 28, 1: a door opener closed to everyone by the daily ceiling of
/// wrong PINs shows on the status (API and page), and the owner opens it
/// again from the dashboard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_door_opener_is_shown_and_opened_again() {
    use minisip4fb::controls::doors::{Doors, FILE, Locked};
    let dir = common::fresh_dir("web", "doors");
    let doors = Doors::load(Some(dir.join(FILE)));
    let mut last = Locked::No;
    for i in 0..10 {
        last = doors.failed("door", &format!("+4917000000{i}"));
    }
    assert_eq!(last, Locked::Everyone);
    let cfg = config(&dir, "[web]\nlisten = \"127.0.0.1:0\"\n");
    let emu = common::usual_box(30).await;
    let (mut d, url) = daemon(&cfg, &emu, &["run"]).await;
    let port = port_of(&url);
    let status = || async {
        let (code, text) = raw(
            "127.0.0.1",
            port,
            "GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(code, 200, "{text}");
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
        serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default()
    };
    let s = status().await;
    assert_eq!(s["doors"][0]["rule"], "door", "{s}");
    assert_eq!(s["doors"][0]["closed"], true, "{s}");
    let (code, page) = tokio::task::block_in_place(|| get(&format!("{url}/"), &[]));
    assert_eq!(code, 200);
    assert!(
        page.contains("class=\"door-open\" data-rule=\"door\""),
        "{page}"
    );
    let body = r#"{"rule":"door"}"#;
    let (code, text) = raw(
        "127.0.0.1",
        port,
        &format!(
            "POST /api/doors/open HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert_eq!(code, 200, "{text}");
    assert!(text.contains(r#""opened":["door"]"#), "{text}");
    assert_eq!(status().await["doors"], serde_json::json!([]));
    assert_eq!(d.terminate().map(|s| s.code()), Some(Some(0)));
}
