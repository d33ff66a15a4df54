//! A placed call's time: retransmissions, the end and its report, and
//! the Box's OPTIONS keepalives to the registered phone.

use super::*;

impl Fritzbox {
    /// The line the Box's call list gets for a call (FRITZBOX.md: Type 1
    /// answered, 2 missed, 10 rejected).
    pub(super) fn list_call(&mut self, spec: &CallSpec, report: &CallReport, seconds: u64) {
        let kind = match report.outcome {
            CallOutcome::TerminatedByPhone | CallOutcome::AnsweredHungUpByCaller => 1,
            CallOutcome::BarredByBox => 10,
            _ => 2,
        };
        let name = match &spec.caller {
            Caller::Named { name, .. } | Caller::Internal { name, .. } => name.clone(),
            _ => String::new(),
        };
        if let Some(line) = self.lines.disconnect(
            spec.caller.number().unwrap_or_default(),
            &spec.called,
            seconds,
        ) {
            self.report(Report::Monitor(line));
        }
        let line = crate::ListedCall {
            kind,
            caller: spec.caller.number().unwrap_or_default().to_owned(),
            name,
            called: spec.called.clone(),
            date: chrono::Local::now().format("%d.%m.%y %H:%M").to_string(),
            seconds,
        };
        self.store.with(|s| s.call_list.push(line));
    }

    pub(super) fn finish(&mut self, now: Instant, c: &mut OutCall) {
        c.phase = Phase::Done {
            until: now + TIMEOUT,
        };
        if let Some(tx) = c.reply.take() {
            let seconds = c.answered_at.map_or(0, |t| now.duration_since(t).as_secs());
            self.list_call(&c.spec, &c.report, seconds);
            self.report(Report::CallEnded {
                call: c.id,
                report: c.report.clone(),
            });
            let report = c.report.clone();
            match c.media.take() {
                Some(media) => {
                    // A speaking call: packets still in flight are heard
                    // (and one sent after the BYE is caught).
                    let linger = if c.speaking {
                        Duration::from_millis(150)
                    } else {
                        Duration::ZERO
                    };
                    let store = self.store.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(linger).await;
                        let (stop, heard) = oneshot::channel();
                        let _ = media.send(PeerCmd::Stop(stop));
                        let mut report = report;
                        report.media = heard
                            .await
                            .ok()
                            .filter(|m| m.answer.as_ref().is_some_and(|a| a.sendrecv));
                        // RFC 3261 §15: the BYE ends the session. The two
                        // tasks stamp their packets on their own turns:
                        // a packet in flight with the BYE is not counted.
                        let late = |bye: Duration| bye + Duration::from_millis(25);
                        if let (Some(m), Some(bye)) = (&report.media, report.bye_after)
                            && let n @ 1.. = m.packets.iter().filter(|p| p.at > late(bye)).count()
                        {
                            store.with(|s| {
                                s.media_violations.push(format!(
                                    "{n} RTP packet(s) after the phone's BYE (RFC 3261 §15)"
                                ))
                            });
                        }
                        let _ = tx.send(report);
                    });
                }
                None => {
                    let _ = tx.send(report);
                }
            }
        }
    }

    pub(crate) fn calls_timeout(&mut self, now: Instant) {
        let ids: Vec<String> = self.calls.calls.keys().cloned().collect();
        for id in ids {
            let Some(mut c) = self.calls.calls.remove(&id) else {
                continue;
            };
            self.call_timeout(now, &mut c);
            if !matches!(c.phase, Phase::Done { until } if until <= now) {
                self.calls.calls.insert(id, c);
            }
        }
    }

    pub(super) fn call_timeout(&mut self, now: Instant, c: &mut OutCall) {
        match &mut c.phase {
            Phase::Calling { .. } | Phase::Proceeding if now >= c.cancel_at => {
                let mut cancel = self.in_dialog(
                    c,
                    Method::Cancel,
                    c.cseq,
                    &c.branch.clone(),
                    &format!("<{}>", c.uri),
                );
                if c.spec.answered_elsewhere {
                    // RFC 3326 §2: why the CANCEL was sent.
                    cancel
                        .headers
                        .push("Reason", "SIP;cause=200;text=\"Call completed elsewhere\"");
                }
                let cancel = cancel.to_bytes();
                self.send(c.dest, cancel.clone());
                c.timer_b = now + TIMEOUT;
                c.phase = Phase::Cancelling {
                    next: now + T1,
                    interval: T1,
                    data: cancel,
                };
            }
            Phase::Calling { .. } if now >= c.timer_b => self.finish(now, c),
            Phase::Calling { next, interval } if now >= *next => {
                // Timer A (RFC 3261 §17.1.1.2): resend until a provisional response.
                *interval *= 2;
                *next = now + *interval;
                c.report.invite_retransmissions += 1;
                self.send(c.dest, c.invite.clone());
            }
            Phase::Cancelling { .. } | Phase::HangingUp { .. } if now >= c.timer_b => {
                c.report.outcome = CallOutcome::NoAnswer;
                self.finish(now, c);
            }
            Phase::Cancelling {
                next,
                interval,
                data,
            }
            | Phase::HangingUp {
                next,
                interval,
                data,
            } if now >= *next => {
                *interval = next_interval(*interval);
                *next = now + *interval;
                let data = data.clone();
                let dest = c.phone_target.unwrap_or(c.dest);
                self.send(dest, data);
            }
            Phase::Answered if c.info_keys.as_ref().is_some_and(|(t, _)| *t <= now) => {
                // One INFO per key, 150 ms apart (RFC 2976; the Box's
                // fallback to RFC 4733).
                let Some((at, keys)) = c.info_keys.as_mut() else {
                    return;
                };
                let key = keys.pop_front();
                *at = now + Duration::from_millis(150);
                if keys.is_empty() {
                    c.info_keys = None;
                }
                if let Some(key) = key {
                    c.dialog_cseq += 1;
                    let branch = format!("z9hG4bK{}", self.hex16());
                    let to = c.to_header.clone().unwrap_or_default();
                    let mut info = self.in_dialog(c, Method::Info, c.dialog_cseq, &branch, &to);
                    info.headers.push("Content-Type", "application/dtmf-relay");
                    info.body = format!("Signal={key}\r\nDuration=160\r\n").into_bytes();
                    self.send(c.phone_target.unwrap_or(c.dest), info.to_bytes());
                }
            }
            Phase::Answered if c.hang_up_at.is_some_and(|t| t <= now) => {
                if c.bye_challenge.is_some() {
                    self.violation(
                        "BYE challenged with 401 and never sent again with credentials (RFC 3261 §22.2)"
                            .into(),
                    );
                }
                let branch = format!("z9hG4bK{}", self.hex16());
                let to = c.to_header.clone().unwrap_or_default();
                c.dialog_cseq += 1;
                let bye = self
                    .in_dialog(c, Method::Bye, c.dialog_cseq, &branch, &to)
                    .to_bytes();
                let dest = c.phone_target.unwrap_or(c.dest);
                self.send(dest, bye.clone());
                c.timer_b = now + TIMEOUT;
                c.hang_up_at = None;
                c.phase = Phase::HangingUp {
                    next: now + T1,
                    interval: T1,
                    data: bye,
                };
            }
            _ => {}
        }
    }

    /// OPTIONS keepalives to every registered phone (FRITZBOX.md: the Box
    /// drops phones that do not answer them). One still unanswered when the
    /// next round is due costs the phone its binding.
    pub(crate) fn send_options(&mut self, now: Instant) {
        for (_, probe) in std::mem::take(&mut self.options_pending) {
            self.keepalive_lost(probe);
        }
        let targets: Vec<_> = self
            .bindings
            .iter()
            .map(|(key, b)| (key.clone(), b.contact, b.contact_uri.clone()))
            .collect();
        for (key, dest, uri) in targets {
            let call_id = format!("{}@{}", self.hex16(), self.addr.ip());
            let mut r = Request::new(Method::Options, sip::parse::parse_request_uri(&uri));
            let branch = format!("z9hG4bK{}", self.hex16());
            let tag = self.hex16();
            let h = &mut r.headers;
            h.push(
                "Via",
                format!("SIP/2.0/UDP {};branch={branch}", self.host_port()),
            );
            h.push("From", format!("<sip:fritz.box>;tag={tag}"));
            h.push("To", format!("<{uri}>"));
            h.push("Call-ID", &call_id);
            h.push("CSeq", "1 OPTIONS");
            h.push("Max-Forwards", "70");
            let data = r.to_bytes();
            self.send(dest, data.clone());
            self.options_pending.insert(
                call_id,
                Probe {
                    key,
                    dest,
                    data,
                    sent: now,
                    next: now + T1,
                    interval: T1,
                },
            );
        }
    }

    /// Timer E for the keepalives (RFC 3261 §17.1.2.2), timer F to give up.
    pub(crate) fn options_timeout(&mut self, now: Instant) {
        for (call_id, mut probe) in std::mem::take(&mut self.options_pending) {
            if now.duration_since(probe.sent) >= TIMEOUT {
                self.keepalive_lost(probe);
                continue;
            }
            if probe.next <= now {
                probe.interval = next_interval(probe.interval);
                probe.next = now + probe.interval;
                self.send(probe.dest, probe.data.clone());
            }
            self.options_pending.insert(call_id, probe);
        }
    }

    pub(super) fn keepalive_lost(&mut self, probe: Probe) {
        self.report(Report::Options { answered: false });
        if let Some(b) = self.bindings.remove(&probe.key) {
            self.report(Report::KeepaliveLost { user: b.user });
        }
    }
}
