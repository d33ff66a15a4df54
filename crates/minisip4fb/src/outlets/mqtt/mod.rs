//! The daemon on an MQTT broker (issue 15), beside the calls, never in
//! their way: rumqttc's client with a bounded queue (a broker that is down
//! or slow loses messages, never delays a call or grows memory), its event
//! loop in a task of its own that reconnects with backoff; at each
//! connection Home Assistant's discovery, `online`, the registration, the
//! shield and today's counts are published (retained), and the shield's
//! command topic subscribed. A last will says `offline`.
//!
//! MQTT 5, for two guards the protocol itself gives: the broker sends us
//! no message over our Maximum Packet Size (§3.1.2.11.4: it drops it, the
//! connection stays), and no retained message on the command topic
//! (Retain Handling 2, §3.8.3.1): a command is not state, and an old
//! retained `OFF` must not switch the shield off at every connect. The
//! shield's file is the state.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::Transport;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Filter, LastWill, Packet, RetainForwardRule};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use tokio::sync::{broadcast, mpsc};

use crate::call::DaemonEvent;
use crate::call::Record;
use crate::controls::shield::Shield;
pub mod messages;

use crate::net::Registration;
use messages::{Broker, Topics, call_message};

/// Messages waiting for the broker at most; more are dropped and counted.
const QUEUE: usize = 64;
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// A connection that lasted this long resets the backoff; one that ends
/// sooner counts as a failure, so that a broker that drops us at once is
/// not hammered every second.
const STABLE: Duration = Duration::from_secs(30);
/// The largest message we take (and tell the broker so).
const MAX_PACKET: u32 = 256 * 1024;

/// What `[mqtt]` says, resolved: where, who, which topics.
pub struct Settings {
    broker: Broker,
    topics: Topics,
    client_id: String,
}

impl Settings {
    /// From `[mqtt]`; the password from env MINISIP4FB_MQTT_PASSWORD, else
    /// `password_file`, else the URL.
    pub fn new(m: &crate::config::Mqtt, user: &str) -> Result<Settings, MqttConfigError> {
        let mut broker = Broker::parse(&m.url)?;
        if let Ok(p) = std::env::var("MINISIP4FB_MQTT_PASSWORD")
            && !p.is_empty()
        {
            broker.password = Some(p);
        } else if let Some(f) = &m.password_file {
            broker.password = Some(crate::config::secret_file(f, "[mqtt] password_file")?);
        }
        let client_id = m
            .client_id
            .clone()
            .unwrap_or_else(|| format!("minisip4fb-{user}"));
        if client_id.is_empty() || client_id.len() > 64 {
            return Err(MqttConfigError::ClientId);
        }
        Ok(Settings {
            topics: Topics::new(&m.topic, &m.discovery_prefix, &client_id),
            broker,
            client_id,
        })
    }
}

/// An `[mqtt]` that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MqttConfigError {
    #[error(transparent)]
    Broker(#[from] messages::BadBroker),
    #[error(transparent)]
    Password(#[from] crate::config::SecretError),
    #[error("[mqtt] client_id: 1 to 64 characters")]
    ClientId,
}

/// What the broker's side tells the publishing side.
enum Heard {
    Connected,
    Shield(bool),
    OpenDoors,
}

/// Starts the client: its event loop and the publisher, into `tasks`.
pub(crate) fn start(
    s: Settings,
    events: &broadcast::Sender<DaemonEvent>,
    phones: Vec<crate::net::PhoneView>,
    shield: Shield,
    doors: Option<crate::controls::doors::Doors>,
    calllog: Option<PathBuf>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) {
    let mut opts = MqttOptions::new(&s.client_id, &s.broker.host, s.broker.port);
    opts.set_keep_alive(KEEP_ALIVE);
    // The broker publishes it when the connection ends without a
    // DISCONNECT, kill -9 included (MQTT 3.1.1 §3.1.2.5); retained
    // (§3.3.1.3) so that a late subscriber sees it too.
    opts.set_last_will(LastWill::new(
        s.topics.status(),
        "offline",
        QoS::AtLeastOnce,
        true,
        None,
    ));
    opts.set_max_packet_size(Some(MAX_PACKET));
    if let Some(u) = &s.broker.user {
        opts.set_credentials(u, s.broker.password.as_deref().unwrap_or(""));
    }
    if s.broker.tls {
        opts.set_transport(Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(Arc::new(tls())),
        ));
    }
    let (client, eventloop) = AsyncClient::new(opts, QUEUE);
    let (heard, hear) = mpsc::channel(16);
    let shown = format!(
        "{}://{}:{}",
        if s.broker.tls { "mqtts" } else { "mqtt" },
        s.broker.host,
        s.broker.port
    );
    tasks.push(tokio::spawn(listen(
        eventloop,
        [s.topics.shield_set(), s.topics.doors_open()],
        heard,
        shown,
    )));
    tasks.push(tokio::spawn(publish(
        client,
        s.topics,
        events.subscribe(),
        hear,
        phones,
        (shield, doors),
        calllog,
    )));
}

/// The Mozilla roots (webpki-roots) with ring, as for the rest of the
/// daemon's TLS.
fn tls() -> rustls::ClientConfig {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        .unwrap_or_else(|_| {
            rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        })
}

/// Polls the event loop (which connects and reconnects), telling the
/// publisher of connections and shield commands; after a failure waits,
/// from 1 s doubling up to 60 s, reset only by a connection that lasted.
async fn listen(
    mut eventloop: rumqttc::v5::EventLoop,
    [shield_set, doors_open]: [String; 2],
    heard: mpsc::Sender<Heard>,
    shown: String,
) {
    let mut wait = BACKOFF_FIRST;
    let mut down = false;
    let mut connected_at: Option<Instant> = None;
    let mut told_retained = false;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                if down {
                    tracing::info!("MQTT: connected to {shown} again");
                } else {
                    tracing::info!("MQTT: connected to {shown}");
                }
                connected_at = Some(Instant::now());
                down = false;
                let _ = heard.send(Heard::Connected).await;
            }
            Ok(Event::Incoming(Packet::Publish(p)))
                if p.topic == shield_set.as_bytes() || p.topic == doors_open.as_bytes() =>
            {
                let topic = String::from_utf8_lossy(&p.topic);
                // A broker that ignores Retain Handling: the same rule here.
                if p.retain {
                    if !told_retained {
                        tracing::warn!(
                            "MQTT: {topic}: a retained command is ignored (a command is not state); delete it with: mosquitto_pub -r -n -t {topic}"
                        );
                        told_retained = true;
                    }
                    continue;
                }
                if p.topic == doors_open.as_bytes() {
                    let _ = heard.send(Heard::OpenDoors).await;
                    continue;
                }
                match p.payload.as_ref() {
                    b"ON" => {
                        let _ = heard.send(Heard::Shield(true)).await;
                    }
                    b"OFF" => {
                        let _ = heard.send(Heard::Shield(false)).await;
                    }
                    other => tracing::warn!(
                        "MQTT: {shield_set}: {:?} is neither ON nor OFF",
                        crate::text::printable(&String::from_utf8_lossy(
                            &other[..other.len().min(40)]
                        ))
                    ),
                }
            }
            Ok(_) => {}
            Err(e) => {
                if connected_at.take().is_some_and(|t| t.elapsed() >= STABLE) {
                    wait = BACKOFF_FIRST;
                }
                if !down {
                    use rumqttc::v5::ConnectionError::ConnectionRefused;
                    use rumqttc::v5::mqttbytes::v5::ConnectReturnCode as Code;
                    let hint = match &e {
                        ConnectionRefused(
                            Code::UnsupportedProtocolVersion | Code::RefusedProtocolVersion,
                        ) => " (the broker does not speak MQTT 5: mosquitto 1.6 or newer does)",
                        _ => "",
                    };
                    tracing::warn!(
                        "MQTT: {shown}: {e}{hint}; messages wait (at most {QUEUE}), retrying"
                    );
                    down = true;
                } else {
                    tracing::debug!("MQTT: {shown}: {e}");
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// Calls today (the household's day) and how many were blocked.
#[derive(Debug, Default)]
struct Today {
    day: Option<chrono::NaiveDate>,
    calls: i64,
    blocked: i64,
}

impl Today {
    fn count(&mut self, r: &Record) {
        let today = chrono::Local::now().date_naive();
        if self.day != Some(today) {
            *self = Today {
                day: Some(today),
                ..Today::default()
            };
        }
        self.calls += 1;
        if r.decision.blocks() {
            self.blocked += 1;
        }
    }

    fn message(&self) -> serde_json::Value {
        serde_json::json!({ "calls_today": self.calls, "blocked_today": self.blocked })
    }
}

/// Today's counts from the call log, read in the blocking pool.
async fn today_from(calllog: Option<PathBuf>) -> Today {
    let Some(path) = calllog else {
        return Today::default();
    };
    let day = chrono::Local::now().date_naive();
    let since = day
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(chrono::Local).earliest())
        .map(|t| crate::call::Time(t.to_utc()));
    let read = tokio::task::spawn_blocking(move || {
        let log = crate::calllog::CallLog::open(&path)?;
        log.per_day(since)
    })
    .await;
    match read {
        Ok(Ok(days)) => Today {
            day: Some(day),
            calls: days.iter().map(|d| d.1).sum(),
            blocked: days.iter().map(|d| d.1 - d.4).sum(),
        },
        _ => Today::default(),
    }
}

/// Publishes what happens; at each connection everything retained again.
async fn publish(
    client: AsyncClient,
    topics: Topics,
    mut events: broadcast::Receiver<DaemonEvent>,
    mut hear: mpsc::Receiver<Heard>,
    phones: Vec<crate::net::PhoneView>,
    (shield, doors): (Shield, Option<crate::controls::doors::Doors>),
    calllog: Option<PathBuf>,
) {
    let mut today = today_from(calllog).await;
    let mut heard_tick = tokio::time::interval(HEARD_EVERY);
    heard_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut heard_sent: Vec<_> = phones.iter().map(|p| p.heard.get()).collect();
    let several = phones.len() > 1;
    let names: Vec<&str> = phones.iter().map(|p| p.account.as_str()).collect();
    // Each phone's registration: its topic and message.
    let registration = |p: &crate::net::PhoneView| {
        (
            topics.registration(several.then_some(p.account.as_str())),
            registered(&p.registration.borrow(), p.heard.get()).to_string(),
        )
    };
    let mut shield_changes = shield.subscribe();
    let mut dropped = 0u64;
    let mut send = |topic: String, retain: bool, payload: String| {
        if client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload)
            .is_err()
        {
            dropped += 1;
            if dropped.is_power_of_two() {
                tracing::warn!("MQTT: {dropped} message(s) dropped: the broker is away or slow");
            }
        }
    };
    loop {
        tokio::select! {
            h = hear.recv() => match h {
                Some(Heard::Connected) => {
                    for (topic, config) in topics.discovery(env!("CARGO_PKG_VERSION"), &names) {
                        send(topic, true, config.to_string());
                    }
                    send(topics.status(), true, "online".into());
                    for p in &phones {
                        let (topic, message) = registration(p);
                        send(topic, true, message);
                    }
                    send(topics.shield(), true, on_off(shield.is_on()).into());
                    send(topics.counts(), true, today.message().to_string());
                    let commands = [topics.shield_set(), topics.doors_open()].map(|t| {
                        let mut command = Filter::new(t, QoS::AtLeastOnce);
                        command.retain_forward_rule = RetainForwardRule::Never;
                        command
                    });
                    if client.try_subscribe_many(commands).is_err() {
                        tracing::warn!("MQTT: cannot subscribe to {}", topics.shield_set());
                    }
                }
                Some(Heard::Shield(on)) => {
                    let s = shield.clone();
                    match tokio::task::spawn_blocking(move || s.set(on)).await {
                        Ok(Ok(())) => tracing::info!(
                            "the shield is {} (MQTT){}",
                            on_off(on),
                            if on { "" } else { ": every call rings, decisions are only recorded" }
                        ),
                        Ok(Err(e)) => tracing::warn!("the shield is {} for this run; cannot keep it: {e}", on_off(on)),
                        Err(_) => {}
                    }
                }
                Some(Heard::OpenDoors) => {
                    if let Some(d) = doors.clone() {
                        match tokio::task::spawn_blocking(move || d.open(None)).await {
                            Ok(opened) => tracing::info!("door opener(s) opened again (MQTT): {}", opened.join(", ")),
                            Err(e) => tracing::warn!("MQTT: opening the door openers: {e}"),
                        }
                    }
                }
                None => return,
            },
            _ = heard_tick.tick() => {
                for (p, sent) in phones.iter().zip(&mut heard_sent) {
                    let now = p.heard.get();
                    if now != *sent {
                        *sent = now;
                        let (topic, message) = registration(p);
                        send(topic, true, message);
                    }
                }
            }
            // Set here or on the dashboard: the switch shows it.
            Ok(()) = shield_changes.changed() => {
                send(topics.shield(), true, on_off(shield.is_on()).into());
            }
            e = events.recv() => match e {
                Ok(DaemonEvent::Call(r)) => {
                    today.count(&r);
                    let m = call_message(&r, false).to_string();
                    send(topics.call(), false, m.clone());
                    send(topics.last_call(), true, m);
                    send(topics.counts(), true, today.message().to_string());
                }
                Ok(DaemonEvent::CallEnded(r)) => {
                    let m = call_message(&r, true).to_string();
                    send(topics.call(), false, m.clone());
                    send(topics.last_call(), true, m);
                }
                Ok(DaemonEvent::Registered { account, .. }
                    | DaemonEvent::RegistrationLost { account, .. }
                    | DaemonEvent::RegistrationRestored { account, .. }) => {
                    if let Some(p) = phones.iter().find(|p| p.account == account) {
                        let (topic, message) = registration(p);
                        send(topic, true, message);
                    }
                }
                Ok(e @ (DaemonEvent::CallNotDelivered { .. }
                    | DaemonEvent::ChallengePassed { .. }
                    | DaemonEvent::ChallengeFailed { .. })) => {
                    let mut m = serde_json::to_value(&e).unwrap_or_default();
                    if let Some(o) = m.as_object_mut() {
                        let kind = match e {
                            DaemonEvent::CallNotDelivered { .. } => "not-delivered",
                            DaemonEvent::ChallengePassed { .. } => "challenge-passed",
                            _ => "challenge-failed",
                        };
                        o.insert("event_type".into(), kind.into());
                    }
                    send(topics.call(), false, m.to_string());
                }
                Ok(e @ (DaemonEvent::PinRejected { .. } | DaemonEvent::DoorLocked { .. })) => {
                    let mut m = serde_json::to_value(&e).unwrap_or_default();
                    if let Some(o) = m.as_object_mut() {
                        o.insert("event_type".into(), e.kind().as_str().into());
                    }
                    send(topics.door(), false, m.to_string());
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "ON" } else { "OFF" }
}

/// `<topic>/registration`, with when the Box was last heard from.
fn registered(r: &Registration, heard: Option<std::time::SystemTime>) -> serde_json::Value {
    serde_json::json!({
        "registered": matches!(r, Registration::Registered { .. }),
        "state": r.name(),
        "reason": r.problem(),
        "last_heard": heard.map(|t| crate::call::Time::from(t).to_string()),
    })
}

/// "Last heard from the Box" is published again at most this often: the
/// Box's keepalives come every few seconds to a minute.
const HEARD_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
