//! `[[notify]]` (issue 15): ready-made push messages on top of the hooks'
//! pool (bounded, never before a decision): **ntfy** (a POST to the
//! topic's URL with title, priority and tags), a **Telegram** bot
//! (`sendMessage`) and a **webhook** with a body template. The text in
//! German or English; caller data made printable and cut to length.

use std::time::Duration;

use crate::call::show::Lang;
use crate::call::{DaemonEvent, EventKind};
use crate::config;
use crate::config::PushService;

/// Which service, with what it needs.
#[derive(Debug, Clone)]
pub enum Service {
    Ntfy {
        url: String,
        token: Option<String>,
        priority: Option<String>,
        tags: Vec<String>,
    },
    Telegram {
        /// `https://api.telegram.org/bot<token>/sendMessage`.
        url: String,
        chat_id: String,
    },
    Webhook {
        url: String,
        body: String,
        content_type: String,
    },
}

/// One `[[notify]]`, ready.
#[derive(Debug, Clone)]
pub struct Preset {
    pub service: Service,
    pub lang: Lang,
    /// The events it tells.
    pub events: Vec<EventKind>,
    /// Only calls these rules decided (by name); empty: any.
    pub rules: Vec<String>,
    /// How long sending may take.
    pub timeout: Duration,
}

/// The longest a message (title and text) is.
const MAX_TEXT: usize = 1000;

/// A `[[notify]]` that cannot be used, and what it needs.
#[derive(Debug, thiserror::Error)]
pub enum PushConfigError {
    #[error("needs service = \"ntfy\", \"telegram\" or \"webhook\"")]
    NoService,
    #[error("needs {0}")]
    Missing(&'static str),
    #[error("{what} {url:?}: an http:// or https:// URL")]
    NotHttp { what: &'static str, url: String },
    #[error(transparent)]
    Secret(#[from] config::SecretError),
}

/// Why a message was not delivered (logged; never with a bot's token).
#[derive(Debug, thiserror::Error)]
#[error("POST {url}: {source}")]
pub struct SendError {
    url: String,
    source: ureq::Error,
}

fn secret(
    file: &Option<std::path::PathBuf>,
    what: &'static str,
) -> Result<Option<String>, PushConfigError> {
    Ok(file
        .as_deref()
        .map(|f| config::secret_file(f, what))
        .transpose()?)
}

fn http_url(u: Option<&String>, what: &'static str) -> Result<String, PushConfigError> {
    match u {
        Some(u) if u.starts_with("https://") || u.starts_with("http://") => Ok(u.clone()),
        Some(u) => Err(PushConfigError::NotHttp {
            what,
            url: crate::text::printable(u).into_owned(),
        }),
        None => Err(PushConfigError::Missing(what)),
    }
}

impl Preset {
    pub fn new(n: &config::Notify) -> Result<Preset, PushConfigError> {
        let service = match n.service {
            Some(PushService::Ntfy) => Service::Ntfy {
                url: http_url(n.url.as_ref(), "url (the topic's, https://ntfy.sh/TOPIC)")?,
                token: secret(&n.token_file, "token_file")?,
                priority: n.priority.clone(),
                tags: n.tags.clone(),
            },
            Some(PushService::Telegram) => {
                let token = secret(&n.token_file, "token_file")?.ok_or(
                    PushConfigError::Missing("token_file (the bot's token from @BotFather)"),
                )?;
                let chat_id = n
                    .chat_id
                    .clone()
                    .ok_or(PushConfigError::Missing("chat_id"))?;
                let api = n.api.clone().unwrap_or_else(|| "https://api.telegram.org".into());
                let api = http_url(Some(&api), "api")?;
                Service::Telegram {
                    url: format!("{}/bot{token}/sendMessage", api.trim_end_matches('/')),
                    chat_id,
                }
            }
            Some(PushService::Webhook) => Service::Webhook {
                url: http_url(n.url.as_ref(), "url")?,
                body: n.body.clone().unwrap_or_else(|| {
                    r#"{"title": "{title}", "message": "{message}", "caller": "{caller}", "decision": "{decision}", "reason": "{reason}"}"#.into()
                }),
                content_type: n
                    .content_type
                    .clone()
                    .unwrap_or_else(|| "application/json".into()),
            },
            None => return Err(PushConfigError::NoService),
        };
        let lang = n.language.unwrap_or_default();
        Ok(Preset {
            service,
            lang,
            events: super::events_or_default(&n.events),
            timeout: n.timeout.map_or(super::DEFAULT_TIMEOUT, |t| t.0),
            rules: n.rules.clone(),
        })
    }

    /// Whether this event is one to tell: a call only if its rule is one
    /// of `rules` (when given).
    pub fn wants(&self, event: &DaemonEvent) -> bool {
        if !self.events.contains(&event.kind()) {
            return false;
        }
        if self.rules.is_empty() {
            return true;
        }
        let rule = match event {
            DaemonEvent::Call(r) | DaemonEvent::CallEnded(r) | DaemonEvent::Terminated(r) => {
                r.rule.as_deref()
            }
            DaemonEvent::Dtmf { rule, .. }
            | DaemonEvent::ChallengePassed { rule, .. }
            | DaemonEvent::ChallengeFailed { rule, .. }
            | DaemonEvent::PinRejected { rule, .. }
            | DaemonEvent::DoorLocked { rule, .. } => rule.as_deref(),
            _ => return true,
        };
        rule.is_some_and(|r| self.rules.iter().any(|n| r.ends_with(&format!("\"{n}\""))))
    }

    /// The title and the text for `event`.
    pub fn text(&self, event: &DaemonEvent) -> (String, String) {
        let lang = self.lang;
        let pick = |en: &str, de: &str| lang.pick(en, de).to_owned();
        let (title, text) = match event {
            DaemonEvent::Call(r) | DaemonEvent::CallEnded(r) | DaemonEvent::Terminated(r) => {
                let who = r.caller.who(lang);
                let title = if !r.decision.blocks() {
                    pick("Call", "Anruf")
                } else {
                    pick("Call blocked", "Anruf blockiert")
                };
                let to = r
                    .called
                    .as_deref()
                    .map(|c| format!(" → {c}"))
                    .unwrap_or_default();
                // The call log's words in the reader's language.
                let reason = crate::screen::rules::translate(&r.reason, lang)
                    .unwrap_or_else(|| r.reason.clone());
                let decision = lang.word("action", r.decision.as_str());
                (title, format!("{who}{to}: {decision} – {reason}"))
            }
            DaemonEvent::RegistrationLost { reason, .. } => (
                pick(
                    "Not registered at the FRITZ!Box",
                    "Nicht an der FRITZ!Box angemeldet",
                ),
                reason.clone(),
            ),
            DaemonEvent::CallNotDelivered {
                account,
                caller,
                called,
                ..
            } => {
                let who = caller.as_deref().map_or_else(
                    || lang.t("who.anonymous").to_owned(),
                    |c| crate::text::printable(c).into_owned(),
                );
                (
                    pick(
                        "A call did not reach the shield",
                        "Ein Anruf erreichte den Schutz nicht",
                    ),
                    format!(
                        "{who} → {called} ({account}): {}",
                        pick(
                            "the FRITZ!Box saw it but did not ring minisip4fb; it may have dropped the registration",
                            "die FRITZ!Box sah ihn, klingelte minisip4fb aber nicht an; sie hat die Anmeldung vielleicht verworfen"
                        )
                    ),
                )
            }
            DaemonEvent::Registered { .. } | DaemonEvent::RegistrationRestored { .. } => (
                pick("Registered at the FRITZ!Box", "An der FRITZ!Box angemeldet"),
                pick("The shield is working.", "Der Schutz ist aktiv."),
            ),
            DaemonEvent::PhoneblockSynced { total, .. } => (
                pick("PhoneBlock synced", "PhoneBlock abgeglichen"),
                format!("{total}"),
            ),
            DaemonEvent::PhoneblockSyncFailed { reason, .. } => (
                pick(
                    "PhoneBlock sync failed",
                    "PhoneBlock-Abgleich fehlgeschlagen",
                ),
                reason.clone(),
            ),
            DaemonEvent::ChallengePassed { caller, until, .. } => (
                pick(
                    "A caller passed the check",
                    "Ein Anrufer hat die Prüfung bestanden",
                ),
                format!(
                    "{} {}{}",
                    caller.who(lang),
                    pick(
                        "passed the check and may call again",
                        "hat die Prüfung bestanden und darf wieder anrufen"
                    ),
                    until.as_ref().map_or_else(
                        || pick(" (always)", " (immer)"),
                        |u| format!(" ({} {})", pick("until", "bis"), u.local())
                    )
                ),
            ),
            DaemonEvent::ChallengeFailed {
                caller,
                refused_until,
                ..
            } => (
                pick(
                    "A caller failed the check",
                    "Ein Anrufer hat die Prüfung nicht bestanden",
                ),
                format!(
                    "{} {}{}",
                    caller.who(lang),
                    pick(
                        "did not press the key asked for; hung up",
                        "hat die verlangte Taste nicht gedrückt; aufgelegt"
                    ),
                    refused_until.as_ref().map_or(String::new(), |u| format!(
                        " ({} {})",
                        pick("not asked again until", "wird nicht mehr gefragt bis"),
                        u.local()
                    ))
                ),
            ),
            DaemonEvent::Dtmf { caller, digits, .. } => (
                pick("Keys entered", "Tasten gedrückt"),
                format!("{}: {digits}", caller.who(lang)),
            ),
            DaemonEvent::PinRejected {
                caller,
                wrong,
                rule,
                ..
            } => (
                pick("Wrong PIN at the door opener", "Falsche PIN am Türöffner"),
                format!(
                    "{}: {wrong} {} ({})",
                    caller.who(lang),
                    pick("wrong entries", "falsche Eingabe(n)"),
                    rule.as_deref().unwrap_or("?")
                ),
            ),
            DaemonEvent::DoorLocked {
                caller,
                everyone: true,
                ..
            } => (
                pick("Door opener locked", "Türöffner gesperrt"),
                format!(
                    "{} {}): {}",
                    pick(
                        "Too many wrong PINs today (last from",
                        "Zu viele falsche PINs heute (zuletzt von"
                    ),
                    caller.who(lang),
                    pick(
                        "it answers nobody until you open it again.",
                        "er nimmt keinen Anruf an, bis Sie ihn wieder freigeben."
                    )
                ),
            ),
            DaemonEvent::DoorLocked { caller, until, .. } => (
                pick("Door opener locked", "Türöffner gesperrt"),
                format!(
                    "{} {} {}",
                    caller.who(lang),
                    pick("is locked out until", "ist gesperrt bis"),
                    until.map_or("?".into(), |t| t.to_string())
                ),
            ),
        };
        let clean =
            |s: String| -> String { crate::text::printable(&s).chars().take(MAX_TEXT).collect() };
        (format!("minisip4fb: {}", clean(title)), clean(text))
    }

    /// Sends it, within its timeout (in the blocking pool: ureq).
    pub fn send(&self, event: &DaemonEvent) -> Result<(), SendError> {
        let (title, text) = self.text(event);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .build()
            .into();
        let shown = |url: &str| url.split("/bot").next().unwrap_or(url).to_owned();
        let result = match &self.service {
            Service::Ntfy {
                url,
                token,
                priority,
                tags,
            } => {
                // Header values: printable ASCII only (RFC 9110 §5.5);
                // ntfy takes the title as UTF-8 in the body's stead if needed.
                let ascii = |s: &str| -> String {
                    s.chars()
                        .map(|c| {
                            if c.is_ascii_graphic() || c == ' ' {
                                c
                            } else {
                                '?'
                            }
                        })
                        .collect()
                };
                let mut req = agent
                    .post(url)
                    .header("Title", &ascii(&title))
                    .header("Content-Type", "text/plain; charset=utf-8");
                if let Some(p) = priority {
                    req = req.header("Priority", &ascii(p));
                }
                if !tags.is_empty() {
                    req = req.header("Tags", &ascii(&tags.join(",")));
                }
                if let Some(t) = token {
                    req = req.header("Authorization", &format!("Bearer {t}"));
                }
                req.send(text.as_bytes())
                    .map(drop)
                    .map_err(|e| (url.clone(), e))
            }
            Service::Telegram { url, chat_id } => {
                let body =
                    serde_json::json!({ "chat_id": chat_id, "text": format!("{title}\n{text}") });
                agent
                    .post(url)
                    .header("Content-Type", "application/json")
                    .send(body.to_string().as_bytes())
                    .map(drop)
                    .map_err(|e| (shown(url), e))
            }
            Service::Webhook {
                url,
                body,
                content_type,
            } => {
                let json = content_type.contains("json");
                let body = fill(body, event, &title, &text, json);
                agent
                    .post(url)
                    .header("Content-Type", content_type)
                    .send(body.as_bytes())
                    .map(drop)
                    .map_err(|e| (url.clone(), e))
            }
        };
        // Never the bot's token in a message: its URL is cut before it.
        result.map_err(|(url, source)| SendError { url, source })
    }
}

/// The webhook's template with `{title}`, `{message}`, `{event}` and the
/// call's fields (`{caller}`, `{name}`, `{called}`, `{decision}`,
/// `{action}`, `{rule}`, `{reason}`, `{outcome}`) filled in; in a JSON body
/// each value is escaped for a JSON string.
pub fn fill(template: &str, event: &DaemonEvent, title: &str, message: &str, json: bool) -> String {
    let v = serde_json::to_value(event).unwrap_or_default();
    let field = |k: &str| match &v[k] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    let esc = |s: &str| -> String {
        let s = crate::text::printable(s)
            .chars()
            .take(MAX_TEXT)
            .collect::<String>();
        if json {
            let q = serde_json::to_string(&s).unwrap_or_default();
            q[1..q.len() - 1].to_owned()
        } else {
            s
        }
    };
    let values = [
        ("title", title.to_owned()),
        ("message", message.to_owned()),
        ("event", field("event")),
        ("caller", field("caller")),
        ("name", field("name")),
        ("called", field("called")),
        ("decision", field("decision")),
        ("action", field("action")),
        ("rule", field("rule")),
        ("reason", field("reason")),
        ("outcome", field("outcome")),
    ];
    // One pass over the template: what a caller sends is never read as a
    // placeholder.
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let hit = after.find('}').and_then(|close| {
            let key = &after[..close];
            values
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (close, v))
        });
        match hit {
            Some((close, v)) => {
                out.push_str(&esc(v));
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::{Caller, Record, Time};

    fn blocked() -> DaemonEvent {
        DaemonEvent::Terminated(Record {
            id: None,
            contact: false,
            log_only: None,
            time: "2026-12-03T10:00:00Z".parse().unwrap(),
            caller: crate::call::Caller {
                number: Some("09005551234".into()),
                e164: Some("+499005551234".into()),
                name: Some("{reason} \"Gewinn\"\n".into()),
            },
            called: Some("0301111111".into()),
            class: crate::call::CallerClass::External,
            decision: crate::call::Action::Terminate,
            action: crate::call::Action::Terminate,
            rule: Some("1 \"premium\"".into()),
            reason: "rule 1 \"premium\": +499005551234 matches +49900*".into(),
            outcome: None,
            decision_ms: None,
            bye_ms: None,
            account: None,
        })
    }

    #[test]
    fn a_webhook_body_is_filled_once_and_escaped() {
        let body = fill(
            r#"{"who": "{caller} {name}", "why": "{reason}", "x": "{unknown}"}"#,
            &blocked(),
            "t",
            "m",
            true,
        );
        let v: serde_json::Value = serde_json::from_str(&body).expect(&body);
        assert_eq!(v["who"], "09005551234 {reason} \"Gewinn\"\\n");
        assert_eq!(
            v["why"],
            "rule 1 \"premium\": +499005551234 matches +49900*"
        );
        assert_eq!(v["x"], "{unknown}");
    }

    /// The key-press check's events, as the household reads them.
    #[test]
    fn a_passed_and_a_failed_check() {
        let n = config::Notify {
            service: Some(config::PushService::Ntfy),
            url: Some("http://127.0.0.1:1/t".into()),
            events: vec![EventKind::ChallengePassed, EventKind::ChallengeFailed],
            ..config::Notify::default()
        };
        let p = Preset::new(&n).unwrap();
        let caller = Caller {
            number: Some("00442079460000".into()),
            e164: Some("+442079460000".into()),
            name: None,
        };
        let passed = DaemonEvent::ChallengePassed {
            time: Time::now(),
            caller: caller.clone(),
            called: None,
            rule: Some("2 \"abroad\"".into()),
            account: None,
            until: None,
        };
        assert!(p.wants(&passed));
        let (title, text) = p.text(&passed);
        assert_eq!(title, "minisip4fb: A caller passed the check");
        assert_eq!(
            text,
            "+44 2079460000 passed the check and may call again (always)"
        );
        let failed = DaemonEvent::ChallengeFailed {
            time: Time::now(),
            caller,
            called: None,
            rule: None,
            account: None,
            asked: "7".into(),
            pressed: None,
            refused_until: None,
        };
        let (_, text) = p.text(&failed);
        assert_eq!(
            text,
            "+44 2079460000 did not press the key asked for; hung up"
        );
    }

    #[test]
    fn texts_in_german_and_the_rule_filter() {
        let n = config::Notify {
            service: Some(config::PushService::Ntfy),
            url: Some("http://127.0.0.1:1/t".into()),
            language: Some(Lang::De),
            rules: vec!["premium".into()],
            ..config::Notify::default()
        };
        let p = Preset::new(&n).unwrap();
        let (title, text) = p.text(&blocked());
        assert_eq!(title, "minisip4fb: Anruf blockiert");
        assert!(
            text.starts_with("+49 9005551234 ({reason} \"Gewinn\"\\n) → 0301111111: beenden – Regel 1 \"premium\": +499005551234 passt zu +49900*"),
            "{text}"
        );
        assert!(p.wants(&blocked()));
        let other = Preset {
            rules: vec!["family".into()],
            ..p
        };
        assert!(!other.wants(&blocked()));
        for (bad, why) in [
            (config::Notify::default(), "needs service"),
            (
                config::Notify {
                    service: Some(config::PushService::Telegram),
                    ..config::Notify::default()
                },
                "token_file",
            ),
            (
                config::Notify {
                    service: Some(config::PushService::Ntfy),
                    url: Some("ftp://x".into()),
                    ..config::Notify::default()
                },
                "http",
            ),
        ] {
            let e = Preset::new(&bad).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
    }
}
