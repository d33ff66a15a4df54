//! The registrar half of the emulated Box (FRITZBOX.md, REGISTER).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::Rng;

use super::{Binding, Fritzbox, Nonce, Report};
use minisip4fb_proto::sip::{self, Request, Response, digest};

/// The Box's realm, even when addressed by IP (FRITZBOX.md).
pub const REALM: &str = "fritz.box";

impl Fritzbox {
    pub(super) fn on_register(&mut self, now: Instant, from: SocketAddr, req: Request) {
        // FRITZ!OS 8.25 silently drops a REGISTER with a user part in the Request-URI.
        if req.uri.as_sip().is_some_and(|u| u.user.is_some()) {
            self.report(Report::Dropped {
                why: format!("Request-URI {} has a user part", req.uri),
            });
            return;
        }
        let h = &req.headers;
        let (Ok(cseq), Ok(to), Some(call_id), Ok(via)) =
            (h.cseq(), h.to(), h.call_id(), h.top_via())
        else {
            self.send(from, self.reply(&req, 400, None, &[]).to_bytes());
            return;
        };
        let call_id = call_id.to_owned();
        let branch = via.branch().unwrap_or_default().to_owned();
        // The authenticated retry must be a new transaction (FRITZBOX.md: reusing the branch gets 481).
        if let Some(seen) = self.branches.get(&branch)
            && *seen != cseq.seq
        {
            self.violation(format!(
                "REGISTER reused branch {branch} with a new CSeq (RFC 3261 §17.1.3)"
            ));
            self.send(from, self.reply(&req, 481, None, &[]).to_bytes());
            return;
        }
        self.branches.insert(branch, cseq.seq);
        if to.tag().is_some() {
            self.violation("REGISTER with a To tag (RFC 3261 §10.2)".into());
        }
        let user = to
            .uri
            .as_sip()
            .and_then(|u| u.user_unescaped())
            .unwrap_or_default();
        let password = self.store.with(|s| s.password(&user));
        let Some(password) = password else {
            self.report(Report::Forbidden {
                user: user.clone(),
                why: "no such IP phone".into(),
            });
            self.send(from, self.reply(&req, 403, None, &[]).to_bytes());
            return;
        };
        let Some(auth) = h.get("Authorization") else {
            self.challenge(from, &req, &user, false);
            return;
        };
        let fields = digest::parse_auth(auth).unwrap_or_default();
        let field = |k: &str| digest::param(&fields, k).map(str::to_owned);
        if field("uri").as_deref() != Some(req.uri.to_string().as_str()) {
            self.violation(format!(
                "digest uri {:?} differs from the Request-URI {} (RFC 2617 §3.2.2.5)",
                field("uri"),
                req.uri
            ));
        }
        let ok = match digest::verify(auth, &password, "REGISTER") {
            Ok((u, ok)) => ok && u == user && field("realm").as_deref() == Some(REALM),
            Err(_) => false,
        };
        let nonce = field("nonce").unwrap_or_default();
        let fresh = match (self.nonces.get(&nonce), self.cfg.nonce_lifetime) {
            (None, _) => false,
            (Some(n), Some(life)) => now.duration_since(n.issued) < life,
            (Some(_), None) => true,
        };
        // FRITZBOX.md: every refresh may be challenged again; only a nonce
        // that already served a REGISTER is, so the retry always succeeds.
        let reused = self.nonces.get(&nonce).is_some_and(|n| n.used);
        let rechallenge = reused && self.rng.random_bool(self.cfg.rechallenge.clamp(0.0, 1.0));
        if !ok {
            self.report(Report::Forbidden {
                user,
                why: "wrong password".into(),
            });
            self.send(from, self.reply(&req, 403, None, &[]).to_bytes());
            return;
        }
        if !fresh || rechallenge {
            // Right password, old or unknown nonce (e.g. after a reboot):
            // the Box's challenge form has no stale=true; RFC 7616 servers
            // (the qop variant) say it.
            self.challenge(from, &req, &user, !fresh && self.cfg.qop);
            return;
        }
        if let Some(n) = self.nonces.get_mut(&nonce) {
            n.used = true;
        }
        self.bind(now, from, &req, user, call_id, cseq.seq);
    }

    /// A nonce of 16 upper-case hex digits, remembered with its time.
    pub(super) fn new_nonce(&mut self) -> String {
        let nonce = self.hex16();
        self.nonces.insert(
            nonce.clone(),
            Nonce {
                issued: Instant::now(),
                used: false,
            },
        );
        nonce
    }

    fn challenge(&mut self, from: SocketAddr, req: &Request, user: &str, stale: bool) {
        let nonce = self.new_nonce();
        let mut v = format!("Digest realm=\"{REALM}\", nonce=\"{nonce}\"");
        if self.cfg.qop {
            v.push_str(", qop=\"auth\", algorithm=MD5");
        }
        if stale {
            v.push_str(", stale=true");
        }
        self.report(Report::Challenged {
            user: user.to_owned(),
            stale,
        });
        let tag = self.hex16();
        let r = self.reply(req, 401, Some(&tag), &[("WWW-Authenticate", &v)]);
        self.send(from, r.to_bytes());
    }

    fn bind(
        &mut self,
        now: Instant,
        from: SocketAddr,
        req: &Request,
        user: String,
        call_id: String,
        cseq: u32,
    ) {
        let h = &req.headers;
        let contacts = h.name_addrs("Contact").unwrap_or_default();
        let Some(contact) = contacts.first() else {
            // A query for the current bindings (RFC 3261 §10.2.3).
            self.send(from, self.reply(req, 200, None, &[]).to_bytes());
            return;
        };
        let requested = contact
            .param("expires")
            .flatten()
            .and_then(sip::lex::parse_delta_seconds)
            .or(h.expires())
            .unwrap_or(3600);
        let instance = contact
            .param("+sip.instance")
            .flatten()
            .map(sip::lex::unquote);
        let key = instance.clone().unwrap_or_else(|| call_id.clone());
        let contact_uri = contact.uri.to_string();
        let contact_addr = match contact.uri.as_sip() {
            Some(u) => match u.host.ip() {
                Some(ip) => SocketAddr::new(ip, u.port.unwrap_or(5060)),
                None => {
                    self.violation(format!(
                        "Contact {contact_uri} is not an IP address the Box can reach"
                    ));
                    from
                }
            },
            None => from,
        };
        // A phone that restarts begins a new Call-ID at CSeq 1, which is
        // fine; a new Call-ID in the middle of its life piles up bindings
        // on the Box (FRITZBOX.md), and so does a second binding for the
        // same contact.
        if let Some(old) = self.bindings.get(&key) {
            if old.call_id != call_id && cseq > 1 {
                self.violation(format!("new Call-ID {call_id} for an existing binding: bindings pile up (RFC 3261 §10.2.4)"));
            } else if old.call_id == call_id && cseq <= old.last_cseq {
                self.violation(format!(
                    "CSeq {cseq} did not increase within Call-ID {call_id} (RFC 3261 §10.2.4)"
                ));
            }
        } else if cseq > 1
            && self
                .bindings
                .values()
                .any(|b| b.contact == contact_addr && b.call_id != call_id && b.user == user)
        {
            self.violation(format!(
                "a second binding for {contact_uri} under a new Call-ID: bindings pile up"
            ));
        }
        let tag = self.hex16();
        if requested == 0 {
            self.bindings.remove(&key);
            let left = self.bindings.len();
            self.report(Report::Unregistered {
                user,
                bindings: left,
            });
            self.send(from, self.reply(req, 200, Some(&tag), &[]).to_bytes());
            return;
        }
        // The Box grants its own lifetime, never more than asked.
        let granted = self.cfg.expires.min(requested);
        let refresh = self.bindings.contains_key(&key);
        self.bindings.insert(
            key,
            Binding {
                user: user.clone(),
                contact: contact_addr,
                contact_uri: contact_uri.clone(),
                call_id,
                instance,
                expires_at: now + Duration::from_secs(granted.into()),
                registered_at: now,
                last_cseq: cseq,
            },
        );
        // Every binding of the account, ours first, as RFC 3261 §10.3
        // (step 8) has a registrar answer; whether the Box lists the others
        // is [unknown] (FRITZBOX.md).
        let mut contact_hdr = format!("<{contact_uri}>;expires={granted}");
        for b in self
            .bindings
            .values()
            .filter(|b| b.user == user && b.contact_uri != contact_uri)
        {
            let left = b.expires_at.saturating_duration_since(now).as_secs();
            contact_hdr.push_str(&format!(", <{}>;expires={left}", b.contact_uri));
        }
        let mut r = self.reply(req, 200, Some(&tag), &[("Contact", &contact_hdr)]);
        // Whether the Box adds an Expires header is [unknown] (FRITZBOX.md):
        // the seed decides; the Contact's expires is what counts.
        if self.cfg.seed & 4 != 0 {
            r.headers.push("Expires", granted.to_string());
        }
        self.send(from, r.to_bytes());
        let bindings = self.bindings.len();
        self.report(Report::Registered {
            user,
            contact: contact_uri,
            expires: granted,
            bindings,
            refresh,
        });
    }

    /// A response as the Box writes it: Via with received/rport filled in
    /// (RFC 3581), a 16-hex To tag, `User-Agent: FRITZ!OS`.
    pub(super) fn reply(
        &self,
        req: &Request,
        status: u16,
        tag: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Response {
        let mut r = Response::new(sip::StatusCode(status), sip::StatusCode(status).reason());
        let h = &req.headers;
        for (i, v) in h.get_all("Via").enumerate() {
            if i == 0 {
                r.headers.push("Via", self.stamp_via(v));
            } else {
                r.headers.push("Via", v);
            }
        }
        if let Some(f) = h.get("From") {
            r.headers.push("From", f);
        }
        if let Some(t) = h.get("To") {
            match tag {
                Some(tag) if !t.contains("tag=") => r.headers.push("To", format!("{t};tag={tag}")),
                _ => r.headers.push("To", t),
            }
        }
        for n in ["Call-ID", "CSeq"] {
            if let Some(v) = h.get(n) {
                r.headers.push(n, v);
            }
        }
        for (n, v) in extra {
            r.headers.push(*n, *v);
        }
        r.headers.push("User-Agent", "FRITZ!OS");
        r
    }

    fn stamp_via(&self, via: &str) -> String {
        // The source is only known per datagram; the driver passes the last one.
        let Some(src) = self.last_source else {
            return via.to_owned();
        };
        let mut v = via.to_owned();
        if let Some(i) = v.find(";rport") {
            let after = &v[i + 6..];
            if !after.starts_with('=') {
                v.insert_str(i + 6, &format!("={}", src.port()));
            }
        }
        format!("{v};received={}", src.ip())
    }
}
