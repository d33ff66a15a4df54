//! Placing a call: the INVITE as the Box sends it, the SDP offer, and
//! requests inside the call's dialog.

use super::*;

impl Fritzbox {
    /// Rings the most recently registered phone. (The Box rings every
    /// device of the ring group; one binding is what the tests need.)
    pub(crate) fn place_call(
        &mut self,
        now: Instant,
        mut spec: CallSpec,
        reply: oneshot::Sender<CallReport>,
    ) {
        // The call monitor sees every call from outside, before the Box
        // bars it or looks for a phone (FRITZBOX.md).
        if !spec.caller.is_internal() {
            let line = self
                .lines
                .ring(spec.caller.number().unwrap_or_default(), &spec.called);
            self.report(Report::Monitor(line));
        }
        if let Some(number) = spec.caller.number().map(str::to_owned)
            && !spec.caller.is_internal()
        {
            let (name, barred) = self
                .store
                .with(|s| (s.name_of(&number), s.is_barred(&number)));
            if barred {
                self.calls.next_id += 1;
                let report = CallReport::new(CallOutcome::BarredByBox);
                self.list_call(&spec, &report, 0);
                self.report(Report::CallEnded {
                    call: self.calls.next_id,
                    report: report.clone(),
                });
                let _ = reply.send(report);
                return;
            }
            // FRITZBOX.md: a phonebook hit arrives with the contact's name;
            // without one the display name is absent or the number itself.
            if let Caller::National(_) | Caller::International(_) = spec.caller {
                let name = name.or_else(|| self.rng.random_bool(0.5).then(|| number.clone()));
                if let Some(name) = name {
                    spec.caller = Caller::Named { number, name };
                }
            }
        }
        let Some(binding) = self
            .bindings
            .values()
            .filter(|b| b.expires_at > now)
            .max_by_key(|b| b.registered_at)
            .cloned()
        else {
            let report = CallReport::new(CallOutcome::NoBinding);
            self.list_call(&spec, &report, 0);
            let _ = reply.send(report);
            return;
        };
        self.calls.next_id += 1;
        let id = self.calls.next_id;
        let (from_tag, branch) = (self.hex16(), format!("z9hG4bK{}", self.hex16()));
        let call_id = format!("{}@{}", self.hex16(), self.addr.ip());
        let cseq = self.rng_u32() % 1000 + 1;
        let our_contact = format!(
            "sip:{}{}@{}",
            self.hex16().to_lowercase(),
            self.hex16().to_lowercase(),
            self.host_port()
        );
        let ip = self.addr.ip();
        let family = if ip.is_ipv6() { "IP6" } else { "IP4" };
        // The call's own audio end: its port goes into the offer.
        let media = std::net::UdpSocket::bind(SocketAddr::new(ip, 0))
            .and_then(|s| Ok((s.local_addr()?.port(), s)))
            .and_then(|(port, s)| Ok((port, crate::media::start(s, now, self.store.clone())?)));
        let (media_port, media) = match media {
            Ok((port, tx)) => (port, Some(tx)),
            Err(e) => {
                tracing::warn!("emulator: no RTP socket for a call: {e}");
                (7078, None)
            }
        };
        let offer = self.offer();
        let pts = offer
            .iter()
            .map(|(pt, _)| pt.to_string())
            .collect::<Vec<_>>();
        let mut sdp = format!(
            "v=0\r\no=user 3525 3525 IN {family} {ip}\r\ns=call\r\nc=IN {family} {ip}\r\nt=0 0\r\nm=audio {media_port} RTP/AVP {}\r\n",
            pts.join(" ")
        );
        for (pt, enc) in offer {
            sdp.push_str(&format!("a=rtpmap:{pt} {enc}\r\n"));
        }
        sdp.push_str(&format!(
            "a=fmtp:{} 0-15\r\na=sendrecv\r\n",
            offer[OFFER.len() - 1].0
        ));
        let mut req = Request::new(
            Method::Invite,
            sip::parse::parse_request_uri(&binding.contact_uri),
        );
        let h = &mut req.headers;
        h.push(
            "Via",
            format!("SIP/2.0/UDP {};branch={branch}", self.host_port()),
        );
        h.push("From", spec.caller.header_value(&from_tag));
        h.push("To", format!("<{}>", binding.contact_uri));
        h.push("Call-ID", &call_id);
        h.push("CSeq", format!("{cseq} INVITE"));
        h.push("Contact", format!("<{our_contact}>"));
        h.push("Max-Forwards", "70");
        // FRITZBOX.md: an internal call reads `**9` whatever was dialled.
        let called = if spec.caller.is_internal() {
            "**9"
        } else {
            &spec.called
        };
        h.push("P-Called-Party-ID", format!("<sip:{called}@fritz.box>"));
        h.push("Supported", "100rel,replaces,timer");
        h.push("Session-Expires", "600;refresher=uac");
        h.push("Min-SE", "90");
        // FRITZBOX.md: the Box's INVITE says it rings for 120 s (RFC 3261 §20.19).
        h.push("Expires", "120");
        h.push("Allow-Events", "telephone-event,refer");
        h.push("Allow", "INVITE, ACK, OPTIONS, CANCEL, BYE, UPDATE, PRACK, INFO, SUBSCRIBE, NOTIFY, REFER, MESSAGE, PUBLISH");
        h.push(
            "User-Agent",
            "AVM FRITZ!Box 7590 154.07.57 (emulated by minisip4fb)",
        );
        h.push("Content-Type", "application/sdp");
        req.body = sdp.into_bytes();
        let invite = req.to_bytes();
        self.send(binding.contact, invite.clone());
        self.report(Report::CallPlaced {
            call: id,
            caller: spec.caller.to_string(),
            to: binding.contact,
        });
        let call = OutCall {
            id,
            reply: Some(reply),
            call_id: call_id.clone(),
            from_tag,
            branch,
            cseq,
            uri: binding.contact_uri.clone(),
            dest: binding.contact,
            invite,
            our_contact,
            started: now,
            timer_b: now + TIMEOUT,
            cancel_at: now + spec.cancel_after,
            hang_up_at: None,
            phase: Phase::Calling {
                next: now + T1,
                interval: T1,
            },
            to_header: None,
            phone_target: None,
            ack: None,
            report: CallReport::new(CallOutcome::NoAnswer),
            user: binding.user.clone(),
            ringing_at: None,
            answered_at: None,
            final_status: None,
            bye_challenge: None,
            media,
            speaking: false,
            info_keys: None,
            dialog_cseq: cseq,
            spec,
        };
        self.calls.calls.insert(call_id, call);
    }

    /// The offer with telephone-event at 101 or, by the seed, at 100:
    /// FRITZBOX.md has it [unknown], so phones must read the rtpmap.
    pub(super) fn offer(&self) -> [(u8, &'static str); 6] {
        let mut o = OFFER;
        if self.cfg.seed & 2 != 0 {
            o[OFFER.len() - 1].0 = 100;
        }
        o
    }

    pub(super) fn rng_u32(&mut self) -> u32 {
        self.rng.random()
    }

    pub(crate) fn host_port(&self) -> String {
        format!("{}:{}", sip::Host::Ip(self.addr.ip()), self.addr.port())
    }

    /// A request inside the call's dialog, From/To as the caller side.
    pub(super) fn in_dialog(
        &self,
        c: &OutCall,
        method: Method,
        cseq: u32,
        branch: &str,
        to: &str,
    ) -> Request {
        let mut r = Request::new(method.clone(), sip::parse::parse_request_uri(&c.uri));
        let h = &mut r.headers;
        h.push(
            "Via",
            format!("SIP/2.0/UDP {};branch={branch}", self.host_port()),
        );
        h.push("From", c.spec.caller.header_value(&c.from_tag));
        h.push("To", to);
        h.push("Call-ID", &c.call_id);
        h.push("CSeq", format!("{cseq} {method}"));
        h.push("Max-Forwards", "70");
        h.push(
            "User-Agent",
            "AVM FRITZ!Box 7590 154.07.57 (emulated by minisip4fb)",
        );
        r
    }
}
