//! What minisip4fb says on an MQTT broker (issue 15), without the I/O:
//! the broker's URL, the topics, Home Assistant's discovery configs
//! (<https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery>) and
//! the messages for the daemon's events. `daemon::mqtt` sends them.

use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use crate::call::Record;

/// Where the broker is and who we are there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
}

/// A URL longer than this is not a broker's.
const MAX_URL: usize = 1024;

/// A broker URL that is not one, as shown (never with its password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[mqtt] url {url:?}: {why} (mqtt://user:password@host:1883 or mqtts://…)")]
pub struct BadBroker {
    /// The URL, its password cut out, control characters escaped.
    pub url: String,
    pub why: &'static str,
}

impl Broker {
    /// `mqtt://[user[:password]@]host[:port]` (port 1883) or `mqtts://…`
    /// (TLS, port 8883); user and password percent-encoded.
    pub fn parse(url: &str) -> Result<Broker, BadBroker> {
        let shown = || {
            // Never the password in a message.
            match url.split_once('@') {
                Some((head, tail)) => {
                    let scheme = head.split("://").next().unwrap_or("");
                    format!("{scheme}://…@{tail}")
                }
                None => url.to_owned(),
            }
        };
        let bad = |why: &'static str| BadBroker {
            url: crate::text::printable(&shown()).into_owned(),
            why,
        };
        if url.len() > MAX_URL {
            return Err(bad("too long"));
        }
        let (tls, rest) = if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else {
            return Err(bad("not mqtt:// or mqtts://"));
        };
        let rest = rest.trim_end_matches('/');
        let (auth, hostport) = match rest.rsplit_once('@') {
            Some((a, h)) => (Some(a), h),
            None => (None, rest),
        };
        let decode = |s: &str| {
            percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| bad("user or password not UTF-8"))
        };
        let (user, password) = match auth {
            None => (None, None),
            Some(a) => match a.split_once(':') {
                Some((u, p)) => (Some(decode(u)?), Some(decode(p)?)),
                None => (Some(decode(a)?), None),
            },
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            (h, after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() || host.contains(['/', '?', '#', ' ']) {
            return Err(bad("no host"));
        }
        let port = match port {
            None => {
                if tls {
                    8883
                } else {
                    1883
                }
            }
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| bad("the port is not a number"))?,
        };
        Ok(Broker {
            tls,
            host: host.to_owned(),
            port,
            user: user.filter(|u| !u.is_empty()),
            password,
        })
    }
}

/// The topics under `[mqtt] topic` and `discovery_prefix`.
#[derive(Debug, Clone)]
pub struct Topics {
    pub base: String,
    pub discovery: String,
    /// Unique per installation: the discovery configs' object ids.
    pub node: String,
}

impl Topics {
    pub fn new(base: &str, discovery: &str, node: &str) -> Topics {
        // Topics and ids: no wildcards, no separators of our own.
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        Topics {
            base: base.trim_matches('/').replace(['+', '#'], "_"),
            discovery: discovery.trim_matches('/').replace(['+', '#'], "_"),
            node: clean(node),
        }
    }

    pub fn status(&self) -> String {
        format!("{}/status", self.base)
    }
    /// Each call as it is decided and as it ends (not retained).
    pub fn call(&self) -> String {
        format!("{}/call", self.base)
    }
    /// The last call, retained: the sensors read it.
    pub fn last_call(&self) -> String {
        format!("{}/last_call", self.base)
    }
    pub fn counts(&self) -> String {
        format!("{}/counts", self.base)
    }
    /// The registration of the one account, or with several, of each
    /// (`<topic>/registration/<account>`).
    pub fn registration(&self, account: Option<&str>) -> String {
        match account {
            Some(a) => format!("{}/registration/{a}", self.base),
            None => format!("{}/registration", self.base),
        }
    }
    pub fn shield(&self) -> String {
        format!("{}/shield", self.base)
    }
    pub fn shield_set(&self) -> String {
        format!("{}/shield/set", self.base)
    }
    /// The door openers' events (`pin_rejected`, `door_locked`), not retained.
    pub fn door(&self) -> String {
        format!("{}/door", self.base)
    }
    /// A command: open every door opener that failed PINs locked.
    pub fn doors_open(&self) -> String {
        format!("{}/doors/open", self.base)
    }

    fn config(&self, component: &str, object: &str) -> String {
        format!(
            "{}/{component}/{}/{object}/config",
            self.discovery, self.node
        )
    }

    /// Home Assistant's discovery configs, retained: one device with a
    /// binary sensor (registered), four sensors (last caller, last
    /// decision with its reason, calls today, blocked today), an event
    /// entity for calls, the shield switch, an event entity for the door
    /// openers and a button that opens them again.
    /// With several accounts, each has its own two registration entities
    /// (`accounts`: their names), named after it.
    pub fn discovery(&self, version: &str, accounts: &[&str]) -> Vec<(String, Value)> {
        let device = json!({
            "identifiers": [self.node],
            "name": "minisip4fb",
            "model": "minisip4fb (headless IP phone)",
            "manufacturer": "minisip4fb",
            "sw_version": version,
        });
        let common = |object: &str, name: &str| {
            json!({
                "unique_id": format!("{}_{object}", self.node),
                "object_id": format!("minisip4fb_{object}"),
                "name": name,
                "device": device,
                "availability_topic": self.status(),
                "payload_available": "online",
                "payload_not_available": "offline",
            })
        };
        let with = |mut base: Value, more: Value| {
            if let (Some(b), Some(m)) = (base.as_object_mut(), more.as_object()) {
                b.extend(m.clone());
            }
            base
        };
        // One account: the entities as they always were; several: one
        // pair per account, its name in the entity's.
        let several = accounts.len() > 1;
        let mut configs = Vec::new();
        for account in accounts {
            let (topic, object, of) = if several {
                (
                    self.registration(Some(account)),
                    format!("_{account}"),
                    format!(" ({account})"),
                )
            } else {
                (self.registration(None), String::new(), String::new())
            };
            configs.push((
                self.config("binary_sensor", &format!("registered{object}")),
                with(
                    common(&format!("registered{object}"), &format!("Registered{of}")),
                    json!({
                        "device_class": "connectivity",
                        "state_topic": topic,
                        "value_template": "{{ 'ON' if value_json.registered else 'OFF' }}",
                        "json_attributes_topic": topic,
                    }),
                ),
            ));
            configs.push((
                self.config("sensor", &format!("last_heard{object}")),
                with(
                    common(
                        &format!("last_heard{object}"),
                        &format!("Last heard from the FRITZ!Box{of}"),
                    ),
                    json!({
                        "device_class": "timestamp",
                        "entity_category": "diagnostic",
                        "state_topic": topic,
                        "value_template": "{{ value_json.last_heard }}",
                    }),
                ),
            ));
        }
        configs.extend([
            (
                self.config("sensor", "last_caller"),
                with(
                    common("last_caller", "Last caller"),
                    json!({
                        "state_topic": self.last_call(),
                        "value_template": "{{ value_json.caller or 'anonymous' }}",
                        "icon": "mdi:phone-incoming",
                    }),
                ),
            ),
            (
                self.config("sensor", "last_decision"),
                with(
                    common("last_decision", "Last decision"),
                    json!({
                        "state_topic": self.last_call(),
                        "value_template": "{{ value_json.decision }}",
                        "json_attributes_topic": self.last_call(),
                        "json_attributes_template":
                            "{{ {'reason': value_json.reason, 'rule': value_json.rule, 'caller': value_json.caller, 'name': value_json.name, 'outcome': value_json.outcome, 'log_only': value_json.log_only} | tojson }}",
                        "icon": "mdi:shield-check",
                    }),
                ),
            ),
            (
                self.config("sensor", "calls_today"),
                with(
                    common("calls_today", "Calls today"),
                    json!({
                        "state_topic": self.counts(),
                        "value_template": "{{ value_json.calls_today }}",
                        "state_class": "total",
                        "icon": "mdi:phone",
                    }),
                ),
            ),
            (
                self.config("sensor", "blocked_today"),
                with(
                    common("blocked_today", "Calls blocked today"),
                    json!({
                        "state_topic": self.counts(),
                        "value_template": "{{ value_json.blocked_today }}",
                        "state_class": "total",
                        "icon": "mdi:phone-cancel",
                    }),
                ),
            ),
            (
                self.config("event", "call"),
                with(
                    common("call", "Call"),
                    json!({
                        "state_topic": self.call(),
                        "event_types": EVENT_TYPES,
                        "icon": "mdi:phone-ring",
                    }),
                ),
            ),
            (
                self.config("switch", "shield"),
                with(
                    common("shield", "Shield"),
                    json!({
                        "state_topic": self.shield(),
                        "command_topic": self.shield_set(),
                        "payload_on": "ON",
                        "payload_off": "OFF",
                        "icon": "mdi:shield-phone",
                    }),
                ),
            ),
            (
                self.config("event", "door"),
                with(
                    common("door", "Door opener"),
                    json!({
                        "state_topic": self.door(),
                        "event_types": ["pin_rejected", "door_locked"],
                        "icon": "mdi:door-closed-lock",
                    }),
                ),
            ),
            (
                self.config("button", "doors_open"),
                with(
                    common("doors_open", "Open door openers again"),
                    json!({
                        "command_topic": self.doors_open(),
                        "payload_press": "OPEN",
                        "icon": "mdi:door-open",
                    }),
                ),
            ),
        ]);
        configs
    }
}

/// The event entity's types: a call as decided (`ring`, `terminate`, …,
/// or `log-only` when the shield is off or a rule only logs), as it
/// ended (`ended`), a call the Box saw that never reached us
/// (`not-delivered`, from its call monitor), and the key-press check's
/// end (`challenge-passed`, `challenge-failed`).
pub const EVENT_TYPES: [&str; 12] = [
    "ring",
    "terminate",
    "decline",
    "ignore-silently",
    "terminate-and-bar",
    "answer",
    "challenge",
    "log-only",
    "ended",
    "not-delivered",
    "challenge-passed",
    "challenge-failed",
];

/// A call as `<topic>/call` carries it: the fields of `calls --json`
/// (the record's JSON), with `event_type` for Home Assistant's event
/// entity.
pub fn call_message(r: &Record, ended: bool) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        let kind = if ended {
            "ended"
        } else if r.log_only.is_some() {
            "log-only"
        } else {
            r.decision.as_str()
        };
        o.insert("event_type".into(), kind.into());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        assert_eq!(
            Broker::parse("mqtt://ha:p%40ss@broker.lan:1884").unwrap(),
            Broker {
                tls: false,
                host: "broker.lan".into(),
                port: 1884,
                user: Some("ha".into()),
                password: Some("p@ss".into()),
            }
        );
        let b = Broker::parse("mqtts://[::1]").unwrap();
        assert_eq!((b.tls, b.host.as_str(), b.port), (true, "::1", 8883));
        assert_eq!(Broker::parse("mqtt://127.0.0.1/").unwrap().port, 1883);
        let e = Broker::parse("http://u:secret@host")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not mqtt://"), "{e}");
        assert!(!e.contains("secret"), "never the password: {e}");
        assert!(Broker::parse("mqtt://host:99999").is_err());
        assert!(Broker::parse("mqtt://").is_err());
        assert!(Broker::parse(&format!("mqtt://{}", "a".repeat(2000))).is_err());
    }

    #[test]
    fn discovery_is_one_device_with_unique_ids() {
        let t = Topics::new("minisip4fb", "homeassistant", "minisip4fb-620");
        let configs = t.discovery("1.2.3", &["620"]);
        assert_eq!(configs.len(), 10);
        // Several accounts: a pair of registration entities each, on its
        // own topic, every id still unique.
        let two = t.discovery("1.2.3", &["home", "office"]);
        assert_eq!(two.len(), 12);
        let office = two
            .iter()
            .find(|(topic, _)| topic.ends_with("/registered_office/config"))
            .expect("office's entity");
        assert_eq!(office.1["state_topic"], "minisip4fb/registration/office");
        assert_eq!(office.1["name"], "Registered (office)");
        let mut two_ids: Vec<_> = two
            .iter()
            .map(|(_, c)| c["unique_id"].to_string())
            .collect();
        two_ids.sort();
        two_ids.dedup();
        assert_eq!(two_ids.len(), 12);
        let mut ids: Vec<_> = configs
            .iter()
            .map(|(_, c)| c["unique_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 10);
        for (topic, c) in &configs {
            assert!(topic.starts_with("homeassistant/"), "{topic}");
            assert!(topic.ends_with("/config"), "{topic}");
            assert_eq!(c["device"]["identifiers"][0], "minisip4fb-620");
            assert_eq!(c["availability_topic"], "minisip4fb/status");
        }
        let switch = &configs
            .iter()
            .find(|(t, _)| t.contains("/switch/"))
            .unwrap()
            .1;
        assert_eq!(switch["command_topic"], "minisip4fb/shield/set");
        assert_eq!(
            Topics::new("a/+/#/", "ha", "x y").shield_set(),
            "a/_/_/shield/set"
        );
    }
}
