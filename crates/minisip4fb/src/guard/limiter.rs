//! Failed attempts at anything protected (a password, a PIN), counted per
//! client, with a lockout that doubles while the failures go on, and a
//! ceiling over all clients together.
//!
//! One client's failures never lock out another client: the ceiling only
//! stops clients that have themselves failed within its window (or, for
//! [`Ceiling::UntilReset`], everyone until the owner says so: a door
//! opener that someone guesses at from many numbers stays shut).
//!
//! Time is milliseconds on a clock the caller chooses (the process's
//! monotonic clock for the web, Unix time for state kept across restarts),
//! so that the same counting serves both and is testable without sleeping.

use std::collections::HashMap;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

/// Milliseconds on the caller's clock.
pub type Millis = u64;

/// How many failures are forgiven, and what follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Failures a client may make within `window` before a lockout.
    pub free: u32,
    pub window: Millis,
    /// The first lockout; each further one doubles, up to `max_lockout`.
    pub lockout: Millis,
    pub max_lockout: Millis,
    /// Clients remembered at most (the one heard from longest ago goes).
    pub max_clients: usize,
    pub ceiling: Option<Ceiling>,
}

/// Failures of all clients together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ceiling {
    /// More than `failures` within `window`: clients that failed within the
    /// window wait until it has passed; others still get their turn.
    Throttle { failures: u32, window: Millis },
    /// More than `failures` within `window`: nobody until [`Limiter::reset`].
    UntilReset { failures: u32, window: Millis },
}

/// Why an attempt is not allowed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// This client is locked out for this long.
    Client { wait: Millis },
    /// Too many failures of all clients: wait this long.
    Throttled { wait: Millis },
    /// Closed until the owner re-opens it.
    Closed,
}

impl Refused {
    /// Seconds to wait, rounded up (`None`: until the owner re-opens it).
    pub fn wait_secs(self) -> Option<u64> {
        match self {
            Refused::Client { wait } | Refused::Throttled { wait } => Some(wait.div_ceil(1000)),
            Refused::Closed => None,
        }
    }
}

/// What a failure led to, for the event the household hears about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Counted; the client may try again.
    Counted,
    /// The client is now locked out for this long.
    LockedOut { wait: Millis },
    /// The ceiling over all clients was reached: closed until reset.
    Closed,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Client {
    /// Failures within the window, oldest first.
    failures: Vec<Millis>,
    /// Locked out until then.
    locked_until: Millis,
    /// Lockouts so far (the next one lasts 2^n times the first).
    lockouts: u32,
    last_seen: Millis,
}

/// The counting; serialisable so that it outlives a restart.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Limiter<K: Eq + Hash> {
    #[serde(skip, default = "Policy::unset")]
    policy: Policy,
    clients: HashMap<K, Client>,
    /// Failures of all clients within the ceiling's window.
    all: Vec<Millis>,
    /// Closed by an [`Ceiling::UntilReset`] ceiling.
    closed: bool,
}

impl Policy {
    fn unset() -> Policy {
        Policy {
            free: 0,
            window: 0,
            lockout: 0,
            max_lockout: 0,
            max_clients: 1,
            ceiling: None,
        }
    }
}

impl<K: Eq + Hash + Clone> Limiter<K> {
    pub fn new(policy: Policy) -> Limiter<K> {
        Limiter {
            policy,
            clients: HashMap::new(),
            all: Vec::new(),
            closed: false,
        }
    }

    /// The same counting under a (perhaps changed) policy: for state read
    /// back from a file.
    pub fn with_policy(mut self, policy: Policy) -> Limiter<K> {
        self.policy = policy;
        self
    }

    /// Whether `client` may try now.
    pub fn check(&mut self, client: &K, now: Millis) -> Result<(), Refused> {
        if self.closed {
            return Err(Refused::Closed);
        }
        self.forget_old(now);
        if let Some(c) = self.clients.get(client) {
            if c.locked_until > now {
                return Err(Refused::Client {
                    wait: c.locked_until - now,
                });
            }
            if let Some(Ceiling::Throttle { failures, window }) = self.policy.ceiling
                && self.all.len() > failures as usize
                && c.last_seen + window > now
            {
                let oldest = self.all[self.all.len() - failures as usize - 1];
                return Err(Refused::Throttled {
                    wait: (oldest + window).saturating_sub(now).max(1),
                });
            }
        }
        Ok(())
    }

    /// A failed attempt by `client`.
    pub fn failed(&mut self, client: &K, now: Millis) -> AfterFailure {
        self.forget_old(now);
        if !self.clients.contains_key(client) && self.clients.len() >= self.policy.max_clients {
            // The client heard from longest ago, not locked out if any other is.
            if let Some(k) = self
                .clients
                .iter()
                .min_by_key(|(_, c)| (c.locked_until > now, c.last_seen))
                .map(|(k, _)| k.clone())
            {
                self.clients.remove(&k);
            }
        }
        let p = self.policy;
        let c = self.clients.entry(client.clone()).or_default();
        c.last_seen = now;
        c.failures.push(now);
        let mut after = AfterFailure::Counted;
        if c.failures.len() > p.free as usize {
            let wait = p
                .lockout
                .saturating_mul(1u64 << c.lockouts.min(30))
                .min(p.max_lockout.max(p.lockout));
            c.locked_until = now + wait;
            c.lockouts += 1;
            c.failures.clear();
            after = AfterFailure::LockedOut { wait };
        }
        self.all.push(now);
        if let Some(Ceiling::UntilReset { failures, .. }) = p.ceiling
            && self.all.len() > failures as usize
        {
            self.closed = true;
            after = AfterFailure::Closed;
        }
        after
    }

    /// A success: the client's failures are forgiven (its lockout history
    /// stays, so that a guesser who also knows one PIN gains nothing).
    pub fn succeeded(&mut self, client: &K) {
        if let Some(c) = self.clients.get_mut(client) {
            c.failures.clear();
        }
    }

    /// Opens what the ceiling closed, and forgets every client's lockout.
    pub fn reset(&mut self) {
        self.closed = false;
        self.all.clear();
        self.clients.clear();
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Clients locked out at `now`, with until when.
    pub fn locked(&self, now: Millis) -> impl Iterator<Item = (K, Millis)> + '_ {
        self.clients
            .iter()
            .filter(move |(_, c)| c.locked_until > now)
            .map(|(k, c)| (k.clone(), c.locked_until))
    }

    fn forget_old(&mut self, now: Millis) {
        let window = self.policy.window;
        let all_window = match self.policy.ceiling {
            Some(Ceiling::Throttle { window, .. } | Ceiling::UntilReset { window, .. }) => window,
            None => 0,
        };
        self.clients.retain(|_, c| {
            c.failures.retain(|t| t + window > now);
            // A client with lockouts is remembered for a day after the last,
            // so that its next lockout is longer; one that failed within
            // the ceiling's window, so that the ceiling finds it.
            !c.failures.is_empty()
                || c.locked_until + 86_400_000 > now
                || c.last_seen + all_window > now
        });
        self.all.retain(|t| t + all_window > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Millis = 60_000;

    fn web() -> Policy {
        Policy {
            free: 5,
            window: 10 * MIN,
            lockout: MIN,
            max_lockout: 60 * MIN,
            max_clients: 4,
            ceiling: Some(Ceiling::Throttle {
                failures: 20,
                window: 60 * MIN,
            }),
        }
    }

    #[test]
    fn one_clients_failures_never_lock_out_another() {
        let mut l = Limiter::new(web());
        for _ in 0..5 {
            assert_eq!(l.check(&"guesser", 0), Ok(()));
            assert_eq!(l.failed(&"guesser", 0), AfterFailure::Counted);
        }
        assert_eq!(
            l.failed(&"guesser", 0),
            AfterFailure::LockedOut { wait: MIN }
        );
        assert_eq!(
            l.check(&"guesser", 1),
            Err(Refused::Client { wait: MIN - 1 })
        );
        assert_eq!(l.check(&"owner", 1), Ok(()));
    }

    #[test]
    fn the_lockout_doubles_while_failures_go_on() {
        let mut l = Limiter::new(web());
        let mut now = 0;
        let mut waits = Vec::new();
        for _ in 0..8 {
            while l.check(&1, now).is_ok() {
                if let AfterFailure::LockedOut { wait } = l.failed(&1, now) {
                    waits.push(wait / MIN);
                }
            }
            now += 61 * MIN;
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
    }

    #[test]
    fn the_ceiling_stops_guessers_but_not_a_new_client() {
        let mut l = Limiter::new(web());
        for g in 0..4 {
            for _ in 0..5 {
                l.failed(&g, 0);
            }
        }
        assert!(l.failed(&0, 0) != AfterFailure::Counted);
        // 21 failures within the hour: guessers wait, a newcomer may try.
        assert!(matches!(l.check(&0, 1), Err(Refused::Client { .. })));
        assert!(matches!(l.check(&1, MIN), Err(Refused::Throttled { .. })));
        assert!(matches!(
            l.check(&2, 11 * MIN),
            Err(Refused::Throttled { .. })
        ));
        assert_eq!(l.check(&9, MIN), Ok(()));
        assert_eq!(l.check(&2, 61 * MIN), Ok(()));
    }

    #[test]
    fn until_reset_closes_for_everyone() {
        let mut l = Limiter::new(Policy {
            ceiling: Some(Ceiling::UntilReset {
                failures: 3,
                window: 1000,
            }),
            ..web()
        });
        for c in 0..3 {
            assert_eq!(l.failed(&c, 0), AfterFailure::Counted);
        }
        assert_eq!(l.failed(&3, 0), AfterFailure::Closed);
        assert_eq!(l.check(&99, 10_000_000), Err(Refused::Closed));
        l.reset();
        assert_eq!(l.check(&99, 10_000_000), Ok(()));
    }

    #[test]
    fn clients_are_bounded_and_state_survives_serialisation() {
        let mut l = Limiter::new(web());
        for c in 0..100 {
            l.failed(&c.to_string(), 5);
        }
        assert!(l.clients.len() <= 4);
        for _ in 0..6 {
            l.failed(&"x".to_string(), 5);
        }
        let text = serde_json::to_string(&l).unwrap();
        let mut back: Limiter<String> = serde_json::from_str::<Limiter<String>>(&text)
            .unwrap()
            .with_policy(web());
        assert!(back.check(&"x".to_string(), 6).is_err());
    }
}
