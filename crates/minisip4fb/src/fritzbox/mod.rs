//! The FRITZ!Box's management interface, TR-064: SOAP 1.1 over HTTP with
//! digest authentication (FRITZBOX.md, TR-064 section). A small typed
//! client: it reads `tr64desc.xml` to find services and control URLs, and
//! maps the Box's error codes to messages a person can act on.
//!
//! Blocking (ureq); async callers use `spawn_blocking`.

pub mod link;
pub mod monitor;
pub mod soap;
mod tls;

use std::time::Duration;

use minisip4fb_proto::sip::digest::{self, Challenge};

use crate::config::Fingerprint;
pub use soap::Fault;

/// More IP phones than any FRITZ!Box has: a count above is not believed.
const MAX_IP_PHONES: u32 = 64;
/// How many IP phones a FRITZ!Box keeps (FRITZBOX.md: 620–629).
pub const BOX_MAX_IP_PHONES: usize = 10;
const MAX_PHONEBOOKS: usize = 32;

pub const VOIP: &str = "urn:dslforum-org:service:X_VoIP:1";
pub const ONTEL: &str = "urn:dslforum-org:service:X_AVM-DE_OnTel:1";
pub const AUTH: &str = "urn:dslforum-org:service:X_AVM-DE_Auth:1";

/// How long a person has to confirm a second factor.
const SECOND_FACTOR_TIMEOUT: Duration = Duration::from_secs(120);

/// What can go wrong talking to the Box.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot reach the FRITZ!Box at {url}: {reason} (is the address right and TR-064 enabled under Heimnetz → Netzwerk → Netzwerkeinstellungen?)"
    )]
    Unreachable { url: String, reason: String },
    #[error(
        "the FRITZ!Box at {url} presented a TLS certificate ({seen}) other than the pinned one ({pinned}): if the Box has a new certificate (reset, new MyFRITZ! name), compare it with `openssl s_client -connect HOST:49443 </dev/null | openssl x509 -noout -fingerprint -sha256` and put it into tr064_fingerprint in [fritzbox]; otherwise someone may be in between"
    )]
    CertificateChanged {
        url: String,
        pinned: Fingerprint,
        seen: Fingerprint,
    },
    #[error("the FRITZ!Box rejected user {user:?} for TR-064: wrong user name or password")]
    Auth { user: String },
    #[error(
        "the FRITZ!Box refuses logins for a while after failed attempts (503): wait a few minutes, then retry"
    )]
    Locked,
    #[error(
        "the FRITZ!Box has no service {0} (a FRITZ!Box with telephony and FRITZ!OS 7 or newer is needed)"
    )]
    NoService(String),
    #[error("{action}: {fault}")]
    Fault { action: String, fault: Fault },
    #[error("unexpected answer from the FRITZ!Box: {0}")]
    BadResponse(String),
    /// The blocking task that talked to the Box panicked or was cancelled.
    #[error("the TR-064 task ended early: {0}")]
    Worker(String),
}

/// One service from the device description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub service_type: String,
    pub control_url: String,
}

/// Tells a person what to do for a second factor.
type Tell = Box<dyn Fn(&str) + Send>;

/// A logged-in TR-064 session.
pub struct Client {
    base: String,
    user: String,
    password: String,
    agent: ureq::Agent,
    tls: std::sync::Arc<tls::PinVerifier>,
    services: Vec<Service>,
    /// The last challenge and its nonce count, answered without a round trip.
    challenge: Option<(Challenge, u32)>,
    /// Tells a person how to confirm a second factor (error 866); without
    /// it, 866 is returned as an error.
    confirm: Option<Tell>,
}

impl Client {
    /// Reads the device description at `base` (`http://fritz.box:49000`
    /// or `https://fritz.box:49443`). Over HTTPS, only the certificate
    /// with fingerprint `pin` is accepted; without a pin, whatever the Box
    /// presents is trusted this once and shown by [`Client::first_use`].
    pub fn connect(
        base: &str,
        user: &str,
        password: &str,
        pin: Option<Fingerprint>,
    ) -> Result<Client, Error> {
        let base = base.trim_end_matches('/').to_owned();
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build();
        let tls = tls::PinVerifier::new(pin);
        let agent = ureq::Agent::with_parts(
            config,
            tls::connector(tls.clone()),
            ureq::unversioned::resolver::DefaultResolver::default(),
        );
        let mut client = Client {
            base,
            user: user.to_owned(),
            password: password.to_owned(),
            agent,
            tls,
            services: Vec::new(),
            challenge: None,
            confirm: None,
        };
        let desc = client.get(&format!("{}/tr64desc.xml", client.base))?;
        client.services = soap::services(&desc).map_err(Error::BadResponse)?;
        Ok(client)
    }

    /// Handles the Box's second-factor demand (error 866) by starting
    /// `X_AVM-DE_Auth`, telling the person via `tell` what to do (press a
    /// button on the Box or dial the code it shows), and waiting for it.
    pub fn with_second_factor(mut self, tell: impl Fn(&str) + Send + 'static) -> Client {
        self.confirm = Some(Box::new(tell));
        self
    }

    /// The certificate the Box presented when none was pinned: trusted on
    /// first use; the caller should say so and keep it as the pin.
    pub fn first_use(&self) -> Option<Fingerprint> {
        match self.tls.pin() {
            None => self.tls.seen(),
            Some(_) => None,
        }
    }

    /// Why a request failed: a changed certificate is told apart from an
    /// unreachable Box.
    fn unreachable(&self, url: &str, e: ureq::Error) -> Error {
        if let (Some(pinned), Some(seen)) = (self.tls.pin(), self.tls.seen())
            && pinned != seen
        {
            return Error::CertificateChanged {
                url: url.to_owned(),
                pinned,
                seen,
            };
        }
        Error::Unreachable {
            url: url.to_owned(),
            reason: e.to_string(),
        }
    }

    pub fn services(&self) -> &[Service] {
        &self.services
    }

    /// GETs a URL (description, phonebook and call-barring files).
    pub fn get(&self, url: &str) -> Result<String, Error> {
        let unreachable = |e| self.unreachable(url, e);
        let mut resp = self.agent.get(url).call().map_err(unreachable)?;
        if resp.status() != 200 {
            return Err(Error::BadResponse(format!(
                "GET {url}: HTTP {}",
                resp.status()
            )));
        }
        resp.body_mut().read_to_string().map_err(unreachable)
    }

    /// Calls `action` of the service whose type is `service_type`; returns
    /// its out-arguments in order. A second-factor demand (866) is met
    /// once, when [`Client::with_second_factor`] says how.
    pub fn call(
        &mut self,
        service_type: &str,
        action: &str,
        args: &[(&str, &str)],
    ) -> Result<Vec<(String, String)>, Error> {
        self.call_retrying(service_type, action, args, true)
    }

    fn call_retrying(
        &mut self,
        service_type: &str,
        action: &str,
        args: &[(&str, &str)],
        may_stop_868: bool,
    ) -> Result<Vec<(String, String)>, Error> {
        match self.call_once(service_type, action, args) {
            Err(Error::Fault { fault, .. }) if fault.code == 866 && self.confirm.is_some() => {
                self.second_factor()?;
                self.call_once(service_type, action, args)
            }
            // Retried once: a Box that stays busy gets its 868 reported.
            Err(Error::Fault { fault, .. }) if fault.code == 868 && may_stop_868 => {
                self.stop_stale_second_factor();
                self.call_retrying(service_type, action, args, false)
            }
            other => other,
        }
    }

    /// 868: an earlier second-factor attempt (failed or abandoned) keeps
    /// the Box busy for about a minute; stopping it frees the Box at once
    /// (FRITZBOX.md). Said, since the person may wonder.
    fn stop_stale_second_factor(&mut self) {
        if let Some(tell) = &self.confirm {
            tell(
                "the FRITZ!Box is still busy with an earlier confirmation attempt (868): cancelling it and trying again",
            );
        }
        let _ = self.call_once(AUTH, "SetConfig", &[("NewAction", "stop")]);
    }

    /// The X_AVM-DE_Auth flow: start, tell, poll until confirmed.
    fn second_factor(&mut self) -> Result<(), Error> {
        let start = [("NewAction", "start")];
        let out = match self.call_once(AUTH, "SetConfig", &start) {
            Err(Error::Fault { fault, .. }) if fault.code == 868 => {
                self.stop_stale_second_factor();
                self.call_once(AUTH, "SetConfig", &start)?
            }
            other => other?,
        };
        let methods = arg(&out, "NewMethods").unwrap_or("button").to_owned();
        if let Some(tell) = &self.confirm {
            let how = describe_methods(&methods);
            tell(&format!(
                "the FRITZ!Box wants a second confirmation: {how}, within {} s",
                SECOND_FACTOR_TIMEOUT.as_secs()
            ));
        }
        let end = std::time::Instant::now() + SECOND_FACTOR_TIMEOUT;
        while std::time::Instant::now() < end {
            let out = self.call_once(AUTH, "GetState", &[])?;
            match arg(&out, "NewState")? {
                "authenticated" => return Ok(()),
                "waitingforauth" => std::thread::sleep(Duration::from_millis(500)),
                state => {
                    let (code, description) = match state {
                        "blocked" => (867, "second factor blocked".to_owned()),
                        "anotherauthprocess" => (868, "another confirmation is running".to_owned()),
                        // The Box closed the window (~60 s) before anyone confirmed.
                        "stopped" => (866, "not confirmed in time".to_owned()),
                        s => (866, format!("second factor {s}")),
                    };
                    let fault = Fault { code, description };
                    return Err(Error::Fault {
                        action: "X_AVM-DE_Auth".into(),
                        fault,
                    });
                }
            }
        }
        let _ = self.call_once(AUTH, "SetConfig", &[("NewAction", "stop")]);
        let fault = Fault {
            code: 866,
            description: "not confirmed in time".into(),
        };
        Err(Error::Fault {
            action: "X_AVM-DE_Auth".into(),
            fault,
        })
    }

    fn call_once(
        &mut self,
        service_type: &str,
        action: &str,
        args: &[(&str, &str)],
    ) -> Result<Vec<(String, String)>, Error> {
        let svc = self
            .services
            .iter()
            .find(|s| s.service_type == service_type)
            .cloned()
            .ok_or_else(|| Error::NoService(service_type.to_owned()))?;
        let url = format!("{}{}", self.base, svc.control_url);
        let body = soap::envelope(service_type, action, args);
        for attempt in 0..3 {
            let mut req = self
                .agent
                .post(&url)
                .header("Content-Type", "text/xml; charset=\"utf-8\"")
                .header("SOAPACTION", &format!("\"{service_type}#{action}\""));
            let answered = self.challenge.as_ref().map(|(c, _)| c.nonce.clone());
            if let Some((ch, nc)) = &mut self.challenge {
                *nc += 1;
                let cnonce = format!("{:08x}", rand::random::<u32>());
                req = req.header(
                    "Authorization",
                    &digest::authorization(
                        ch,
                        &self.user,
                        &self.password,
                        "POST",
                        &svc.control_url,
                        *nc,
                        &cnonce,
                    ),
                );
            }
            let mut resp = req
                .send(body.as_bytes())
                .map_err(|e| self.unreachable(&url, e))?;
            let status = resp.status().as_u16();
            let text = resp.body_mut().read_to_string().unwrap_or_default();
            match status {
                401 => {
                    let www = resp
                        .headers()
                        .get("WWW-Authenticate")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    let ch = Challenge::parse(www).map_err(|e| {
                        Error::BadResponse(format!("401 with an unusable challenge: {e}"))
                    })?;
                    // The same nonce refused again, not for staleness: wrong password.
                    if answered.as_deref() == Some(ch.nonce.as_str()) && !ch.stale || attempt == 2 {
                        return Err(Error::Auth {
                            user: self.user.clone(),
                        });
                    }
                    self.challenge = Some((ch, 0));
                }
                503 => return Err(Error::Locked),
                _ => {
                    return match soap::parse_response(&text, action) {
                        Ok(out) => Ok(out),
                        // Some FRITZ!OS versions answer a failed login with a
                        // fault 401, even with HTTP 200 (FRITZBOX.md); UPnP's
                        // own 401 is "Invalid Action".
                        Err(soap::Parsed::Fault(f))
                            if f.code == 401
                                && answered.is_some()
                                && !f.description.eq_ignore_ascii_case("Invalid Action") =>
                        {
                            Err(Error::Auth {
                                user: self.user.clone(),
                            })
                        }
                        Err(soap::Parsed::Fault(fault)) => Err(Error::Fault {
                            action: action.to_owned(),
                            fault,
                        }),
                        Err(soap::Parsed::Bad(e)) => {
                            Err(Error::BadResponse(format!("{action} (HTTP {status}): {e}")))
                        }
                    };
                }
            }
        }
        Err(Error::Auth {
            user: self.user.clone(),
        })
    }
}

/// Reads one out-argument.
pub fn arg<'a>(out: &'a [(String, String)], name: &str) -> Result<&'a str, Error> {
    out.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| Error::BadResponse(format!("missing {name}")))
}

/// An IP-phone account (X_VoIP client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpPhone {
    pub index: u32,
    pub username: String,
    pub phone_name: String,
    pub internal_number: String,
}

impl Client {
    pub fn ip_phones(&mut self) -> Result<Vec<IpPhone>, Error> {
        let out = self.call(VOIP, "X_AVM-DE_GetNumberOfClients", &[])?;
        let n: u32 = arg(&out, "NewX_AVM-DE_NumberOfClients")?
            .parse()
            .map_err(|_| Error::BadResponse("bad NumberOfClients".into()))?;
        // A Box has at most a few dozen IP phones (FRITZBOX.md: ten).
        if n > MAX_IP_PHONES {
            return Err(Error::BadResponse(format!(
                "the Box claims {n} IP phones (a FRITZ!Box has at most {MAX_IP_PHONES})"
            )));
        }
        let mut phones = Vec::new();
        for i in 0..n {
            let idx = i.to_string();
            let out = self.call(
                VOIP,
                "X_AVM-DE_GetClient3",
                &[("NewX_AVM-DE_ClientIndex", &idx)],
            )?;
            phones.push(IpPhone {
                index: i,
                username: arg(&out, "NewX_AVM-DE_ClientUsername")?.to_owned(),
                phone_name: arg(&out, "NewX_AVM-DE_PhoneName").unwrap_or("").to_owned(),
                internal_number: arg(&out, "NewX_AVM-DE_InternalNumber")
                    .unwrap_or("")
                    .to_owned(),
            });
        }
        Ok(phones)
    }

    /// Creates or updates the IP phone at `index`; returns its internal number.
    pub fn set_ip_phone(
        &mut self,
        index: u32,
        username: &str,
        password: &str,
        name: &str,
        incoming: &str,
    ) -> Result<String, Error> {
        let idx = index.to_string();
        let out = self.call(
            VOIP,
            "X_AVM-DE_SetClient4",
            &[
                ("NewX_AVM-DE_ClientIndex", &idx),
                ("NewX_AVM-DE_ClientPassword", password),
                ("NewX_AVM-DE_ClientUsername", username),
                ("NewX_AVM-DE_PhoneName", name),
                ("NewX_AVM-DE_ClientId", ""),
                ("NewX_AVM-DE_OutGoingNumber", ""),
                ("NewX_AVM-DE_InComingNumbers", incoming),
            ],
        )?;
        Ok(arg(&out, "NewX_AVM-DE_InternalNumber")
            .unwrap_or("")
            .to_owned())
    }

    /// Deletes the IP phone at `index`; later ones move up by one.
    pub fn delete_ip_phone(&mut self, index: u32) -> Result<(), Error> {
        let idx = index.to_string();
        self.call(
            VOIP,
            "X_AVM-DE_DeleteClient",
            &[("NewX_AVM-DE_ClientIndex", &idx)],
        )?;
        Ok(())
    }

    /// The Box's own country and area code, as a person dials them
    /// (`49`/`00` → country 49, `30`/`0` → area code `030`): what number
    /// normalisation needs to read callers' numbers.
    pub fn country_and_area_code(&mut self) -> Result<(u16, Option<String>), Error> {
        let out = self.call(VOIP, "X_AVM-DE_GetVoIPCommonCountryCode", &[])?;
        let lkz = arg(&out, "NewX_AVM-DE_LKZ")?;
        let bad = |what: &str, v: &str| Error::BadResponse(format!("{what} {v:?} is not a number"));
        let country: u16 = lkz.trim().parse().map_err(|_| bad("country code", lkz))?;
        let out = self.call(VOIP, "X_AVM-DE_GetVoIPCommonAreaCode", &[])?;
        let okz = arg(&out, "NewX_AVM-DE_OKZ")?.trim().to_owned();
        let prefix = arg(&out, "NewX_AVM-DE_OKZPrefix").unwrap_or("").trim();
        if !okz.bytes().all(|b| b.is_ascii_digit()) || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("area code", &okz));
        }
        Ok((country, (!okz.is_empty()).then(|| format!("{prefix}{okz}"))))
    }

    /// The call-barring entry for `number`, if the Box has one (714: none).
    pub fn barring_entry(&mut self, number: &str) -> Result<Option<String>, Error> {
        match self.call(ONTEL, "GetCallBarringEntryByNum", &[("NewNumber", number)]) {
            Ok(out) => Ok(Some(arg(&out, "NewPhonebookEntryData")?.to_owned())),
            Err(Error::Fault { fault, .. }) if fault.code == 714 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Adds `number` to the call-barring list unless it is there already
    /// (`SetCallBarringEntry` stores duplicates: look up first). Returns
    /// whether it was added.
    pub fn bar(&mut self, number: &str, name: &str) -> Result<bool, Error> {
        if self.barring_entry(number)?.is_some() {
            return Ok(false);
        }
        let entry = soap::contact_xml(name, number);
        self.call(
            ONTEL,
            "SetCallBarringEntry",
            &[("NewPhonebookEntryData", &entry)],
        )?;
        Ok(true)
    }

    /// Removes `number` from the call-barring list; `false` if it was not there.
    pub fn unbar(&mut self, number: &str) -> Result<bool, Error> {
        let Some(entry) = self.barring_entry(number)? else {
            return Ok(false);
        };
        let uid = soap::tag_text(&entry, "uniqueid")
            .ok_or_else(|| Error::BadResponse("barring entry without uniqueid".into()))?;
        self.call(
            ONTEL,
            "DeleteCallBarringEntryUID",
            &[("NewPhonebookEntryUniqueID", &uid)],
        )?;
        Ok(true)
    }

    /// The call-barring list as the Box's phonebook XML.
    pub fn barring_list(&mut self) -> Result<String, Error> {
        let out = self.call(ONTEL, "GetCallBarringList", &[])?;
        let url = arg(&out, "NewPhonebookURL")?.to_owned();
        self.get(&url)
    }

    /// Adds a contact to phonebook `book` (an id of [`Client::phonebooks`]);
    /// returns the entry's unique id.
    pub fn add_contact(&mut self, book: &str, name: &str, number: &str) -> Result<String, Error> {
        let entry = soap::contact_xml(name, number);
        let out = self.call(
            ONTEL,
            "SetPhonebookEntryUID",
            &[("NewPhonebookID", book), ("NewPhonebookEntryData", &entry)],
        )?;
        Ok(arg(&out, "NewPhonebookEntryUniqueID")?.to_owned())
    }

    /// Removes the entry `uid` from phonebook `book`.
    pub fn delete_contact(&mut self, book: &str, uid: &str) -> Result<(), Error> {
        self.call(
            ONTEL,
            "DeletePhonebookEntryUID",
            &[("NewPhonebookID", book), ("NewPhonebookEntryUniqueID", uid)],
        )?;
        Ok(())
    }

    /// The Box's call list as its XML file (FRITZBOX.md: Type 1 in,
    /// 2 missed, 3 out, 10 rejected), at most `max` calls, newest first.
    pub fn call_list(&mut self, max: u32) -> Result<String, Error> {
        let out = self.call(ONTEL, "GetCallList", &[])?;
        let url = arg(&out, "NewCallListURL")?;
        let sep = if url.contains('?') { '&' } else { '?' };
        let url = format!("{url}{sep}max={max}");
        self.get(&url)
    }

    /// Every phonebook: (id, name, XML export).
    pub fn phonebooks(&mut self) -> Result<Vec<(String, String, String)>, Error> {
        let mut books = Vec::new();
        for (id, name, url) in self.phonebook_list()? {
            let xml = self.get(&url)?;
            books.push((id, name, xml));
        }
        Ok(books)
    }

    /// Every phonebook's id and name, without its entries.
    pub fn phonebook_names(&mut self) -> Result<Vec<(String, String)>, Error> {
        Ok(self
            .phonebook_list()?
            .into_iter()
            .map(|(id, name, _)| (id, name))
            .collect())
    }

    /// (id, name, export URL) of every phonebook.
    fn phonebook_list(&mut self) -> Result<Vec<(String, String, String)>, Error> {
        let out = self.call(ONTEL, "GetPhonebookList", &[])?;
        let ids: Vec<String> = arg(&out, "NewPhonebookList")?
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        // A Box keeps a handful of phonebooks; more is not a Box talking.
        if ids.len() > MAX_PHONEBOOKS {
            return Err(Error::BadResponse(format!(
                "the Box lists {} phonebooks (at most {MAX_PHONEBOOKS} are read)",
                ids.len()
            )));
        }
        let mut books = Vec::new();
        for id in ids {
            let out = self.call(ONTEL, "GetPhonebook", &[("NewPhonebookID", &id)])?;
            let name = arg(&out, "NewPhonebookName")?.to_owned();
            let url = arg(&out, "NewPhonebookURL")?.to_owned();
            books.push((id, name, url));
        }
        Ok(books)
    }
}

/// `button;dtmf;*1234` → "press a button on the FRITZ!Box, or dial *1234 on
/// a phone connected to it".
fn describe_methods(methods: &str) -> String {
    let mut ways = Vec::new();
    for m in methods
        .split([';', ','])
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        match m {
            "button" => ways.push("press a button on the FRITZ!Box".to_owned()),
            "dtmf" => {}
            code if code.starts_with('*') || code.chars().all(|c| c.is_ascii_digit()) => {
                ways.push(format!("dial {code} on a phone connected to the FRITZ!Box"));
            }
            other => ways.push(other.to_owned()),
        }
    }
    if ways.is_empty() {
        "confirm on the FRITZ!Box".into()
    } else {
        ways.join(", or ")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn second_factor_methods_in_words() {
        assert_eq!(
            super::describe_methods("button;dtmf;*1234"),
            "press a button on the FRITZ!Box, or dial *1234 on a phone connected to the FRITZ!Box"
        );
        assert_eq!(super::describe_methods(""), "confirm on the FRITZ!Box");
    }
}
