//! The daemon on a real MQTT broker: Debian's mosquitto, started here on a
//! loopback port, watched by an MQTT client of the test's own. Home
//! Assistant's discovery (retained, one device), the call event of a
//! blocked call, the shield switch turned off through its command topic
//! (the next blocked number rings and is recorded log-only, also after a
//! restart), kill -9 → the broker says `offline`, a call while the broker
//! is away is terminated as ever, and a broker restart → the daemon
//! reconnects and publishes everything again.
//!
//! Needs `mosquitto` (`apt-get install mosquitto mosquitto-clients`);
//! without it the tests fail, unless `MINISIP4FB_SKIP=mqtt`.

use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minisip4fb_emulator::{CallOutcome, CallSpec, Caller};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use crate::common;

/// A message as the watcher got it: topic, payload, retained.
type Seen = Arc<Mutex<Vec<(String, String, bool)>>>;

struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// mosquitto on `port`, or on a free port (then tried again should another
/// process take the port between our look and mosquitto's bind: mosquitto
/// then exits at once, which is told apart from a broker that listens).
fn broker(dir: &std::path::Path, port: Option<u16>) -> (Broker, u16) {
    for _ in 0..5 {
        let given = port;
        let port = given.unwrap_or_else(free_port);
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
        )
        .unwrap();
        let child = Command::new(mosquitto().expect("mosquitto"))
            .arg("-c")
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("mosquitto starts");
        let mut b = Broker(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(50));
        if matches!(b.0.try_wait(), Ok(None)) {
            return (b, port);
        }
        let _ = b.0.wait();
        assert!(given.is_none(), "mosquitto cannot listen on {port} again");
    }
    panic!("mosquitto did not start on a free port in 5 tries");
}

/// A client that records every message on `#`, reconnecting by itself.
fn watch(name: &str, port: u16, seen: Seen) -> AsyncClient {
    let mut opts = MqttOptions::new(format!("{name}-{}", std::process::id()), "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(5));
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(opts, 64);
    let c = client.clone();
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = c.subscribe("#", QoS::AtLeastOnce).await;
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let payload = String::from_utf8_lossy(&p.payload).into_owned();
                    seen.lock().unwrap().push((p.topic, payload, p.retain));
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    });
    client
}

/// Waits until a message after the first `from` matches; its payload.
async fn wait_msg(
    seen: &Seen,
    from: usize,
    limit: Duration,
    want: impl Fn(&str, &str) -> bool,
) -> Option<String> {
    let t = std::time::Instant::now();
    while t.elapsed() < limit {
        if let Some((_, p, _)) = seen.lock().unwrap()[from..]
            .iter()
            .find(|(topic, p, _)| want(topic, p))
        {
            return Some(p.clone());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

fn mosquitto() -> Option<std::path::PathBuf> {
    common::tool("mosquitto")
}

/// Whether the MQTT tests may run (see `common::require`).
fn have_mosquitto() -> bool {
    common::require(
        "mqtt",
        mosquitto()
            .is_none()
            .then(|| "no mosquitto: apt-get install mosquitto mosquitto-clients".into()),
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_assistant_on_a_real_broker() {
    if !have_mosquitto() {
        return;
    }
    let dir = common::fresh_dir("mqtt", "ha");
    let (mut mosquitto, port) = broker(&dir, None);
    let seen: Seen = Arc::default();
    let watcher = watch("watcher", port, seen.clone());
    std::fs::write(dir.join("password"), "geheim123\n").unwrap();
    let cfg = dir.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[fritzbox]\nuser = \"620\"\npassword_file = \"password\"\n[calllog]\ndb = \"calls.db\"\n\
             [mqtt]\nurl = \"mqtt://127.0.0.1:{port}\"\n\
             [[rule]]\nname = \"premium\"\nnumbers = [\"0900*\"]\naction = \"terminate\"\n"
        ),
    )
    .unwrap();
    let emu = common::usual_box(41).await;
    let start = || common::Proc::spawn_logged(&mut common::against_box(&["run"], &cfg, emu.addr()));
    let mut d = start();
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    let online = |from| {
        wait_msg(&seen, from, Duration::from_secs(20), |t, p| {
            t == "minisip4fb/status" && p == "online"
        })
    };
    assert!(online(0).await.is_some(), "{}", d.log());

    // Discovery: retained, one device, each entity with a unique id.
    let configs = || {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|(t, _, _)| t.starts_with("homeassistant/") && t.ends_with("/config"))
            .map(|(t, p, _)| {
                (
                    t.clone(),
                    serde_json::from_str::<serde_json::Value>(p).unwrap(),
                )
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let found = configs();
    assert_eq!(found.len(), 10, "{:?}", found.keys());
    // The registration, with when the Box was last heard from.
    let registration = wait_msg(&seen, 0, Duration::from_secs(10), |t, p| {
        t == "minisip4fb/registration" && p.contains("\"registered\":true")
    })
    .await
    .expect("the registration");
    let registration: serde_json::Value = serde_json::from_str(&registration).unwrap();
    assert!(
        registration["last_heard"]
            .as_str()
            .is_some_and(|t| t.starts_with("20")),
        "{registration}"
    );
    let devices: std::collections::BTreeSet<_> = found
        .values()
        .map(|c| c["device"]["identifiers"][0].to_string())
        .collect();
    assert_eq!(devices.len(), 1, "one device: {devices:?}");
    for kind in ["binary_sensor", "sensor", "event", "switch", "button"] {
        assert!(
            found.keys().any(|t| t.contains(&format!("/{kind}/"))),
            "{kind}"
        );
    }
    // A late subscriber gets them as retained messages.
    let late: Seen = Arc::default();
    let late_client = watch("late", port, late.clone());
    assert!(
        wait_msg(&late, 0, Duration::from_secs(10), |t, _| t
            == "homeassistant/switch/minisip4fb-620/shield/config")
        .await
        .is_some()
    );
    assert!(
        late.lock()
            .unwrap()
            .iter()
            .all(|(_, _, retained)| *retained),
        "retained"
    );
    let _ = late_client.disconnect().await;

    // A blocked call: its event.
    let call = |n: &str| {
        CallSpec::new(Caller::National(n.into())).cancel_after(Duration::from_millis(800))
    };
    let mark = seen.lock().unwrap().len();
    assert_eq!(
        emu.call(call("09005551234")).await.outcome,
        CallOutcome::TerminatedByPhone
    );
    let event = wait_msg(&seen, mark, Duration::from_secs(10), |t, p| {
        t == "minisip4fb/call" && p.contains("\"event_type\":\"terminate\"")
    })
    .await
    .expect("the call event");
    let event: serde_json::Value = serde_json::from_str(&event).unwrap();
    assert_eq!(event["caller"], "09005551234");
    assert_eq!(event["log_only"], false);
    assert!(event["reason"].as_str().unwrap().contains("premium"));

    // The switch off through its command topic: the next blocked number
    // rings and is recorded log-only.
    let mark = seen.lock().unwrap().len();
    watcher
        .publish("minisip4fb/shield/set", QoS::AtLeastOnce, false, "OFF")
        .await
        .unwrap();
    assert!(
        wait_msg(&seen, mark, Duration::from_secs(10), |t, p| t
            == "minisip4fb/shield"
            && p == "OFF")
        .await
        .is_some(),
        "{}",
        d.log()
    );
    let mark = seen.lock().unwrap().len();
    assert_eq!(
        emu.call(call("09005550000")).await.outcome,
        CallOutcome::RangUntilCancelled
    );
    let event = wait_msg(&seen, mark, Duration::from_secs(10), |t, p| {
        t == "minisip4fb/call" && p.contains("09005550000")
    })
    .await
    .expect("the log-only call's event");
    let event: serde_json::Value = serde_json::from_str(&event).unwrap();
    assert_eq!(
        (&event["decision"], &event["action"], &event["log_only"]),
        (&"ring".into(), &"terminate".into(), &true.into()),
        "{event}"
    );
    assert_eq!(event["event_type"], "log-only");

    // Kept across a restart.
    assert_eq!(d.terminate().map(|s| s.code()), Some(Some(0)));
    let mark = seen.lock().unwrap().len();
    d = start();
    assert!(
        wait_msg(&seen, mark, Duration::from_secs(20), |t, p| t
            == "minisip4fb/shield"
            && p == "OFF")
        .await
        .is_some(),
        "still off after a restart: {}",
        d.log()
    );
    watcher
        .publish("minisip4fb/shield/set", QoS::AtLeastOnce, false, "ON")
        .await
        .unwrap();
    assert!(
        d.wait_for("the shield is ON", Duration::from_secs(10))
            .await,
        "{}",
        d.log()
    );
    // The dashboard's button for the door openers, pressed.
    watcher
        .publish("minisip4fb/doors/open", QoS::AtLeastOnce, false, "OPEN")
        .await
        .unwrap();
    assert!(
        d.wait_for("opened again (MQTT)", Duration::from_secs(10))
            .await,
        "{}",
        d.log()
    );

    // kill -9: the broker says offline (the last will).
    let mark = seen.lock().unwrap().len();
    d.kill9();
    assert!(
        wait_msg(&seen, mark, Duration::from_secs(10), |t, p| t
            == "minisip4fb/status"
            && p == "offline")
        .await
        .is_some(),
        "the last will"
    );

    // The broker restarts (without its retained messages): the daemon
    // reconnects and publishes everything again.
    d = start();
    assert!(
        d.wait_for("MQTT: connected", Duration::from_secs(20)).await,
        "{}",
        d.log()
    );
    assert!(
        d.wait_for("registered at the FRITZ!Box", Duration::from_secs(20))
            .await,
        "{}",
        d.log()
    );
    drop(mosquitto);
    // The broker away: a call is decided and ended as ever.
    assert_eq!(
        emu.call(call("09005557777")).await.outcome,
        CallOutcome::TerminatedByPhone
    );
    mosquitto = broker(&dir, Some(port)).0;
    let mark = seen.lock().unwrap().len();
    assert!(
        wait_msg(&seen, mark, Duration::from_secs(30), |t, _| t
            == "homeassistant/switch/minisip4fb-620/shield/config")
        .await
        .is_some(),
        "discovery again after the broker's restart: {}",
        d.log()
    );
    assert!(online(mark).await.is_some());
    assert_eq!(d.terminate().map(|s| s.code()), Some(Some(0)));
    drop(mosquitto);
}

/// Issue 28, 6 and 7: commands are not state. A retained `OFF` left on the
/// command topic does not switch the shield off at connect or restart; a
/// message over the size limit (retained, 300 KiB) and a malformed one
/// are dropped, and the connection stays (one connect in all); a live
/// `OFF` still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_and_oversized_commands_are_not_obeyed() {
    if !have_mosquitto() {
        return;
    }
    let dir = common::fresh_dir("mqtt", "retained");
    let (_mosquitto, port) = broker(&dir, None);
    let seen: Seen = Arc::default();
    let watcher = watch("retainer", port, seen.clone());
    watcher
        .publish("minisip4fb/shield/set", QoS::AtLeastOnce, true, "OFF")
        .await
        .unwrap();
    std::fs::write(dir.join("password"), "geheim123\n").unwrap();
    let cfg = dir.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[fritzbox]\nuser = \"620\"\npassword_file = \"password\"\n\
             [mqtt]\nurl = \"mqtt://127.0.0.1:{port}\"\n\
             [[rule]]\nname = \"premium\"\nnumbers = [\"0900*\"]\naction = \"terminate\"\n"
        ),
    )
    .unwrap();
    let emu = common::usual_box(43).await;
    let start = || common::Proc::spawn_logged(&mut common::against_box(&["run"], &cfg, emu.addr()));
    let call = |n: &str| {
        CallSpec::new(Caller::National(n.into())).cancel_after(Duration::from_millis(800))
    };
    let mut d = start();
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    assert!(
        d.wait_for("MQTT: connected", Duration::from_secs(20)).await,
        "{}",
        d.log()
    );
    // Time for the broker to deliver what it would.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        emu.call(call("09005551234")).await.outcome,
        CallOutcome::TerminatedByPhone,
        "the retained OFF was not obeyed: {}",
        d.log()
    );
    // Restarted: still not obeyed.
    assert_eq!(d.terminate().map(|s| s.code()), Some(Some(0)));
    d = start();
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers again");
    assert!(d.wait_for("MQTT: connected", Duration::from_secs(20)).await);
    assert!(d.wait_for("rule(s)", Duration::from_secs(20)).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        emu.call(call("09005551235")).await.outcome,
        CallOutcome::TerminatedByPhone,
        "{}",
        d.log()
    );
    // Too big (retained, so a broker would send it at every connect) and
    // malformed: dropped, the connection stays.
    let big = vec![b'O'; 300 * 1024];
    watcher
        .publish("minisip4fb/shield/set", QoS::AtLeastOnce, true, big)
        .await
        .unwrap();
    watcher
        .publish("minisip4fb/shield/set", QoS::AtLeastOnce, false, "MAYBE")
        .await
        .unwrap();
    assert!(
        d.wait_for("is neither ON nor OFF", Duration::from_secs(10))
            .await,
        "{}",
        d.log()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    // A live command still works, on the same connection.
    watcher
        .publish("minisip4fb/shield/set", QoS::AtLeastOnce, false, "OFF")
        .await
        .unwrap();
    assert!(
        d.wait_for("the shield is OFF", Duration::from_secs(10))
            .await,
        "{}",
        d.log()
    );
    let log = d.log();
    assert_eq!(log.matches("MQTT: connected").count(), 1, "{log}");
    assert!(!log.contains("size limit"), "{log}");
    assert_eq!(d.terminate().map(|s| s.code()), Some(Some(0)));
}
