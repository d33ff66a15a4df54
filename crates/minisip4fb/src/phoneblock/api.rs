//! PhoneBlock's HTTP API (its published integration guide): every request
//! with `Authorization: Bearer TOKEN` and `User-Agent: minisip4fb/VERSION`,
//! bounded in time and size. Never called on the call path.

use std::time::Duration;

use super::binary::{self, Binary};
use super::{Changes, Live, PersonalEntry, Rating, ReadError, SyncError, Which, parse_personal};

/// PhoneBlock's production API.
pub const DEFAULT_API: &str = "https://phoneblock.net/phoneblock/api";

/// The largest `/blocklist` answer read: the community list is tens of
/// thousands of numbers (a few MB); a million is ~90 MB. The answer is
/// parsed as it streams in, so this bounds time and traffic, not memory.
pub const MAX_LIST_BYTES: u64 = 160 << 20;
/// Any other answer.
const MAX_SMALL_BYTES: u64 = 1 << 20;
/// A live check's answer: a few fields.
const MAX_CHECK_BYTES: u64 = 16 << 10;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("PhoneBlock refused the token (HTTP 401): check {source_of_token}")]
    Unauthorized { source_of_token: String },
    #[error("PhoneBlock asks to slow down (HTTP 429){}", retry_after.map(|d| format!("; retry after {} s", d.as_secs())).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },
    #[error("PhoneBlock answered HTTP {status} to {what}")]
    Status { status: u16, what: String },
    #[error("PhoneBlock is unreachable ({what}): {reason}")]
    Unreachable { what: String, reason: String },
    #[error("PhoneBlock's answer to {what} is larger than {limit} bytes or cut off")]
    TooBig { what: String, limit: u64 },
    #[error(transparent)]
    Bad(#[from] SyncError),
}

/// A client of the API.
pub struct Api {
    base: String,
    token: String,
    /// Where the token came from, for the 401 message (never the token).
    token_source: String,
    agent: ureq::Agent,
}

impl Api {
    /// `timeout` bounds each request as a whole, a trickling server too.
    pub fn new(base: &str, token: &str, token_source: &str, timeout: Duration) -> Api {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .user_agent(format!("minisip4fb/{}", env!("CARGO_PKG_VERSION")))
            .build();
        Api {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            token_source: token_source.to_owned(),
            agent: config.into(),
        }
    }

    /// The community list: all of it, or what changed after `since`.
    pub fn blocklist(&self, since: Option<i64>) -> Result<Changes, ApiError> {
        let path = match since {
            Some(v) => format!("/blocklist?since={v}"),
            None => "/blocklist".to_owned(),
        };
        let what = format!("GET {path}");
        let mut resp = self.request("GET", &path, None)?;
        let mut body = Capped {
            inner: resp.body_mut().as_reader(),
            left: MAX_LIST_BYTES,
        };
        let read = super::read_blocklist(&mut body);
        read.map_err(|e| match e {
            ReadError::Json(_) if body.left == 0 => ApiError::TooBig {
                what,
                limit: MAX_LIST_BYTES,
            },
            // A field over the bound (guard::json): the answer is bad.
            ReadError::Json(e) if e.io_error_kind() == Some(std::io::ErrorKind::InvalidData) => {
                SyncError::Json(e.to_string()).into()
            }
            ReadError::Json(e) if e.is_io() => ApiError::Unreachable {
                what,
                reason: e.to_string(),
            },
            ReadError::Json(e) => SyncError::Json(e.to_string()).into(),
            ReadError::Bad(e) => e.into(),
        })
    }

    /// The community's binary list with the ranges of at least `min_range`
    /// votes (and its global whitelist; the direct numbers in it are the
    /// JSON list's): the file as sent, checked whole.
    pub fn ranges(&self, min_range: u32) -> Result<(Binary, Vec<u8>), ApiError> {
        let path = format!("/blocklist?format=binary&type=community&minRange={min_range}");
        let bytes = self.send("GET", &path, None, binary::MAX_BYTES as u64)?;
        let list = Binary::parse(&bytes).map_err(SyncError::from)?;
        Ok((list, bytes))
    }

    /// The household's own ranges on PhoneBlock (the binary list of type
    /// `personal`; its single numbers are the JSON lists').
    pub fn personal_ranges(&self) -> Result<Binary, ApiError> {
        let path = "/blocklist?format=binary&type=personal";
        let bytes = self.send("GET", path, None, MAX_SMALL_BYTES)?;
        Ok(Binary::parse(&bytes).map_err(SyncError::from)?)
    }

    /// `GET /check`: PhoneBlock's live answer for a number, asked by the
    /// SHA-1 of its international form and of that form without its last
    /// one and two digits (its ranges), never by the number itself.
    pub fn check(&self, phone: u64) -> Result<Live, ApiError> {
        let plus = super::e164(phone);
        let cut = |n: usize| plus.get(..plus.len().saturating_sub(n)).unwrap_or("");
        let path = format!(
            "/check?sha1={}&prefix10={}&prefix100={}",
            sha1_hex(&plus),
            sha1_hex(cut(1)),
            sha1_hex(cut(2))
        );
        let body = self.send("GET", &path, None, MAX_CHECK_BYTES)?;
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Answer {
            #[serde(default)]
            votes: u32,
            #[serde(default)]
            votes_wildcard: u32,
            rating: Option<String>,
            #[serde(default)]
            black_listed: bool,
        }
        let a: Answer =
            serde_json::from_slice(&body).map_err(|e| SyncError::Json(e.to_string()))?;
        Ok(Live {
            votes: a.votes,
            range_votes: a.votes_wildcard,
            rating: a.rating.as_deref().and_then(Rating::parse),
            blacklisted: a.black_listed,
        })
    }

    /// The household's own list on PhoneBlock, with how many entries were
    /// refused and a few of them.
    pub fn personal(
        &self,
        which: Which,
    ) -> Result<(Vec<PersonalEntry>, usize, Vec<String>), ApiError> {
        let body = self.send(
            "GET",
            &format!("/{}", which.as_str()),
            None,
            MAX_SMALL_BYTES,
        )?;
        Ok(parse_personal(&body)?)
    }

    /// `GET /account`: the account's dial prefix (`+49`), the country its
    /// numbers are read in.
    pub fn dial_prefix(&self) -> Result<Option<String>, ApiError> {
        let body = self.send("GET", "/account", None, MAX_SMALL_BYTES)?;
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| SyncError::Json(e.to_string()))?;
        Ok(v["dialPrefix"]
            .as_str()
            .filter(|p| p.len() <= 8)
            .map(|p| crate::text::printable(p).into_owned()))
    }

    /// `GET /test`: whether the token is accepted.
    pub fn test(&self) -> Result<(), ApiError> {
        self.send("GET", "/test", None, MAX_SMALL_BYTES).map(drop)
    }

    /// `POST /report-call/0049…`: a listed number called (not a vote).
    pub fn report_call(&self, phone: u64) -> Result<(), ApiError> {
        let path = format!("/report-call/00{phone}");
        self.send("POST", &path, Some(String::new()), MAX_SMALL_BYTES)
            .map(drop)
    }

    /// `POST /rate`: the household's own rating of a number.
    pub fn rate(&self, phone: u64, rating: Rating, comment: &str) -> Result<(), ApiError> {
        let body = serde_json::json!({
            "phone": super::e164(phone),
            "rating": rating.as_str(),
            "comment": comment,
        })
        .to_string();
        self.send("POST", "/rate", Some(body), MAX_SMALL_BYTES)
            .map(drop)
    }

    /// A whole answer of at most `limit` bytes.
    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        limit: u64,
    ) -> Result<Vec<u8>, ApiError> {
        let what = format!("{method} {path}");
        self.request(method, path, body)?
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => ApiError::TooBig {
                    what: what.clone(),
                    limit,
                },
                e => ApiError::Unreachable {
                    what: what.clone(),
                    reason: e.to_string(),
                },
            })
    }

    /// Sends a request; an answer other than 2xx is an error.
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> Result<ureq::http::Response<ureq::Body>, ApiError> {
        let url = format!("{}{path}", self.base);
        let what = format!("{method} {path}");
        let auth = format!("Bearer {}", self.token);
        let unreachable = |e: ureq::Error| ApiError::Unreachable {
            what: what.clone(),
            reason: e.to_string(),
        };
        let resp = match body {
            Some(b) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(b.as_bytes())
                .map_err(unreachable)?,
            None => self
                .agent
                .get(&url)
                .header("Authorization", &auth)
                .call()
                .map_err(unreachable)?,
        };
        let status = resp.status().as_u16();
        match status {
            200..=299 => {}
            401 => {
                return Err(ApiError::Unauthorized {
                    source_of_token: self.token_source.clone(),
                });
            }
            // RFC 6585 §4: 429 with Retry-After, here as delay-seconds
            // (RFC 9110 §10.2.3); its HTTP-date form leaves our backoff.
            429 => {
                let retry_after = resp
                    .headers()
                    .get("Retry-After")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|s| Duration::from_secs(s.min(7 * 24 * 3600)));
                return Err(ApiError::RateLimited { retry_after });
            }
            _ => return Err(ApiError::Status { status, what }),
        }
        Ok(resp)
    }
}

/// SHA-1 in upper-case hex, as PhoneBlock's `/check` takes it.
fn sha1_hex(s: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, s.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02X}")).collect()
}

/// A reader that ends with an error after `left` bytes: a flood is cut
/// there (and told apart from a broken connection by `left == 0`).
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: std::io::Read> std::io::Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::other("answer too large"));
        }
        let max = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..max])?;
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_check_hashes_as_phoneblock_documents() {
        // INTEGRATIONS.md, "Check Phone Number (Privacy-Preserving)".
        assert_eq!(
            sha1_hex("+4917650642602"),
            "3D1D76F0C3664E1E818C6ECCFD8843AD1F4091CC"
        );
    }

    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    /// A stand-in answering each connection with `answer(request)`; the
    /// requests it saw are kept.
    fn serve(
        answer: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static,
    ) -> (String, Arc<Mutex<Vec<String>>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/phoneblock/api", l.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        std::thread::spawn(move || {
            for c in l.incoming().take(16) {
                let Ok(mut c) = c else { continue };
                let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                let req = read_request(&mut c);
                let out = answer(&req);
                s.lock().unwrap().push(req);
                let _ = c.write_all(&out);
            }
        });
        (url, seen)
    }

    /// Head and body (by Content-Length) of one request.
    fn read_request(c: &mut std::net::TcpStream) -> String {
        let mut got = Vec::new();
        let mut buf = [0; 4096];
        loop {
            let text = String::from_utf8_lossy(&got).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                    })
                    .unwrap_or(0);
                if got.len() >= end + 4 + len {
                    return text;
                }
            }
            match c.read(&mut buf) {
                Ok(0) | Err(_) => return String::from_utf8_lossy(&got).into_owned(),
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    }

    fn http(status: &str, extra: &str, body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    fn api(url: &str) -> Api {
        Api::new(
            url,
            "tok123",
            "[phoneblock] token_file",
            Duration::from_secs(2),
        )
    }

    #[test]
    fn requests_carry_the_token_and_our_user_agent() {
        let (url, seen) = serve(|req| {
            if req.starts_with("GET /phoneblock/api/blocklist?since=7 ") {
                http(
                    "200 OK",
                    "",
                    r#"{"numbers":[{"phone":"+4930111","votes":0}],"version":8}"#,
                )
            } else {
                http("204 No Content", "", "")
            }
        });
        let a = api(&url);
        let c = a.blocklist(Some(7)).unwrap();
        assert_eq!((c.version, c.removed.len()), (8, 1));
        a.report_call(4930111).unwrap();
        a.rate(4930111, Rating::Fraud, "Gewinnspiel").unwrap();
        let seen = seen.lock().unwrap();
        for r in seen.iter() {
            assert!(
                r.contains("\r\nauthorization: Bearer tok123\r\n")
                    || r.contains("\r\nAuthorization: Bearer tok123\r\n"),
                "{r}"
            );
            assert!(
                r.to_ascii_lowercase().contains(&format!(
                    "user-agent: minisip4fb/{}",
                    env!("CARGO_PKG_VERSION")
                )),
                "{r}"
            );
        }
        assert!(
            seen[1].starts_with("POST /phoneblock/api/report-call/004930111 "),
            "{}",
            seen[1]
        );
        assert!(
            seen[2].contains(r#""phone":"+4930111""#) && seen[2].contains(r#""rating":"G_FRAUD""#),
            "{}",
            seen[2]
        );
    }

    #[test]
    fn refusals_say_what_to_do_and_floods_are_cut() {
        let (url, _) = serve(|req| {
            if req.contains("/test") {
                http("401 Unauthorized", "", "")
            } else if req.contains("since=1") {
                http("429 Too Many Requests", "Retry-After: 120\r\n", "")
            } else {
                let big = "x".repeat(2 << 20);
                http("200 OK", "", &big)
            }
        });
        let a = api(&url);
        let e = a.test().unwrap_err();
        assert_eq!(
            e.to_string(),
            "PhoneBlock refused the token (HTTP 401): check [phoneblock] token_file"
        );
        match a.blocklist(Some(1)).unwrap_err() {
            ApiError::RateLimited { retry_after } => {
                assert_eq!(retry_after, Some(Duration::from_secs(120)))
            }
            e => panic!("{e}"),
        }
        // A 2 MB answer to a request whose limit is 1 MB.
        match a.send("GET", "/account", None, MAX_SMALL_BYTES) {
            Err(ApiError::TooBig { limit, .. }) => assert_eq!(limit, MAX_SMALL_BYTES),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_trickling_server_is_given_up_on_in_time() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        std::thread::spawn(move || {
            let Ok((mut c, _)) = l.accept() else { return };
            let mut buf = vec![0; 8192];
            let _ = c.read(&mut buf);
            let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
            // One byte every 300 ms: it would take 30 s.
            for _ in 0..100 {
                if c.write_all(b"x").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        });
        let a = Api::new(&url, "t", "env", Duration::from_secs(1));
        let t = std::time::Instant::now();
        let e = a.test().unwrap_err();
        assert!(matches!(e, ApiError::Unreachable { .. }), "{e}");
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    }

    #[test]
    fn a_personal_list_the_service_does_not_have_is_empty() {
        let (url, _) = serve(|req| {
            if req.starts_with("GET /phoneblock/api/blacklist ") {
                http(
                    "200 OK",
                    "",
                    r#"{"numbers":[{"phone":"+4930666","label":"x"}]}"#,
                )
            } else {
                http("404 Not Found", "", "")
            }
        });
        let dir = std::env::temp_dir().join(format!("minisip4fb-pb404-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut store = super::super::store::Store::open(&dir.join("pb.db")).unwrap();
        let (p, fetched) = super::super::sync::sync_personal(&api(&url), &mut store, 1).unwrap();
        assert_eq!((p.blacklist.len(), p.whitelist.len()), (1, 0));
        assert_eq!(
            fetched.to_string(),
            "personal lists: 1 on the blacklist, 0 on the whitelist (PhoneBlock has no /whitelist: empty)"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
