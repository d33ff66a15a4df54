//! The web side against the daemon and the emulated Box, over real HTTP
//! on loopback: the JSON API, Prometheus metrics, the password rule and
//! the login (issue 14, first part).

use std::time::Duration;

use minisip4fb_emulator::{CallOutcome, CallSpec, Caller};

use crate::common;

pub(crate) fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into()
}

pub(crate) fn get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = client().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.call().expect("the web server answers");
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap_or_default())
}

/// A JSON POST (no Origin, as a script sends it): the status and body.
pub(crate) fn post(url: &str, path: &str, body: &str) -> (u16, String) {
    let mut resp = client()
        .post(&format!("{url}{path}"))
        .header("Content-Type", "application/json")
        .send(body.as_bytes())
        .unwrap();
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap_or_default(),
    )
}

pub(crate) fn config(dir: &std::path::Path, web: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("password"), "geheim123\n").unwrap();
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[fritzbox]\nuser = \"620\"\npassword_file = \"password\"\n[calllog]\ndb = \"calls.db\"\n{web}\
             [[rule]]\nname = \"premium\"\nnumbers = [\"0900*\"]\naction = \"terminate\"\n"
        ),
    )
    .unwrap();
    path
}

/// `run` with `args` against the emulated Box (the web password only
/// from the config), and the base URL its web side logged.
pub(crate) async fn daemon(
    cfg: &std::path::Path,
    emu: &minisip4fb_emulator::Emulator,
    args: &[&str],
) -> (common::Proc, String) {
    let d = common::Proc::spawn_logged(
        common::against_box(args, cfg, emu.addr()).env_remove("MINISIP4FB_WEB_PASSWORD"),
    );
    let url = base(&d).await;
    (d, url)
}

/// The base URL the daemon logged.
pub(crate) async fn base(d: &common::Proc) -> String {
    assert!(
        d.wait_for("web: http://", Duration::from_secs(20)).await,
        "{}",
        d.log()
    );
    let log = d.log();
    let at = log.split("web: http://").nth(1).unwrap();
    let addr: std::net::SocketAddr = at.split_whitespace().next().unwrap().parse().unwrap();
    format!("http://127.0.0.1:{}", addr.port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_calls_and_metrics_on_loopback() {
    let dir = common::fresh_dir("web", "open");
    let cfg = config(&dir, "");
    let emu = common::usual_box(21).await;
    let (mut d, url) = daemon(&cfg, &emu, &["run", "--web", "127.0.0.1:0"]).await;
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    let mut status = serde_json::Value::Null;
    for _ in 0..100 {
        let (code, body) = tokio::task::block_in_place(|| get(&format!("{url}/api/status"), &[]));
        assert_eq!(code, 200, "{body}");
        status = serde_json::from_str(&body).unwrap();
        if status["registered"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status["registered"], true, "{status}");
    assert_eq!(status["registration"], "registered");
    assert_eq!(status["user"], "620");
    assert_eq!(status["rules"], 1);
    assert!(status["since"].is_string(), "{status}");

    let call =
        CallSpec::new(Caller::National("09005551234".into())).cancel_after(Duration::from_secs(5));
    assert_eq!(emu.call(call).await.outcome, CallOutcome::TerminatedByPhone);
    let mut metrics = String::new();
    for _ in 0..100 {
        let (code, body) = tokio::task::block_in_place(|| get(&format!("{url}/metrics"), &[]));
        assert_eq!(code, 200);
        metrics = body;
        if metrics.contains("outcome=\"terminated\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for line in [
        "minisip4fb_calls_total{decision=\"terminate\",outcome=\"terminated\",account=\"620\"} 1",
        "minisip4fb_registered{account=\"620\"} 1",
        "minisip4fb_registration_failures_total{account=\"620\"} 0",
        "minisip4fb_decision_seconds_count 1",
        "minisip4fb_invite_to_bye_seconds_count 1",
        "minisip4fb_rules 1",
        "# EOF",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    let (code, body) =
        tokio::task::block_in_place(|| get(&format!("{url}/api/calls?limit=10"), &[]));
    assert_eq!(code, 200, "{body}");
    let calls: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(calls.as_array().map(Vec::len), Some(1), "{calls}");
    assert_eq!(calls[0]["decision"], "terminate");
    assert!(
        calls[0]["reason"]
            .as_str()
            .unwrap()
            .contains("+499005551234 matches +49900*"),
        "{calls}"
    );
    let (code, body) =
        tokio::task::block_in_place(|| get(&format!("{url}/api/calls?since=yesterday"), &[]));
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("RFC 3339"), "{body}");
    let (code, body) = tokio::task::block_in_place(|| get(&format!("{url}/api/stats"), &[]));
    assert_eq!(code, 200, "{body}");
    let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (&stats["days"][0]["calls"], &stats["days"][0]["blocked"]),
        (&serde_json::json!(1), &serde_json::json!(1)),
        "{stats}"
    );
    assert_eq!(stats["rules"][0]["rule"], "1 \"premium\"", "{stats}");
    assert_eq!(
        stats["top_blocked"][0]["number"], "+499005551234",
        "{stats}"
    );
    let (code, page) = tokio::task::block_in_place(|| get(&format!("{url}/"), &[]));
    assert_eq!(code, 200);
    assert!(page.contains("registered"), "{page}");
    assert_eq!(d.terminate().map(|s| s.code()), Some(Some(0)));
}

/// A listen address other than loopback without a password: the daemon
/// refuses to start and says what to set.
#[test]
fn a_lan_listen_without_a_password_is_refused() {
    let dir = common::fresh_dir("web", "refused");
    let cfg = config(&dir, "[web]\nlisten = \"0.0.0.0:0\"\n");
    let out = std::process::Command::new(common::BIN)
        .args(["run", "--config"])
        .arg(&cfg)
        .args(["--fritzbox", "127.0.0.1:9", "--bind", "127.0.0.1:0"])
        .env_remove("MINISIP4FB_WEB_PASSWORD")
        .env_remove("MINISIP4FB_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "[web] listen 0.0.0.0:0 is reachable from the network: set [web] password_file"
        ),
        "{err}"
    );
}

/// With a password every page and API wants the login; a wrong password
/// is refused, the right one gives an HttpOnly, SameSite=Strict cookie.
/// Listening on every address, /metrics takes the password as a Bearer
/// token too. (Only loopback is ever connected to.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_means_a_login() {
    let dir = common::fresh_dir("web", "login");
    std::fs::write(dir.join("web-password"), "dashboard-secret\n").unwrap();
    let cfg = config(
        &dir,
        "[web]\nlisten = \"0.0.0.0:0\"\npassword_file = \"web-password\"\n",
    );
    let emu = common::usual_box(22).await;
    let (d, url) = daemon(&cfg, &emu, &["run"]).await;
    let (code, body) = tokio::task::block_in_place(|| get(&format!("{url}/api/status"), &[]));
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("log in first"), "{body}");
    let (code, _) = tokio::task::block_in_place(|| get(&format!("{url}/"), &[]));
    assert_eq!(code, 303, "a page sends to the login");
    let (code, _) = tokio::task::block_in_place(|| get(&format!("{url}/metrics"), &[]));
    assert_eq!(code, 401);
    let (code, body) = tokio::task::block_in_place(|| {
        get(
            &format!("{url}/metrics"),
            &[("Authorization", "Bearer dashboard-secret")],
        )
    });
    assert_eq!(code, 200, "{body}");

    let login = |password: &str, origin: Option<&str>| {
        let mut req = client().post(&format!("{url}/login"));
        if let Some(o) = origin {
            req = req.header("Origin", o);
        }
        let resp = req.send_form([("password", password)]).unwrap();
        let cookie = resp
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (resp.status().as_u16(), cookie)
    };
    let (code, cookie) = tokio::task::block_in_place(|| login("wrong-password", None));
    assert_eq!((code, cookie), (401, None));
    let (code, _) =
        tokio::task::block_in_place(|| login("dashboard-secret", Some("https://evil.example")));
    assert_eq!(code, 403, "a login posted from another site");
    let (code, cookie) = tokio::task::block_in_place(|| login("dashboard-secret", None));
    assert_eq!(code, 303);
    let cookie = cookie.expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    let (code, body) =
        tokio::task::block_in_place(|| get(&format!("{url}/api/status"), &[("Cookie", &session)]));
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"user\":\"620\""), "{body}");
    // Failed logins are limited: five are forgiven, the sixth locks out.
    for _ in 0..6 {
        tokio::task::block_in_place(|| login("wrong-again", None));
    }
    let (code, _) = tokio::task::block_in_place(|| login("dashboard-secret", None));
    assert_eq!(code, 429, "even the right password waits");
    assert!(
        !d.log().contains("dashboard-secret"),
        "the password is never logged"
    );
}

/// A call shows up on `/events` as it happens; "block this number"
/// appends it to `[web] block_list`, the reload picks it up, and the
/// next call from it is terminated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_and_block_this_number() {
    use std::io::BufRead;
    let dir = common::fresh_dir("web", "block");
    std::fs::write(dir.join("block.txt"), "# numbers blocked by hand\n").unwrap();
    let cfg = config(
        &dir,
        "[web]\nblock_list = \"block.txt\"\n[[rule]]\nname = \"blocked here\"\nlists = [\"block.txt\"]\naction = \"terminate\"\n",
    );
    let emu = common::usual_box(23).await;
    let (d, url) = daemon(&cfg, &emu, &["run", "--web", "127.0.0.1:0"]).await;
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    assert!(
        d.wait_for("2 rule(s)", Duration::from_secs(20)).await,
        "{}",
        d.log()
    );
    // The event stream, read on a thread of its own until the daemon ends.
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    {
        let (lines, url) = (lines.clone(), url.clone());
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
            let Ok(resp) = agent.get(&format!("{url}/events")).call() else {
                return;
            };
            let reader = std::io::BufReader::new(resp.into_body().into_reader());
            for line in reader.lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let call = || {
        CallSpec::new(Caller::National("0305551234".into()))
            .cancel_after(Duration::from_millis(400))
    };
    assert_eq!(
        emu.call(call()).await.outcome,
        CallOutcome::RangUntilCancelled
    );
    let mut seen = false;
    for _ in 0..100 {
        let l = lines.lock().unwrap().clone();
        if l.iter().any(|x| x == "event: call")
            && l.iter().any(|x| x.contains("\"caller\":\"0305551234\""))
        {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen, "the call on /events: {:?}", lines.lock().unwrap());

    let post = |body: &str, kind: &str, origin: Option<&str>| {
        let mut req = client()
            .post(&format!("{url}/api/block"))
            .header("Content-Type", kind);
        if let Some(o) = origin {
            req = req.header("Origin", o);
        }
        let mut resp = req.send(body.as_bytes()).unwrap();
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap_or_default(),
        )
    };
    let (code, _) = tokio::task::block_in_place(|| {
        post(
            "number=0305551234",
            "application/x-www-form-urlencoded",
            None,
        )
    });
    assert_eq!(code, 415, "a form cannot block");
    let (code, _) = tokio::task::block_in_place(|| {
        post(
            r#"{"number":"0305551234"}"#,
            "application/json",
            Some("http://evil.example"),
        )
    });
    assert_eq!(code, 403, "another site cannot block");
    let (code, body) = tokio::task::block_in_place(|| {
        post(r#"{"number":"call me <maybe>"}"#, "application/json", None)
    });
    assert_eq!(code, 400, "{body}");
    let (code, body) = tokio::task::block_in_place(|| {
        post(r#"{"number":"030 5551234"}"#, "application/json", None)
    });
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"number\":\"+49305551234\""), "{body}");
    let list = std::fs::read_to_string(dir.join("block.txt")).unwrap();
    assert!(
        list.contains("+49305551234  # blocked from the web, "),
        "{list}"
    );
    assert!(
        d.wait_for("reloaded the rules", Duration::from_secs(10))
            .await,
        "{}",
        d.log()
    );
    assert_eq!(
        emu.call(call()).await.outcome,
        CallOutcome::TerminatedByPhone
    );
    assert!(
        d.wait_for("+49305551234 in block.txt", Duration::from_secs(10))
            .await,
        "{}",
        d.log()
    );
}

/// An address that is taken: one line, exit 2, before registering.
#[test]
fn a_taken_address_stops_the_daemon_at_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = common::fresh_dir("web", "taken");
    let cfg = config(&dir, "");
    let out = std::process::Command::new(common::BIN)
        .args(["run", "--web", &addr, "--config"])
        .arg(&cfg)
        .args(["--fritzbox", "127.0.0.1:9", "--bind", "127.0.0.1:0"])
        .env_remove("MINISIP4FB_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("[web] cannot listen on {addr}")),
        "{err}"
    );
}

/// The dashboard's pages and the API they use, without a browser: German
/// by `Accept-Language`, English by `?lang=` (kept in a cookie), the CSP,
/// what a rule's name carries escaped, the rules with their counts, the
/// call filters, and actions the config does not allow refused with what
/// to set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboards_pages_and_api() {
    let dir = common::fresh_dir("web", "pages");
    let cfg = config(
        &dir,
        "[[rule]]\nname = \"<b>late</b> & \\\"loud\\\"\"\nnumbers = [\"0221*\"]\nhours = \"22:00-07:00\"\naction = \"decline\"\n",
    );
    let emu = common::usual_box(24).await;
    let (mut d, url) = daemon(&cfg, &emu, &["run", "--web", "127.0.0.1:0"]).await;
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    let call =
        CallSpec::new(Caller::National("09005551234".into())).cancel_after(Duration::from_secs(5));
    assert_eq!(emu.call(call).await.outcome, CallOutcome::TerminatedByPhone);
    // The book-keeper writes the record off the call's path: the pages
    // below read the call log, so wait until it is there.
    for _ in 0..200 {
        let (_, calls) = tokio::task::block_in_place(|| get(&format!("{url}/api/calls"), &[]));
        if calls.contains("09005551234") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let get_full = |path: &str, headers: &[(&str, &str)]| {
        let mut req = client().get(&format!("{url}{path}"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut resp = req.call().expect("the web server answers");
        let h = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let (csp, cookie) = (h("content-security-policy"), h("set-cookie"));
        let status = resp.status().as_u16();
        (
            status,
            resp.body_mut().read_to_string().unwrap_or_default(),
            csp,
            cookie,
        )
    };
    let page = |path: &str, headers: &[(&str, &str)]| {
        tokio::task::block_in_place(|| get_full(path, headers))
    };

    let (code, html, csp, _) = page("/calls", &[("Accept-Language", "de-DE,de;q=0.9,en;q=0.5")]);
    assert_eq!(code, 200);
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(!html.contains("<script>"), "no inline script");
    for want in [
        "<html lang=\"de\"",
        ">Anrufe<",
        "Nur blockierte",
        "src=\"/app.js\"",
    ] {
        assert!(html.contains(want), "{want} in {html}");
    }
    let (code, html, _, cookie) = page("/rules?lang=en", &[("Accept-Language", "de")]);
    assert_eq!(code, 200);
    assert!(html.contains("<html lang=\"en\""), "{html}");
    assert!(cookie.starts_with("minisip4fb_lang=en;"), "{cookie}");
    assert!(
        html.contains("&lt;b&gt;late&lt;/b&gt; &amp; &quot;loud&quot;"),
        "the rule's name escaped: {html}"
    );
    assert!(!html.contains("<b>late"), "{html}");
    assert!(html.contains("numbers: 0900*"), "{html}");
    assert!(html.contains("hours: 22:00-07:00"), "{html}");
    let (_, html, _, _) = page(
        "/rules",
        &[("Cookie", "minisip4fb_lang=en"), ("Accept-Language", "de")],
    );
    assert!(
        html.contains(">Criteria<"),
        "the cookie keeps English: {html}"
    );
    let (code, html, _, _) = page("/stats", &[]);
    assert_eq!(code, 200);
    assert!(html.contains("<svg class=\"chart\""), "{html}");
    assert!(html.contains("+499005551234"), "{html}");
    for (asset, kind) in [
        ("/app.js", "javascript"),
        ("/app.css", "text/css"),
        ("/icon.svg", "image/svg+xml"),
    ] {
        let resp =
            tokio::task::block_in_place(|| client().get(&format!("{url}{asset}")).call().unwrap());
        assert_eq!(resp.status().as_u16(), 200, "{asset}");
        let ct = resp
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(ct.contains(kind), "{asset}: {ct}");
    }
    let (code, _, _, _) = page("/nothing-here", &[]);
    assert_eq!(code, 404);

    let (code, body) = tokio::task::block_in_place(|| get(&format!("{url}/api/rules"), &[]));
    assert_eq!(code, 200, "{body}");
    let rules: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(rules["rules"][0]["action"], "decline", "{rules}");
    assert_eq!(rules["rules"][0]["matched"], 0, "{rules}");
    assert_eq!(rules["rules"][1]["rule"], "2 \"premium\"", "{rules}");
    assert_eq!(rules["rules"][1]["matched"], 1, "{rules}");
    assert_eq!(
        rules["rules"][1]["criteria"][0], "numbers: 0900*",
        "{rules}"
    );
    assert_eq!(rules["default"], "ring", "{rules}");

    let calls = |query: &str| {
        let (code, body) =
            tokio::task::block_in_place(|| get(&format!("{url}/api/calls?{query}"), &[]));
        assert_eq!(code, 200, "{query}: {body}");
        serde_json::from_str::<serde_json::Value>(&body)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(calls("rule=2%20%22premium%22"), 1);
    assert_eq!(calls("rule=1%20%22premium%22"), 0);
    assert_eq!(calls("until=2000-01-01T00:00:00Z"), 0);
    assert_eq!(
        calls("since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z"),
        1
    );
    let (code, body) =
        tokio::task::block_in_place(|| get(&format!("{url}/api/calls?until=tomorrow"), &[]));
    assert_eq!(code, 400);
    assert!(
        body.contains("until: \\\"tomorrow\\\" is not an RFC 3339 time"),
        "{body}"
    );

    // What the config does not allow, refused with what to set.
    let post = |path: &str, body: &str| tokio::task::block_in_place(|| post(&url, path, body));
    let (code, body) = post(
        "/api/report",
        r#"{"number":"09005551234","rating":"G_FRAUD"}"#,
    );
    assert_eq!(code, 409);
    assert!(body.contains("set [phoneblock] token_file"), "{body}");
    let (code, body) = tokio::task::block_in_place(|| get(&format!("{url}/api/phonebooks"), &[]));
    assert_eq!(code, 409);
    assert!(
        body.contains("set [fritzbox] tr064 and admin_user"),
        "{body}"
    );
    let (code, body) = post(
        "/api/phonebook",
        r#"{"number":"0301234567","name":"Oma","book":"0"}"#,
    );
    assert_eq!(code, 409, "{body}");
    let (code, body) = post("/api/block", r#"{"number":"09005551234","bar":true}"#);
    assert_eq!(code, 409);
    assert!(body.contains("no [web] block_list"), "{body}");
    let (code, _) = post(
        "/api/allow",
        &format!("{{\"number\":\"{}\"}}", "1".repeat(5000)),
    );
    assert_eq!(code, 413, "a body over 4 KiB");

    // The shield off: the next blocked number rings, recorded log-only;
    // the state is kept beside the config.
    let (code, body) = post("/api/shield", r#"{"on":false}"#);
    assert_eq!((code, body.as_str()), (200, r#"{"on":false}"#));
    let (_, status) = tokio::task::block_in_place(|| get(&format!("{url}/api/status"), &[]));
    assert!(status.contains("\"shield\":false"), "{status}");
    assert_eq!(
        std::fs::read_to_string(dir.join("minisip4fb.shield")).unwrap(),
        "off\n"
    );
    let call = CallSpec::new(Caller::National("09005550000".into()))
        .cancel_after(Duration::from_millis(500));
    assert_eq!(
        emu.call(call).await.outcome,
        CallOutcome::RangUntilCancelled
    );
    let (code, _) = post("/api/shield", r#"{"on":true}"#);
    assert_eq!(code, 200);
    let (_, body) = tokio::task::block_in_place(|| {
        get(&format!("{url}/api/calls?rule=2%20%22premium%22"), &[])
    });
    let calls: serde_json::Value = serde_json::from_str(&body).unwrap();
    let last = &calls[calls.as_array().unwrap().len() - 1];
    assert_eq!(
        (&last["caller"], &last["decision"], &last["action"]),
        (&"09005550000".into(), &"ring".into(), &"terminate".into()),
        "{calls}"
    );
    assert_eq!(d.terminate().map(|s| s.code()), Some(Some(0)));
}
