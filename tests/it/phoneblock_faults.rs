//! Issue 28 against PhoneBlock's side: a hung download does not hold
//! SIGTERM, a service that reset its versions heals the copy, a damaged
//! database heals itself, and no field of an answer is held whole.

use std::process::Command;

use crate::common::{self, BIN};
use crate::phoneblock::{call, config, daemon_config, pb, run, stand_in};

/// Issue 28, 14: SIGTERM while PhoneBlock's download hangs (a server that
/// takes the connection and never answers): the daemon ends within
/// seconds, not when the download gives up (2 min) or systemd kills it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_does_not_wait_for_a_hung_download() {
    use std::time::{Duration, Instant};
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api", silent.local_addr().unwrap());
    let (held_tx, held) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Keeps each connection open and silent until the test ends.
        let mut open = Vec::new();
        while let Ok((s, _)) = silent.accept() {
            open.push(s);
            let _ = held_tx.send(());
        }
    });
    let dir = common::fresh_dir("phoneblock", "hung-download");
    daemon_config(&dir, &url);
    let emu = common::usual_box(15).await;
    let mut d = run(&dir, &emu);
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    tokio::task::spawn_blocking(move || held.recv_timeout(Duration::from_secs(20)))
        .await
        .unwrap()
        .expect("the daemon asks PhoneBlock");
    let t = Instant::now();
    d.signal("TERM");
    let status = d.exited_within(Duration::from_secs(15));
    assert_eq!(status.map(|s| s.code()), Some(Some(0)), "{}", d.log());
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

/// Issue 28, 12: PhoneBlock's versions go backwards (the service was
/// reset). Within the month of the last full download the copy is kept
/// and the error says when it heals; once that is due, one full download
/// replaces the copy, and incremental syncs follow from the new version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_service_heals_the_copy_with_one_full_download() {
    use minisip4fb::phoneblock::{api::Api, store::Store, sync::sync_now};
    let api = stand_in().await;
    let dir = common::fresh_dir("phoneblock", "reset");
    tokio::task::block_in_place(|| {
        let client = Api::new(
            &api.url(),
            "good",
            "test",
            std::time::Duration::from_secs(5),
        );
        let mut store = Store::open(&dir.join("phoneblock.db")).unwrap();
        let (day, t0) = (86_400, 1_800_000_000);
        let (copy, synced) = sync_now(&client, &mut store, None, t0).unwrap();
        assert!(synced.full);
        assert_eq!((copy.version, copy.len()), (7, 4));
        api.reset_version(3);
        let v = api.set_votes("+4930555", 30, "G_FRAUD");
        assert_eq!(v, 4);
        let e = sync_now(&client, &mut store, None, t0 + day)
            .unwrap_err()
            .to_string();
        assert!(e.contains("went backwards (7 → 4)"), "{e}");
        assert!(e.contains("once a month (in 29 d"), "{e}");
        assert_eq!(store.meta().unwrap().unwrap().version, 7, "copy kept");
        let (copy, synced) = sync_now(&client, &mut store, None, t0 + 30 * day).unwrap();
        assert!(synced.full, "{synced:?}");
        assert_eq!((copy.version, copy.len()), (4, 5));
        let v = api.set_votes("+4930556", 30, "G_FRAUD");
        let (copy, synced) = sync_now(&client, &mut store, None, t0 + 31 * day).unwrap();
        assert!(!synced.full);
        assert_eq!((copy.version, copy.len()), (v, 6));
    });
    assert_eq!(api.full_downloads(), 1, "one after the reset");
    assert!(api.violations().is_empty(), "{:?}", api.violations());
}

/// Issue 28, 9: a damaged `phoneblock.db` (an SD card that lost sectors)
/// is moved aside and started anew, with one warning; the daemon fetches
/// the personal lists again and keeps deciding from the community copy:
/// a listed number and one on the blacklist are terminated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_database_heals_itself() {
    use minisip4fb_emulator::CallOutcome;
    use std::time::Duration;
    let api = stand_in().await;
    let dir = common::fresh_dir("phoneblock", "damaged");
    daemon_config(&dir, &api.url());
    let (code, out) = pb(&dir, &["sync"]);
    assert_eq!(code, Some(0), "{out}");
    let db = dir.join("phoneblock.db");
    assert!(db.exists(), "the copy is phoneblock.db");
    for f in ["phoneblock.db-wal", "phoneblock.db-shm"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    std::fs::write(&db, vec![0xa5; 16384]).unwrap();
    let emu = common::usual_box(16).await;
    let mut d = run(&dir, &emu);
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    assert!(
        d.wait_for("moved aside to", Duration::from_secs(20)).await,
        "{}",
        d.log()
    );
    assert!(
        d.wait_for(
            "(your lists on PhoneBlock changed)",
            Duration::from_secs(20)
        )
        .await,
        "the personal lists fetched again, the rules compiled with them: {}",
        d.log()
    );
    for n in ["030111", "030666"] {
        assert_eq!(
            emu.call(call(n, 2000)).await.outcome,
            CallOutcome::TerminatedByPhone,
            "{n}: {}",
            d.log()
        );
    }
    assert_eq!(d.terminate().map(|s| s.code()), Some(Some(0)));
    assert_eq!(d.log().matches("moved aside to").count(), 1, "{}", d.log());
}

/// Issue 28, 15: one `/blocklist` entry whose "phone" is 64 MB. Every
/// field is bounded, not only the whole answer: the sync fails on that
/// field, the copy is unchanged, and the process never holds the string
/// (its peak RSS stays far below the field's size).
#[test]
fn a_huge_field_is_refused_without_holding_it() {
    use std::io::{Read, Write};
    const FIELD: usize = 64 << 20;
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api", server.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in server.incoming().take(8) {
            let Ok(mut s) = s else { continue };
            let mut req = [0u8; 4096];
            let _ = s.read(&mut req);
            let head = r#"{"version":9,"numbers":[{"votes":5,"phone":""#;
            let tail = r#""}]}"#;
            let len = head.len() + FIELD + tail.len();
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n{head}"
            );
            let chunk = vec![b'9'; 1 << 20];
            for _ in 0..FIELD >> 20 {
                if s.write_all(&chunk).is_err() {
                    break;
                }
            }
            let _ = s.write_all(tail.as_bytes());
        }
    });
    let dir = common::fresh_dir("phoneblock", "huge-field");
    config(&dir, &url, "");
    let mut child = Command::new(BIN)
        .args(["phoneblock", "sync", "--config"])
        .arg(dir.join("config.toml"))
        .env_remove("MINISIP4FB_PHONEBLOCK_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        let _ = err.read_to_string(&mut text);
        text
    });
    // Its own high-water mark, read while it runs (the kernel's rusage of
    // a child also counts the parent's memory up to its exec: useless in
    // a test process that runs a hundred tests).
    let pid = child.id();
    let hwm = || -> Option<u64> {
        let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    let mut peak_kb = 0;
    let status = loop {
        peak_kb = peak_kb.max(hwm().unwrap_or(0));
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    let text = reader.join().unwrap();
    assert!(text.contains("longer than 4096 bytes"), "{text}");
    assert!(!status.success(), "{text}");
    let peak_mb = peak_kb / 1024;
    assert!(
        peak_mb < 40,
        "peak RSS {peak_mb} MB for a {} MB field",
        FIELD >> 20
    );
    assert!(
        !dir.join("phoneblock.numbers").exists(),
        "no copy from that answer"
    );
}
