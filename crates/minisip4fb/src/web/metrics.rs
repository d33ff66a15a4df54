//! `/metrics`: what Prometheus scrapes, fed by the daemon's event bus.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::call::event::DaemonEvent;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    decision: String,
    outcome: String,
    account: String,
}

/// Per account (`[fritzbox]` or an `[[account]]`, by name).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AccountLabels {
    account: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListLabels {
    list: String,
}

pub struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    registered: Family<AccountLabels, Gauge>,
    heard: Family<AccountLabels, Gauge>,
    registration_failures: Family<AccountLabels, Counter>,
    not_delivered: Family<AccountLabels, Counter>,
    decision: Histogram,
    invite_to_bye: Histogram,
    rules: Gauge,
    lists: Family<ListLabels, Gauge>,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let calls = Family::<CallLabels, Counter>::default();
        let registered = Family::<AccountLabels, Gauge>::default();
        let heard = Family::<AccountLabels, Gauge>::default();
        let registration_failures = Family::<AccountLabels, Counter>::default();
        let not_delivered = Family::<AccountLabels, Counter>::default();
        // 50 µs … 0.1 s: a decision takes microseconds, a slow one shows.
        let decision = Histogram::new(exponential_buckets(0.000_05, 2.0, 12));
        // 0.2 ms … 0.4 s: INVITE → our BYE confirmed.
        let invite_to_bye = Histogram::new(exponential_buckets(0.000_2, 2.0, 12));
        let rules = Gauge::default();
        let lists = Family::<ListLabels, Gauge>::default();
        registry.register(
            "minisip4fb_calls",
            "Calls by what was done and how they ended",
            calls.clone(),
        );
        registry.register(
            "minisip4fb_registered",
            "1 while registered at the FRITZ!Box",
            registered.clone(),
        );
        registry.register(
            "minisip4fb_fritzbox_last_heard_timestamp_seconds",
            "When anything last came from the FRITZ!Box (Unix time; 0: never)",
            heard.clone(),
        );
        registry.register(
            "minisip4fb_registration_failures",
            "Registrations lost or refused",
            registration_failures.clone(),
        );
        registry.register(
            "minisip4fb_calls_not_delivered",
            "Calls the Box's call monitor showed that never reached the phone",
            not_delivered.clone(),
        );
        registry.register(
            "minisip4fb_decision_seconds",
            "INVITE to decision",
            decision.clone(),
        );
        registry.register(
            "minisip4fb_invite_to_bye_seconds",
            "INVITE to the end of a call the phone terminated",
            invite_to_bye.clone(),
        );
        registry.register("minisip4fb_rules", "Rules in force", rules.clone());
        registry.register(
            "minisip4fb_list_entries",
            "Entries of the lists the rules read",
            lists.clone(),
        );
        Metrics {
            registry,
            calls,
            registered,
            heard,
            registration_failures,
            not_delivered,
            decision,
            invite_to_bye,
            rules,
            lists,
        }
    }

    /// Counts what an event says.
    pub fn take(&self, event: &DaemonEvent) {
        match event {
            DaemonEvent::CallEnded(r) => {
                let labels = CallLabels {
                    decision: r.decision.as_str().to_owned(),
                    outcome: r
                        .outcome
                        .map_or_else(|| "unknown".to_owned(), |o| o.as_text().into_owned()),
                    account: r.account.clone().unwrap_or_default(),
                };
                self.calls.get_or_create(&labels).inc();
                if let Some(ms) = r.decision_ms {
                    self.decision.observe(ms / 1000.0);
                }
                if let Some(ms) = r.bye_ms {
                    self.invite_to_bye.observe(ms / 1000.0);
                }
            }
            DaemonEvent::RegistrationLost { account, .. } => {
                let labels = AccountLabels {
                    account: account.clone(),
                };
                self.registration_failures.get_or_create(&labels).inc();
            }
            DaemonEvent::CallNotDelivered { account, .. } => {
                let labels = AccountLabels {
                    account: account.clone(),
                };
                self.not_delivered.get_or_create(&labels).inc();
            }
            _ => {}
        }
    }

    /// The text for a scrape, with the gauges read now: each phone's
    /// (account, registered, last heard from its Box).
    pub fn encode<'a>(
        &self,
        phones: impl Iterator<Item = (&'a str, bool, Option<std::time::SystemTime>)>,
        rules: usize,
        lists: impl Iterator<Item = (&'static str, usize)>,
    ) -> Result<String, std::fmt::Error> {
        for (account, registered, heard) in phones {
            let labels = AccountLabels {
                account: account.to_owned(),
            };
            self.registered
                .get_or_create(&labels)
                .set(i64::from(registered));
            let unix = heard.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            self.heard
                .get_or_create(&labels)
                .set(unix.map_or(0, |d| d.as_secs() as i64));
            // Shown at 0 before the first failure, as a counter should be.
            let _ = self.registration_failures.get_or_create(&labels);
            let _ = self.not_delivered.get_or_create(&labels);
        }
        self.rules.set(rules as i64);
        for (list, n) in lists {
            let labels = ListLabels { list: list.into() };
            self.lists.get_or_create(&labels).set(n as i64);
        }
        let mut out = String::new();
        encode(&mut out, &self.registry)?;
        Ok(out)
    }
}
