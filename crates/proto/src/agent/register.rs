//! Registration at the FRITZ!Box (RFC 3261 §10): challenge, granted
//! expiry, refresh, re-registration with backoff forever, unregister.

use std::time::{Duration, Instant};

use rand::Rng;

use super::build::{self, ALLOW};
use super::transaction::{ClientTx, Fire, Retransmit, TIMEOUT};
use super::{Ctx, Event, SILENT_AFTER};
use crate::sip::{Method, Response, StatusCode, Uri, name};

/// Why a registration attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    /// 403 (or a 401 to our first answer): wrong user name or password.
    #[error("the FRITZ!Box rejected user {user}: wrong user name or password ({status})")]
    Forbidden {
        /// The user name we tried.
        user: String,
        /// The Box's status code.
        status: StatusCode,
    },
    /// 404: no IP phone of this name.
    #[error("the FRITZ!Box does not know user {user} (404): check the IP phone's user name")]
    NotFound {
        /// The user name we tried.
        user: String,
    },
    /// A second 401 with the same nonce: the password is wrong.
    #[error(
        "the FRITZ!Box did not accept our credentials for user {user} (repeated 401): check the password"
    )]
    BadCredentials {
        /// The user name we tried.
        user: String,
    },
    /// No answer within 64·T1 (RFC 3261 §17.1.2.2, timer F).
    #[error("no answer from the registrar at {0} (is the address right, is the Box up?)")]
    Timeout(std::net::SocketAddr),
    /// Any other final failure.
    #[error("the registrar answered {status} {reason}")]
    Rejected {
        /// The status code.
        status: StatusCode,
        /// Its reason phrase.
        reason: String,
    },
    /// A 401/407 whose challenge we cannot answer (algorithm, qop).
    #[error("the registrar's challenge is unusable: {0}")]
    BadChallenge(#[from] super::build::ChallengeError),
}

impl RegistrationError {
    /// Wrong account data: retrying the same request cannot help.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            RegistrationError::Forbidden { .. }
                | RegistrationError::NotFound { .. }
                | RegistrationError::BadCredentials { .. }
        )
    }
}

#[derive(Debug)]
enum State {
    Idle,
    /// A REGISTER is in flight.
    Trying {
        tx: ClientTx,
        unregister: bool,
        /// Resends without any answer so far (none once one came).
        unanswered: Option<u8>,
    },
    /// Bound; refresh at `refresh_at`.
    Registered {
        refresh_at: Instant,
    },
    /// Waiting to try again.
    Backoff {
        retry_at: Instant,
    },
    /// Gave up (permanent error before ever registering).
    Failed,
    Unregistered,
}

/// The registration state machine. One Call-ID and From-tag for the phone's
/// life (FRITZBOX.md: a new Call-ID per REGISTER piles up bindings).
pub(crate) struct Registration {
    call_id: String,
    from_tag: String,
    cseq: u32,
    state: State,
    /// The binding is valid until then (survives a failing refresh).
    bound_until: Option<Instant>,
    ever_registered: bool,
    /// Bindings of our account that are not ours, at the last grant.
    others: usize,
    failures: u32,
    /// The requested lifetime; raised by a 423 (RFC 3261 §10.2.8).
    expires: u32,
    /// The nonce our last request answered, and its count.
    answered_nonce: Option<String>,
    challenge: Option<build::Auth>,
    nc: u32,
}

impl Registration {
    pub fn new(ctx: &mut Ctx) -> Registration {
        let call_id = format!(
            "{}@{}",
            ctx.token().as_str().to_lowercase(),
            crate::sip::Host::Ip(ctx.cfg.contact.ip())
        );
        Registration {
            call_id,
            from_tag: ctx.token().as_str().to_owned(),
            cseq: 0,
            state: State::Idle,
            bound_until: None,
            ever_registered: false,
            others: 0,
            failures: 0,
            expires: ctx.cfg.expires,
            answered_nonce: None,
            challenge: None,
            nc: 0,
        }
    }

    pub fn is_bound(&self, now: Instant) -> bool {
        self.bound_until.is_some_and(|t| t > now)
    }

    pub fn deadline(&self) -> Option<Instant> {
        let d = match &self.state {
            State::Trying { tx, .. } => Some(tx.timer.deadline()),
            State::Registered { refresh_at } => Some(*refresh_at),
            State::Backoff { retry_at } => Some(*retry_at),
            State::Idle | State::Failed | State::Unregistered => None,
        };
        // Also wake when the binding lapses, to report it.
        match (d, self.bound_until) {
            (Some(d), Some(b)) => Some(d.min(b)),
            (d, b) => d.or(b),
        }
    }

    pub fn start(&mut self, ctx: &mut Ctx, now: Instant) {
        self.failures = 0;
        self.send(ctx, now, false);
    }

    /// Refreshes a binding we hold now, not at its time (the Box went
    /// quiet: it may have forgotten us); does nothing while a REGISTER is
    /// in flight or without a binding.
    pub fn refresh_now(&mut self, ctx: &mut Ctx, now: Instant) {
        if matches!(self.state, State::Registered { .. }) {
            self.send(ctx, now, false);
        }
    }

    /// Our or the Box's address changed: register again now, unless
    /// registering is over (shut down, or refused for good). A new Box
    /// gets a fresh, unchallenged REGISTER.
    pub fn readdressed(&mut self, ctx: &mut Ctx, now: Instant, new_registrar: bool) {
        if matches!(
            self.state,
            State::Idle | State::Failed | State::Unregistered
        ) || matches!(
            self.state,
            State::Trying {
                unregister: true,
                ..
            }
        ) {
            return;
        }
        if new_registrar {
            self.challenge = None;
            self.answered_nonce = None;
            self.nc = 0;
        }
        self.start(ctx, now);
    }

    /// Removes our binding. Without one (never registered, or it ran
    /// out) there is nothing to remove and nothing to wait for: a Box that
    /// never answered would only make the shutdown wait 32 s for nothing.
    pub fn unregister(&mut self, ctx: &mut Ctx, now: Instant) {
        if self.is_bound(now) {
            self.send(ctx, now, true);
        } else {
            self.state = State::Unregistered;
            ctx.emit(Event::Unregistered);
        }
    }

    /// Sends a REGISTER as a new transaction: new branch, CSeq+1, same
    /// Call-ID and From-tag (RFC 3261 §10.2.4, FRITZBOX.md).
    fn send(&mut self, ctx: &mut Ctx, now: Instant, unregister: bool) {
        self.cseq += 1;
        let branch = ctx.branch();
        let cfg = &ctx.cfg;
        let from = format!("<{}>;tag={}", cfg.aor(), self.from_tag);
        let to = format!("<{}>", cfg.aor());
        let mut req = build::request(
            ctx,
            build::Dialog {
                method: Method::Register,
                uri: Uri::Sip(cfg.registrar_uri()),
                branch: &branch,
                from: &from,
                to: &to,
                call_id: &self.call_id,
                cseq: self.cseq,
                route: &[],
            },
        );
        let h = &mut req.headers;
        h.push(
            "Contact",
            format!(
                "<{}>;+sip.instance=\"<{}>\"",
                cfg.contact_uri(),
                cfg.instance
            ),
        );
        h.push(
            "Expires",
            if unregister { 0 } else { self.expires }.to_string(),
        );
        h.push(name::ALLOW, ALLOW);
        if let Some(auth) = &self.challenge {
            self.nc += 1;
            self.answered_nonce = Some(auth.challenge.nonce.clone());
            build::authorize(ctx, &mut req, auth, self.nc);
        } else {
            self.answered_nonce = None;
        }
        let data = req.to_bytes();
        let dest = ctx.cfg.registrar;
        ctx.send(dest, data.clone());
        self.state = State::Trying {
            tx: ClientTx {
                branch,
                cseq: self.cseq,
                dest,
                timer: Retransmit::new(now, data),
            },
            unregister,
            unanswered: Some(0),
        };
    }

    pub fn on_timeout(&mut self, ctx: &mut Ctx, now: Instant) {
        if let Some(b) = self.bound_until
            && b <= now
        {
            self.bound_until = None;
            tracing::warn!("registration expired without a successful refresh");
        }
        match &mut self.state {
            State::Trying {
                tx,
                unregister,
                unanswered,
            } => match tx.timer.poll(now) {
                Fire::Resend => {
                    let (dest, data) = (tx.dest, tx.timer.data.clone());
                    ctx.send(dest, data);
                    if let Some(n) = unanswered {
                        *n += 1;
                        if *n == SILENT_AFTER && !*unregister {
                            ctx.emit(Event::RegistrarSilent {
                                registrar: dest,
                                waited: TIMEOUT - tx.timer.give_up.saturating_duration_since(now),
                            });
                        }
                    }
                }
                Fire::GaveUp if *unregister => {
                    self.state = State::Unregistered;
                    self.bound_until = None;
                    ctx.emit(Event::Unregistered);
                }
                Fire::GaveUp => {
                    let err = RegistrationError::Timeout(ctx.cfg.registrar);
                    self.fail(ctx, now, err);
                }
                Fire::Nothing => {}
            },
            State::Registered { refresh_at } if *refresh_at <= now => self.send(ctx, now, false),
            State::Backoff { retry_at } if *retry_at <= now => self.send(ctx, now, false),
            _ => {}
        }
    }

    /// Handles a response if it belongs to our REGISTER transaction.
    pub fn on_response(&mut self, ctx: &mut Ctx, now: Instant, branch: &str, r: &Response) -> bool {
        let State::Trying {
            tx,
            unregister,
            unanswered,
        } = &mut self.state
        else {
            return false;
        };
        if tx.branch != branch || r.headers.cseq().map(|c| &c.method) != Ok(&Method::Register) {
            return false;
        }
        *unanswered = None;
        let unregister = *unregister;
        match r.status {
            s if s.is_provisional() => tx.timer.provisional(now),
            s if s.is_success() && unregister => {
                self.state = State::Unregistered;
                self.bound_until = None;
                ctx.emit(Event::Unregistered);
            }
            s if s.is_success() => self.registered(ctx, now, r),
            StatusCode::UNAUTHORIZED | StatusCode::PROXY_AUTHENTICATION_REQUIRED => {
                self.challenged(ctx, now, r, unregister)
            }
            StatusCode::INTERVAL_TOO_BRIEF => {
                // RFC 3261 §10.2.8: ask again with at least Min-Expires.
                match r
                    .headers
                    .get(name::MIN_EXPIRES)
                    .and_then(crate::sip::lex::parse_delta_seconds)
                {
                    Some(min) if min > self.expires => {
                        self.expires = min;
                        self.send(ctx, now, unregister);
                    }
                    _ => self.fail(ctx, now, rejected(r)),
                }
            }
            StatusCode::FORBIDDEN => {
                let user = ctx.cfg.user.clone();
                let status = StatusCode::FORBIDDEN;
                self.fail(ctx, now, RegistrationError::Forbidden { user, status })
            }
            StatusCode::NOT_FOUND => {
                let user = ctx.cfg.user.clone();
                self.fail(ctx, now, RegistrationError::NotFound { user })
            }
            _ if unregister => {
                self.state = State::Unregistered;
                self.bound_until = None;
                ctx.emit(Event::Unregistered);
            }
            _ => self.fail(ctx, now, rejected(r)),
        }
        true
    }

    fn challenged(&mut self, ctx: &mut Ctx, now: Instant, r: &Response, unregister: bool) {
        let auth = match build::challenge(r) {
            Ok(a) => a,
            Err(e) => return self.fail(ctx, now, RegistrationError::BadChallenge(e)),
        };
        let ch = &auth.challenge;
        // The same nonce refused again, and not for staleness: the
        // password is wrong (RFC 2617 §3.2.1 stale flag).
        if self.answered_nonce.as_deref() == Some(ch.nonce.as_str()) && !ch.stale {
            let user = ctx.cfg.user.clone();
            return self.fail(ctx, now, RegistrationError::BadCredentials { user });
        }
        if self
            .challenge
            .as_ref()
            .is_none_or(|c| c.challenge.nonce != ch.nonce)
        {
            self.nc = 0;
        }
        self.challenge = Some(auth);
        self.send(ctx, now, unregister);
    }

    fn registered(&mut self, ctx: &mut Ctx, now: Instant, r: &Response) {
        // The granted lifetime: our Contact's expires param, else Expires,
        // else what we asked for (RFC 3261 §10.2.4).
        let ours = ctx.cfg.contact_uri();
        let contacts = r.headers.name_addrs("Contact").unwrap_or_default();
        let is_ours = |c: &crate::sip::NameAddr| {
            c.uri.as_sip().is_some_and(|u| {
                u.host == ours.host && u.port.unwrap_or(5060) == ours.port.unwrap_or(5060)
            })
        };
        let from_contact = contacts
            .iter()
            .find(|c| is_ours(c))
            .or(contacts.first())
            .and_then(|c| c.param("expires").flatten())
            .and_then(crate::sip::lex::parse_delta_seconds);
        // The registrar lists every binding of the account (RFC 3261
        // §10.3, step 8): another one is a second phone or daemon with our
        // user name, and the Box rings both. Said when it changes.
        let others: Vec<String> = contacts
            .iter()
            .filter(|c| !is_ours(c))
            .map(|c| c.uri.to_string())
            .collect();
        if others.len() != self.others {
            self.others = others.len();
            if !others.is_empty() {
                tracing::warn!(
                    "the FRITZ!Box holds {} other binding(s) of user {} ({}): another phone or minisip4fb registers with this account, and the Box rings both; stop the other one or give it an IP phone of its own",
                    others.len(),
                    ctx.cfg.user,
                    others[..others.len().min(3)].join(", ")
                );
            }
        }
        let granted = from_contact.or(r.headers.expires()).unwrap_or(self.expires);
        if granted == 0 {
            return self.fail(
                ctx,
                now,
                RegistrationError::Rejected {
                    status: r.status,
                    reason: "binding granted for 0 s".into(),
                },
            );
        }
        let lifetime = Duration::from_secs(u64::from(granted));
        // Refresh at ~70 % of the grant (FRITZBOX.md: 50–75 %), and at least
        // every `max_refresh` so a rebooted Box gets our binding back soon.
        let refresh = (lifetime * 7 / 10)
            .min(ctx.cfg.max_refresh)
            .max(Duration::from_millis(500));
        let was_bound = self.is_bound(now);
        self.bound_until = Some(now + lifetime);
        self.state = State::Registered {
            refresh_at: now + refresh,
        };
        self.failures = 0;
        self.ever_registered = true;
        if was_bound {
            tracing::debug!("registration refreshed for {granted} s");
        }
        ctx.emit(Event::Registered { expires: lifetime });
    }

    /// Records a failure; retries with exponential backoff (1 s doubling,
    /// capped at 30 s, ±20 % jitter) unless the account data is wrong and
    /// we never got in. After a first success every failure is transient:
    /// the Box may be rebooting (FRITZBOX.md).
    fn fail(&mut self, ctx: &mut Ctx, now: Instant, err: RegistrationError) {
        self.challenge = None;
        self.answered_nonce = None;
        if err.is_permanent() && !self.ever_registered {
            self.state = State::Failed;
            ctx.emit(Event::RegistrationFailed {
                reason: err,
                retry_in: None,
            });
            return;
        }
        let base = Duration::from_secs(1u64 << self.failures.min(5)).min(Duration::from_secs(30));
        self.failures += 1;
        let jitter = ctx.rng.random_range(0.8..1.2);
        let delay = base.mul_f64(jitter);
        self.state = State::Backoff {
            retry_at: now + delay,
        };
        ctx.emit(Event::RegistrationFailed {
            reason: err,
            retry_in: Some(delay),
        });
    }
}

fn rejected(r: &Response) -> RegistrationError {
    RegistrationError::Rejected {
        status: r.status,
        reason: r.reason.clone(),
    }
}
