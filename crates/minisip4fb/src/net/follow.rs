//! The phone follows the network. The Box's name is resolved again when
//! the Box stops answering (a refresh unanswered or failed, its keepalives
//! gone quiet) and at least every [`RESOLVE_EVERY`]; our own address
//! towards the Box (what a socket connected to it would send from) is
//! checked every [`LOCAL_EVERY`]. A change goes to the driver, which
//! registers again at once with the new addresses. All of it runs on the
//! application's runtime, never on the phone's thread: a DNS lookup can
//! take seconds.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::{broadcast, oneshot, watch};

use super::addr::{resolve, route_to};
use super::driver::{Command, Commands};
use super::{Event, Registration};

/// The Box's name is resolved again at least this often.
pub const RESOLVE_EVERY: Duration = Duration::from_secs(3600);
/// Our address towards the Box is looked at this often (a routing-table
/// lookup: no packet leaves).
pub const LOCAL_EVERY: Duration = Duration::from_secs(3);
/// Trouble resolves the name again at most this often.
const RESOLVE_GAP: Duration = Duration::from_secs(5);
/// A lookup that takes longer is given up on until the next reason.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The Box's address and ours, as the phone uses them now.
pub type Addresses = watch::Receiver<(SocketAddr, SocketAddr)>;

/// What is followed.
pub(super) struct Follow {
    /// The Box's name and port; `None` for an IP address (nothing to resolve).
    pub name: Option<(String, u16)>,
    /// Whether the bind address is unspecified, so that our Contact is
    /// whatever address the route to the Box has.
    pub local: bool,
    /// The socket's family: IPv4, or IPv6.
    pub v4: bool,
}

impl Follow {
    /// Follows until the phone's driver stops (its registration channel
    /// closes) or `stop` fires.
    pub(super) async fn run(
        self,
        commands: Commands,
        mut registration: watch::Receiver<Registration>,
        mut events: broadcast::Receiver<Event>,
        addresses: watch::Sender<(SocketAddr, SocketAddr)>,
        mut stop: oneshot::Receiver<()>,
    ) {
        if self.name.is_none() && !self.local {
            return;
        }
        let mut local = tokio::time::interval(LOCAL_EVERY);
        local.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut every = tokio::time::interval(RESOLVE_EVERY);
        every.reset();
        let mut last_lookup: Option<tokio::time::Instant> = None;
        loop {
            let trouble = tokio::select! {
                _ = &mut stop => return,
                _ = local.tick(), if self.local => false,
                _ = every.tick() => true,
                r = registration.changed() => {
                    if r.is_err() {
                        return;
                    }
                    matches!(
                        *registration.borrow_and_update(),
                        Registration::Failed { .. } | Registration::NoAnswer { .. }
                    )
                }
                e = events.recv() => match e {
                    Err(broadcast::error::RecvError::Closed) => return,
                    Ok(Event::RegistrarSilent { .. } | Event::RegistrarQuiet { .. }) => true,
                    _ => continue,
                },
            };
            let (registrar, contact) = *addresses.borrow();
            let mut next = registrar;
            if trouble
                && let Some((host, port)) = &self.name
                && last_lookup.is_none_or(|t| t.elapsed() >= RESOLVE_GAP)
            {
                last_lookup = Some(tokio::time::Instant::now());
                match tokio::time::timeout(RESOLVE_TIMEOUT, resolve(host, *port, self.v4)).await {
                    Ok(Ok(all)) if !all.contains(&registrar) => {
                        next = all[0];
                        tracing::warn!(
                            "the FRITZ!Box's name {host} now resolves to {} (was {}): registering there",
                            next.ip(),
                            registrar.ip()
                        );
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::debug!("{e}"),
                    Err(_) => tracing::debug!("resolving {host} took over {RESOLVE_TIMEOUT:?}"),
                }
            }
            let mut ours = contact;
            if self.local {
                match route_to(next) {
                    Ok(ip) if ip != contact.ip() => {
                        ours = SocketAddr::new(ip, contact.port());
                        tracing::warn!(
                            "our address towards the FRITZ!Box changed from {} to {ip}: registering again with the new Contact",
                            contact.ip()
                        );
                    }
                    Ok(_) => {}
                    // No route for now (the link is down): looked at again.
                    Err(e) => tracing::debug!("{e}"),
                }
            }
            if (next, ours) != (registrar, contact) {
                let (tx, _) = oneshot::channel();
                if commands.send((Command::Readdress(next, ours), tx)).is_err() {
                    return;
                }
                addresses.send_replace((next, ours));
            }
        }
    }
}
