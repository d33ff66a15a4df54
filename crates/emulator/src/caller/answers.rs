//! What the phone answers to a placed call: its responses to the INVITE
//! (and the ACK), its BYE, and the SDP answer checked.

use super::*;

impl Fritzbox {
    pub(crate) fn on_response(&mut self, now: Instant, _from: SocketAddr, r: Response) {
        let (Some(call_id), Ok(cseq)) = (r.headers.call_id().map(str::to_owned), r.headers.cseq())
        else {
            return;
        };
        if cseq.method == Method::Options {
            if self.options_pending.remove(&call_id).is_some() {
                self.report(Report::Options {
                    answered: r.status.0 < 300,
                });
            }
            return;
        }
        let Some(mut c) = self.calls.calls.remove(&call_id) else {
            return;
        };
        let via_ok = r
            .headers
            .top_via()
            .ok()
            .and_then(|v| v.branch().map(str::to_owned));
        match cseq.method {
            Method::Invite if via_ok.as_deref() == Some(c.branch.as_str()) => {
                self.on_invite_response(now, &mut c, &r)
            }
            Method::Bye if r.status.0 >= 200 => {
                if matches!(c.phase, Phase::HangingUp { .. }) {
                    c.report.outcome = CallOutcome::AnsweredHungUpByCaller;
                    self.finish(now, &mut c);
                }
            }
            Method::Cancel if r.status.0 >= 200 => {
                if let Phase::Cancelling { next, .. } = &mut c.phase {
                    // 200 to CANCEL: stop resending it, wait for the 487.
                    *next = c.timer_b;
                }
            }
            _ => {}
        }
        self.calls.calls.insert(call_id, c);
    }

    pub(super) fn on_invite_response(&mut self, now: Instant, c: &mut OutCall, r: &Response) {
        let elapsed = now.duration_since(c.started);
        let to = r.headers.get("To").unwrap_or_default().to_owned();
        let to_tagged = r
            .headers
            .to()
            .ok()
            .and_then(|t| t.tag().map(str::to_owned))
            .is_some();
        if r.status.0 > 100 && !to_tagged {
            self.violation(format!(
                "{} {} without a To tag (RFC 3261 §8.2.6.2)",
                r.status, r.reason
            ));
        }
        if r.headers.cseq().map(|s| s.seq) != Ok(c.cseq) {
            self.violation(format!(
                "{} to our INVITE with a different CSeq (RFC 3261 §8.2.6.2)",
                r.status
            ));
        }
        if c.report.first_response.is_none() {
            c.report.first_response = Some(elapsed);
        }
        match r.status.0 {
            100..=199 => {
                if r.status == 180 && !c.report.ringing {
                    c.report.ringing = true;
                    c.ringing_at = Some(now);
                    self.report(Report::Ringing { call: c.id });
                }
                if let Phase::Calling { .. } = c.phase {
                    c.phase = Phase::Proceeding;
                }
            }
            200..=299 => {
                if let Some(s) = c.final_status.filter(|s| *s >= 300) {
                    self.violation(format!(
                        "{} after the final {s} to the same INVITE (RFC 3261 §17.2.1)",
                        r.status
                    ));
                }
                // RFC 3261 §13.2.2.4: ACK every 2xx, also retransmitted ones.
                if c.ack.is_none() {
                    c.final_status = Some(r.status.0);
                    if let Some(answer) = self.check_answer(c, &r.body) {
                        c.speaking = answer.sendrecv;
                        if let Some(k) = c.spec.keys.clone().filter(|k| k.by_info) {
                            c.info_keys = Some((now + k.after, k.digits.chars().collect()));
                        }
                        let keys = c
                            .spec
                            .keys
                            .clone()
                            .filter(|k| !k.by_info)
                            .map(|k| (k.after, k.digits));
                        let event_pt = self.offer()[OFFER.len() - 1].0;
                        if let Some(m) = &c.media {
                            let _ = m.send(PeerCmd::Answered {
                                answer,
                                keys,
                                listen: c.spec.listen.clone(),
                                event_pt,
                            });
                        }
                    }
                    c.report.answered_after = Some(elapsed);
                    c.answered_at = Some(now);
                    // The first IP phone is extension 20 (FRITZBOX.md).
                    let caller = c.spec.caller.number().unwrap_or_default();
                    if let Some(line) = self.lines.connect(caller, &c.spec.called, "20") {
                        self.report(Report::Monitor(line));
                    }
                    c.to_header = Some(to.clone());
                    c.phone_target = r
                        .headers
                        .name_addrs("Contact")
                        .ok()
                        .and_then(|cs| cs.into_iter().next())
                        .and_then(|na| {
                            na.uri.as_sip().and_then(|u| {
                                u.host
                                    .ip()
                                    .map(|ip| SocketAddr::new(ip, u.port.unwrap_or(5060)))
                            })
                        });
                    let branch = format!("z9hG4bK{}", self.hex16());
                    c.ack = Some(
                        self.in_dialog(c, Method::Ack, c.cseq, &branch, &to)
                            .to_bytes(),
                    );
                    let was_cancelling = matches!(c.phase, Phase::Cancelling { .. });
                    c.phase = Phase::Answered;
                    c.report.outcome = CallOutcome::AnsweredHungUpByCaller;
                    c.hang_up_at = match (was_cancelling, c.spec.hang_up_after) {
                        // The 200 crossed our CANCEL: the caller is gone, hang up (RFC 3261 §9.1).
                        (true, _) => Some(now),
                        (false, d) => d.map(|d| now + d),
                    };
                }
                let dest = c.phone_target.unwrap_or(c.dest);
                if let Some(ack) = c.ack.clone() {
                    self.send(dest, ack);
                }
            }
            status => {
                // RFC 3261 §17.1.1.3: ACK a failure response in the same transaction.
                let ack = self
                    .in_dialog(c, Method::Ack, c.cseq, &c.branch.clone(), &to)
                    .to_bytes();
                self.send(c.dest, ack);
                match c.final_status {
                    Some(s) if s != status => self.violation(format!(
                        "{status} after the final {s} to the same INVITE (RFC 3261 §17.2.1)"
                    )),
                    _ => c.final_status = Some(status),
                }
                if matches!(c.phase, Phase::Done { .. } | Phase::Answered) {
                    return;
                }
                if matches!(status, 480 | 486) && !matches!(c.phase, Phase::Cancelling { .. }) {
                    let rang = now.duration_since(c.ringing_at.unwrap_or(c.started));
                    // Both ends are stamped when this task gets to the
                    // packet; a late stamp of the 180 under load shortens
                    // `rang` by a few ms (CI saw 296 ms for 300 ms).
                    if rang + STAMP_SLACK < self.cfg.min_decline_after_ringing {
                        self.violation(format!(
                            "{status} after {} ms of ringing: the Box drops the FRITZ!Fon app from the ring group (FRITZBOX.md: hold the 180 ~3 s)",
                            rang.as_millis()
                        ));
                    }
                    if status == 486 {
                        self.violation(
                            "486 to decline: only 180, held ~3 s, then 480 was tested with the FRITZ!Fon app (FRITZBOX.md)".into(),
                        );
                    }
                }
                c.report.outcome = match status {
                    487 if matches!(c.phase, Phase::Cancelling { .. }) && c.report.ringing => {
                        CallOutcome::RangUntilCancelled
                    }
                    487 if matches!(c.phase, Phase::Cancelling { .. }) => {
                        CallOutcome::IgnoredUntilCancelled
                    }
                    _ => CallOutcome::RejectedByPhone(status),
                };
                self.finish(now, c);
            }
        }
    }

    /// A BYE (or other request) from the phone inside one of our calls.
    pub(crate) fn on_request(&mut self, now: Instant, from: SocketAddr, req: Request) {
        let call_id = req.headers.call_id().unwrap_or_default().to_owned();
        match req.method {
            Method::Bye => {
                let Some(mut c) = self.calls.calls.remove(&call_id) else {
                    self.send(from, self.reply(&req, 481, None, &[]).to_bytes());
                    return;
                };
                let status = self.on_bye(now, &mut c, &req);
                if status != 401 {
                    self.send(from, self.reply(&req, status, None, &[]).to_bytes());
                }
                self.calls.calls.insert(call_id, c);
            }
            Method::Ack => {}
            Method::Options => {
                let r = self.reply(
                    &req,
                    200,
                    None,
                    &[("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS")],
                );
                self.send(from, r.to_bytes());
            }
            _ => self.send(from, self.reply(&req, 405, None, &[]).to_bytes()),
        }
    }

    /// The phone's BYE: checked against the dialog (RFC 3261 §12.2.1.1),
    /// sometimes challenged (FRITZBOX.md: the Box challenges requests the
    /// phone sends like a REGISTER). Returns the status to answer; a 401 is
    /// sent here.
    pub(super) fn on_bye(&mut self, now: Instant, c: &mut OutCall, req: &Request) -> u16 {
        let from_tag = req
            .headers
            .from()
            .ok()
            .and_then(|f| f.tag().map(str::to_owned));
        let to_tag = req
            .headers
            .to()
            .ok()
            .and_then(|t| t.tag().map(str::to_owned));
        let phone_tag = c
            .to_header
            .as_deref()
            .and_then(|t| sip::NameAddr::parse(t).ok())
            .and_then(|t| t.tag().map(str::to_owned));
        if from_tag != phone_tag || to_tag.as_deref() != Some(c.from_tag.as_str()) {
            // RFC 3261 §12.2.2: a request matching no dialog gets 481.
            self.violation("BYE without the dialog's tags swapped (RFC 3261 §12.2.1.1)".into());
            return 481;
        }
        if req.uri.to_string() != c.our_contact {
            self.violation(format!(
                "BYE to {} instead of our Contact {} (RFC 3261 §12.2.1.1)",
                req.uri, c.our_contact
            ));
        }
        if matches!(c.phase, Phase::Done { .. }) {
            return 200;
        }
        // The phone hung up with its first BYE, challenged or not.
        c.report
            .bye_after
            .get_or_insert(now.duration_since(c.started));
        let cseq = req.headers.cseq().map(|s| s.seq).unwrap_or(0);
        match (&c.bye_challenge, req.headers.get("Authorization")) {
            (Some((nonce, first)), Some(auth)) => {
                let password = self.store.with(|s| s.password(&c.user)).unwrap_or_default();
                let fields = digest::parse_auth(auth).unwrap_or_default();
                let field = |k: &str| digest::param(&fields, k);
                if cseq <= *first {
                    self.violation(format!(
                        "the authenticated BYE kept CSeq {cseq} (RFC 3261 §8.1.3.5: a new request, CSeq+1)"
                    ));
                }
                let uri = req.uri.to_string();
                let wrong: Vec<&str> = [
                    (field("nonce") != Some(nonce.as_str()), "nonce"),
                    (field("realm") != Some(REALM), "realm"),
                    (field("uri") != Some(uri.as_str()), "uri"),
                    (
                        !digest::verify(auth, &password, "BYE")
                            .is_ok_and(|(u, ok)| ok && u == c.user),
                        "user or response",
                    ),
                ]
                .into_iter()
                .filter_map(|(bad, what)| bad.then_some(what))
                .collect();
                if !wrong.is_empty() {
                    self.violation(format!(
                        "BYE credentials wrong for {}: {} (RFC 2617 §3.2.2; uri {:?}, Request-URI {uri})",
                        c.user,
                        wrong.join(", "),
                        field("uri")
                    ));
                    return 403;
                }
            }
            (Some((nonce, first)), None) => {
                // The first BYE again (our 401 was lost): the same 401 again.
                if cseq != *first {
                    self.violation("BYE retried without Authorization after our 401".into());
                }
                let nonce = nonce.clone();
                self.challenge_bye(req, &nonce);
                return 401;
            }
            (None, _)
                if self
                    .rng
                    .random_bool(self.cfg.challenge_requests.clamp(0.0, 1.0)) =>
            {
                let nonce = self.new_nonce();
                self.challenge_bye(req, &nonce);
                c.bye_challenge = Some((nonce, cseq));
                // A phone that never retries leaves the call up: the
                // caller hangs up after timer F's 32 s.
                c.hang_up_at = Some(now + TIMEOUT);
                return 401;
            }
            (None, _) => {}
        }
        c.report.outcome = CallOutcome::TerminatedByPhone;
        self.finish(now, c);
        200
    }

    pub(super) fn challenge_bye(&mut self, req: &Request, nonce: &str) {
        let v = format!("Digest realm=\"{REALM}\", nonce=\"{nonce}\"");
        let r = self.reply(req, 401, None, &[("WWW-Authenticate", &v)]);
        if let Some(to) = self.last_source {
            self.send(to, r.to_bytes());
        }
    }

    /// The phone's SDP answer, if it sent one (FRITZBOX.md: a 200 without
    /// SDP is accepted): payload types from our offer (RFC 3264 §6.1), an
    /// audio port, and the phone's own address.
    pub(super) fn check_answer(&mut self, c: &OutCall, body: &[u8]) -> Option<Answer> {
        if body.is_empty() {
            return None;
        }
        let text = String::from_utf8_lossy(body);
        let mut addr = None;
        let mut media = None;
        let (mut direction, mut ptime) = (None, None);
        for line in text.lines().map(str::trim_end) {
            if let Some(v) = line.strip_prefix("c=") {
                addr = Some(v.to_owned());
            } else if let Some(m) = line.strip_prefix("m=audio ") {
                let mut f = m.split(' ');
                let port = f.next().and_then(|p| p.parse::<u16>().ok());
                let proto = f.next().unwrap_or_default().to_owned();
                let pts: Vec<String> = f.map(str::to_owned).collect();
                media = Some((port, proto, pts));
            } else if let Some(a) = line.strip_prefix("a=") {
                match a {
                    "sendrecv" | "sendonly" | "recvonly" | "inactive" => {
                        direction = Some(a.to_owned())
                    }
                    _ => {
                        if let Some(p) = a.strip_prefix("ptime:") {
                            ptime = Some(p.to_owned());
                        }
                    }
                }
            }
        }
        let Some((port, proto, pts)) = media else {
            self.violation("SDP answer without m=audio (RFC 3264 §6)".into());
            return None;
        };
        if port.is_none_or(|p| p == 0) {
            self.violation(format!(
                "SDP answer rejects or garbles the audio stream (port {port:?}) while answering"
            ));
        }
        if proto != "RTP/AVP" {
            self.violation(format!("SDP answer with {proto}, not the offered RTP/AVP"));
        }
        let offer = self.offer();
        let offered: Vec<String> = offer.iter().map(|(pt, _)| pt.to_string()).collect();
        if let Some(pt) = pts.iter().find(|pt| !offered.contains(pt)) {
            self.violation(format!(
                "SDP answer payload type {pt} was not offered (RFC 3264 §6.1)"
            ));
        }
        let codec = pts.iter().find_map(|pt| match pt.as_str() {
            "8" => Some((8, "PCMA")),
            "0" => Some((0, "PCMU")),
            _ => None,
        });
        if codec.is_none() {
            self.violation(format!(
                "SDP answer {} picks neither PCMA nor PCMU from the offer",
                pts.join(" ")
            ));
        }
        let phone = c.dest.ip();
        let family = if phone.is_ipv6() { "IP6" } else { "IP4" };
        if addr.as_deref() != Some(format!("IN {family} {phone}").as_str()) {
            self.violation(format!(
                "SDP answer c={} is not the phone's address IN {family} {phone}",
                addr.as_deref().unwrap_or("(none)")
            ));
        }
        let sendrecv = direction.as_deref().is_none_or(|d| d == "sendrecv");
        // RFC 3551 §4.5: G.711 defaults to 20 ms packets; another ptime
        // is one the Box does not send.
        if let Some(p) = ptime.filter(|p| sendrecv && p != "20") {
            self.violation(format!(
                "a speaking SDP answer with a=ptime:{p}: the Box sends and expects 20 ms (FRITZBOX.md)"
            ));
        }
        let event_pt = offer[OFFER.len() - 1].0;
        Some(Answer {
            addr: SocketAddr::new(phone, port?),
            payload_type: codec?.0,
            codec: codec?.1.to_owned(),
            telephone_event: pts.contains(&event_pt.to_string()).then_some(event_pt),
            sendrecv,
        })
    }
}
