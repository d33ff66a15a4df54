//! The context the agent's state machines share and write to: the
//! config, the random source, the output queue and our addresses as every
//! message carries them (made once per address, not per message).

use std::collections::VecDeque;
use std::net::SocketAddr;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::{CallId, Config, Event, Output, Queued};
use crate::sip::{self, Host};

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// A tag of ours: 16 hex digits, kept inline (a call's tag costs no
/// allocation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token([u8; 16]);

impl Token {
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Shared context the state machines write to.
pub(crate) struct Ctx {
    pub cfg: Config,
    pub rng: SmallRng,
    pub out: VecDeque<Queued>,
    /// Our Contact header value, `<sip:620@192.168.178.20:5062>`, made
    /// once: every answer carries it.
    pub contact: String,
    /// Our Via up to the branch: `SIP/2.0/UDP 192.168.178.20:5062;branch=`.
    via_start: String,
    /// Our media address in SDP: `IP4 192.168.178.20`.
    pub media: String,
}

impl Ctx {
    pub(super) fn new(cfg: Config) -> Ctx {
        let mut ctx = Ctx {
            rng: SmallRng::seed_from_u64(cfg.seed),
            contact: String::new(),
            via_start: String::new(),
            media: String::new(),
            cfg,
            out: VecDeque::new(),
        };
        ctx.set_contact(ctx.cfg.contact);
        ctx
    }

    /// Our address, and everything made of it.
    pub(super) fn set_contact(&mut self, contact: SocketAddr) {
        self.cfg.contact = contact;
        let (ip, port) = (Host::Ip(contact.ip()), contact.port());
        self.contact = format!("<{}>", self.cfg.contact_uri());
        self.via_start = format!("SIP/2.0/UDP {ip}:{port};branch=");
        self.media = sip::sdp::address(contact.ip());
    }

    /// Our Via, asking for `rport` (RFC 3581) so answers find us behind NAT.
    pub fn via(&self, branch: &str) -> String {
        [self.via_start.as_str(), branch, ";rport"].concat()
    }

    /// 16 random hex digits: tags and the unique part of branches.
    pub fn token(&mut self) -> Token {
        let v = self.rng.random::<u64>();
        Token(std::array::from_fn(|i| {
            HEX[(v >> ((15 - i) * 4)) as usize & 15]
        }))
    }

    pub fn branch(&mut self) -> String {
        let mut s = String::with_capacity(23);
        s.push_str(sip::header::BRANCH_COOKIE);
        s.push_str(self.token().as_str());
        s
    }

    pub(super) fn trace(to: SocketAddr, data: &[u8]) {
        tracing::trace!(target: "minisip4fb::wire", "send to {to}:\n{}", sip::redacted(data));
    }

    pub fn send(&mut self, to: SocketAddr, data: Vec<u8>) {
        Ctx::trace(to, &data);
        self.out
            .push_back(Queued::Out(Output::Transmit { to, data }));
    }

    /// Makes the call's BYE once what is queued before is sent.
    pub fn prepare_bye(&mut self, call: CallId) {
        self.out.push_back(Queued::PrepareBye(call));
    }

    pub fn emit(&mut self, e: Event) {
        self.out.push_back(Queued::Out(Output::Event(e)));
    }
}
