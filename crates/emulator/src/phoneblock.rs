//! A stand-in of PhoneBlock's API (phoneblock.net, its published
//! integration guide and source) on loopback, so that the demo and the
//! tests run offline: the community list in full and since a version, as
//! JSON and in the binary format with its spam ranges and global
//! whitelist, the user's own lists, `/account`, `/test`, `report-call`
//! and `rate`.
//!
//! It is as strict as the service asks its clients to be: every request
//! needs the Bearer token (401 otherwise) and a `minisip4fb/…` User-Agent;
//! a second full download, a report of a number that is not on the
//! community list, more than 20 reports a day and a malformed rating are
//! violations, collected like the Box emulator's.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};

use super::http;

/// The service's reports of listed numbers count up to this many a day
/// per user (the integration guide).
pub const REPORTS_PER_DAY: usize = 20;

/// What the stand-in knows at start.
#[derive(Debug, Clone)]
pub struct PhoneBlockConfig {
    pub bind: SocketAddr,
    /// The API token it accepts.
    pub token: String,
    /// The community list: E.164 number (`+49…`), votes, rating.
    pub community: Vec<(String, u32, String)>,
    /// The user's own lists: number and label.
    pub blacklist: Vec<(String, String)>,
    pub whitelist: Vec<(String, String)>,
    /// The list's version at start.
    pub version: i64,
    /// Numbers PhoneBlock knows to be legitimate (its global whitelist):
    /// white exact records of the binary list.
    pub legitimate: Vec<String>,
}

impl Default for PhoneBlockConfig {
    fn default() -> Self {
        PhoneBlockConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: "emulated-phoneblock-token".into(),
            community: Vec::new(),
            blacklist: Vec::new(),
            whitelist: Vec::new(),
            version: 1000,
            legitimate: Vec::new(),
        }
    }
}

/// The `i`-th synthetic community number, for benchmarks: `+49170…`,
/// `0170…` nationally.
pub fn synthetic(i: usize) -> String {
    format!("+49170{:08}", i)
}

/// `count` synthetic numbers with 10 votes each.
pub fn synthetic_list(count: usize) -> Vec<(String, u32, String)> {
    (0..count)
        .map(|i| (synthetic(i), 10, "E_ADVERTISING".to_owned()))
        .collect()
}

/// A request as the stand-in saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    /// The path below the API's base, with its query: `/blocklist?since=7`.
    pub path: String,
    pub authorized: bool,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone)]
struct Listed {
    votes: u32,
    rating: String,
}

#[derive(Debug)]
struct State {
    cfg: PhoneBlockConfig,
    version: i64,
    numbers: BTreeMap<String, Listed>,
    /// Which numbers changed in which version, for `since=` answers.
    log: BTreeMap<i64, Vec<String>>,
    seen: Vec<Seen>,
    full_downloads: usize,
    reported: Vec<String>,
    rated: Vec<(String, String, String)>,
    violations: Vec<String>,
    /// Answers to give instead of the next requests: status, Retry-After.
    faults: VecDeque<(u16, Option<u64>)>,
    /// The next binary list is damaged this way.
    damage: Option<Damage>,
    /// `/check` answers this late.
    check_delay: std::time::Duration,
    /// `/check` requests answered.
    checks: usize,
}

/// A binary list broken as a hostile or broken server might send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    Magic,
    /// The last record cut off.
    Truncated,
    /// Two records of the exact section swapped.
    Unsorted,
}

impl State {
    fn violation(&mut self, what: String) {
        if !self.violations.contains(&what) {
            self.violations.push(what);
        }
    }
}

/// The running stand-in; it stops when dropped.
pub struct PhoneBlockStandIn {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PhoneBlockStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PhoneBlockStandIn {
    pub async fn start(cfg: PhoneBlockConfig) -> std::io::Result<PhoneBlockStandIn> {
        let listener = TcpListener::bind(cfg.bind).await?;
        let addr = listener.local_addr()?;
        let numbers = cfg
            .community
            .iter()
            .map(|(phone, votes, rating)| {
                let l = Listed {
                    votes: *votes,
                    rating: rating.clone(),
                };
                (phone.clone(), l)
            })
            .collect();
        let state = Arc::new(Mutex::new(State {
            version: cfg.version,
            cfg,
            numbers,
            log: BTreeMap::new(),
            seen: Vec::new(),
            full_downloads: 0,
            reported: Vec::new(),
            rated: Vec::new(),
            violations: Vec::new(),
            faults: VecDeque::new(),
            damage: None,
            check_delay: std::time::Duration::ZERO,
            checks: 0,
        }));
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let _ = connection(stream, st).await;
                });
            }
        });
        Ok(PhoneBlockStandIn { addr, state, task })
    }

    /// The API's base, as `[phoneblock] api` takes it.
    pub fn url(&self) -> String {
        format!("http://{}/phoneblock/api", self.addr)
    }

    pub fn token(&self) -> String {
        self.with(|s| s.cfg.token.clone())
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The community votes a number (0 removes it): a new version.
    pub fn set_votes(&self, phone: &str, votes: u32, rating: &str) -> i64 {
        self.with(|s| {
            s.version += 1;
            let l = Listed {
                votes,
                rating: rating.to_owned(),
            };
            s.numbers.insert(phone.to_owned(), l);
            s.log.entry(s.version).or_default().push(phone.to_owned());
            s.version
        })
    }

    /// Changes `count` numbers in one new version, as the community's list
    /// moves on: every second one of the first `2 × count` synthetic
    /// numbers ([`synthetic`]) removed, as many new ones added.
    pub fn churn(&self, count: usize) -> i64 {
        self.with(|s| {
            s.version += 1;
            let v = s.version;
            for i in 0..count {
                let (phone, votes) = if i % 2 == 0 {
                    (synthetic(i), 0)
                } else {
                    (synthetic(10_000_000 + i), 10)
                };
                let rating = "E_ADVERTISING".to_owned();
                s.log.entry(v).or_default().push(phone.clone());
                s.numbers.insert(phone, Listed { votes, rating });
            }
            v
        })
    }

    /// The service is reset (a restore from a backup): its versions start
    /// again at `version`, its change log is gone, its list stays. A
    /// client's copy can then only heal by a full download, which is no
    /// longer counted against the one a month.
    pub fn reset_version(&self, version: i64) {
        self.with(|s| {
            s.version = version;
            s.log.clear();
            s.full_downloads = 0;
        });
    }

    /// How many full downloads (no `since=`) were asked for.
    pub fn full_downloads(&self) -> usize {
        self.with(|s| s.full_downloads)
    }

    /// The next `count` requests get `status` (with `Retry-After` if given).
    pub fn fail_next(&self, count: usize, status: u16, retry_after: Option<u64>) {
        self.with(|s| {
            s.faults
                .extend(std::iter::repeat_n((status, retry_after), count))
        });
    }

    /// `/check` answers this late (a slow service).
    pub fn delay_checks(&self, delay: std::time::Duration) {
        self.with(|s| s.check_delay = delay);
    }

    /// How many `/check` requests were answered.
    pub fn checks(&self) -> usize {
        self.with(|s| s.checks)
    }

    /// The next binary list is sent damaged.
    pub fn damage_next_binary(&self, how: Damage) {
        self.with(|s| s.damage = Some(how));
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.with(|s| s.seen.clone())
    }

    /// Numbers reported with `report-call`, as sent (`0049…`).
    pub fn reported(&self) -> Vec<String> {
        self.with(|s| s.reported.clone())
    }

    /// Ratings received: phone, rating, comment.
    pub fn rated(&self) -> Vec<(String, String, String)> {
        self.with(|s| s.rated.clone())
    }

    pub fn violations(&self) -> Vec<String> {
        self.with(|s| s.violations.clone())
    }
}

async fn connection(mut s: TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let Some(req) = http::read_request(&mut s).await? else {
        return Ok(());
    };
    let (status, retry, content, delay) = {
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        let delay = if req.target.contains("/check?") {
            st.check_delay
        } else {
            std::time::Duration::ZERO
        };
        match handle(&mut st, &req) {
            Answer::Text(status, retry, text) => (status, retry, text.into_bytes(), delay),
            Answer::Bytes(bytes) => (200, None, bytes, delay),
        }
    };
    tokio::time::sleep(delay).await;
    let extra: Vec<(&str, String)> = retry
        .map(|r| ("Retry-After", r.to_string()))
        .into_iter()
        .collect();
    let kind = if content.starts_with(b"{") {
        "application/json"
    } else if content.starts_with(b"PBBL") {
        "application/octet-stream"
    } else {
        "text/plain; charset=utf-8"
    };
    http::respond(&mut s, status, kind, &extra, &content).await
}

const BASE: &str = "/phoneblock/api";

/// An answer: status, Retry-After and text, or a binary list.
enum Answer {
    Text(u16, Option<u64>, String),
    Bytes(Vec<u8>),
}

impl From<(u16, Option<u64>, String)> for Answer {
    fn from((status, retry, text): (u16, Option<u64>, String)) -> Answer {
        Answer::Text(status, retry, text)
    }
}

fn handle(st: &mut State, req: &http::Request) -> Answer {
    let Some(path) = req.target.strip_prefix(BASE) else {
        return (404, None, String::new()).into();
    };
    let authorized = req.header("authorization") == Some(&format!("Bearer {}", st.cfg.token));
    let user_agent = req.header("user-agent").map(str::to_owned);
    st.seen.push(Seen {
        method: req.method.clone(),
        path: path.to_owned(),
        authorized,
        user_agent: user_agent.clone(),
    });
    if !user_agent.is_some_and(|u| u.starts_with("minisip4fb/")) {
        st.violation(format!(
            "{} {path} without a minisip4fb/VERSION User-Agent",
            req.method
        ));
    }
    if let Some((status, retry)) = st.faults.pop_front() {
        return (status, retry, String::new()).into();
    }
    if !authorized {
        return (401, None, String::new()).into();
    }
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    };
    let answer = match (req.method.as_str(), route) {
        ("GET", "/blocklist") if param("format") == Some("binary") => {
            let max_bytes = param("maxBytes").map_or(Ok(DEFAULT_MAX_BYTES), str::parse::<usize>);
            let Ok(max_bytes) = max_bytes else {
                return (400, None, String::new()).into();
            };
            return binary(
                st,
                param("type"),
                param("minRange"),
                param("since"),
                max_bytes,
            );
        }
        ("GET", "/blocklist") => blocklist(st, query),
        ("GET", "/check") => check(st, query),
        ("GET", "/blacklist") => (200, None, personal(&st.cfg.blacklist, "G_FRAUD")),
        ("GET", "/whitelist") => (200, None, personal(&st.cfg.whitelist, "A_LEGITIMATE")),
        ("GET", "/account") => (
            200,
            None,
            r#"{"dialPrefix":"+49","lang":"de","displayName":"Emulated household"}"#.into(),
        ),
        ("GET", "/test") => (200, None, "ok".into()),
        ("POST", "/rate") => rate(st, &req.body),
        ("POST", r) if r.starts_with("/report-call/") => report_call(st, &r[13..]),
        _ => (404, None, String::new()),
    };
    answer.into()
}

/// `/check?sha1=…&prefix10=…&prefix100=…`: what the service knows of a
/// number it is told only by hashes (SHA-1 of `+49…`, of it without its
/// last digit and without its last two, upper-case hex): its votes, the
/// votes of a range around it (`votesWildcard`: the members of the /10,
/// else of the /100, summed, at least two members), whether it is on the
/// user's blacklist. An unknown number is a 200 with 0 votes. A query
/// with anything but the three hashes is a violation: the number itself
/// must never leave the house.
fn check(st: &mut State, query: &str) -> (u16, Option<u64>, String) {
    let mut hashes: BTreeMap<&str, &str> = BTreeMap::new();
    for kv in query.split('&') {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let hex = v.len() == 40
            && v.bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b));
        if !matches!(k, "sha1" | "prefix10" | "prefix100") || !hex {
            st.violation(format!(
                "/check?{query}: only the three SHA-1 hashes in upper-case hex may leave the house"
            ));
            return (400, None, String::new());
        }
        hashes.insert(k, v);
    }
    let Some(sha1) = hashes.get("sha1").copied() else {
        return (400, None, String::new());
    };
    st.checks += 1;
    let hash = |s: &str| {
        ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, s.as_bytes())
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<String>()
    };
    let listed = st
        .numbers
        .iter()
        .find(|(p, l)| l.votes > 0 && hash(p) == sha1);
    let range = |cut: usize, wanted: Option<&&str>| {
        let wanted = wanted?;
        let members: Vec<u32> = st
            .numbers
            .iter()
            .filter(|(p, l)| l.votes > 0 && p.len() > cut && hash(&p[..p.len() - cut]) == **wanted)
            .map(|(_, l)| l.votes)
            .collect();
        (members.len() >= 2).then(|| members.iter().sum::<u32>())
    };
    let wildcard = range(1, hashes.get("prefix10"))
        .or_else(|| range(2, hashes.get("prefix100")))
        .unwrap_or(0);
    let black = st.cfg.blacklist.iter().any(|(p, _)| hash(p) == sha1);
    let (phone, votes, rating) = match listed {
        Some((p, l)) => (p.clone(), l.votes, l.rating.clone()),
        None => ("unknown".to_owned(), 0, "A_LEGITIMATE".to_owned()),
    };
    let body = serde_json::json!({
        "phone": phone,
        "votes": votes,
        "votesWildcard": wildcard.max(votes),
        "rating": rating,
        "blackListed": black,
        "archived": false,
    });
    (200, None, body.to_string())
}

/// `maxBytes` when the client does not say: the service cuts its binary
/// list to 256 KiB by leaving out direct numbers (never ranges or its
/// whitelist).
const DEFAULT_MAX_BYTES: usize = 256 << 10;

/// The votes a range needs when the client does not say (`minRange`
/// defaults to `minDirect`, raised to the service's floor of 10).
const RANGE_FLOOR: u32 = 10;

/// `/blocklist?format=binary&type=community|personal[&minRange=N]`: the
/// list in PhoneBlock's binary format. Ranges are formed here as the
/// service forms them: the numbers that share all but their last digit
/// (a "/10") or their last two (a "/100"), with their members' votes
/// summed, at least two members. `since=` is not
/// supported for this format (400).
fn binary(
    st: &mut State,
    kind: Option<&str>,
    min_range: Option<&str>,
    since: Option<&str>,
    max_bytes: usize,
) -> Answer {
    if since.is_some() {
        return (
            400,
            None,
            "since= is not supported for the binary format".into(),
        )
            .into();
    }
    let Ok(min_range) = min_range.map_or(Ok(RANGE_FLOOR), str::parse::<u32>) else {
        return (400, None, String::new()).into();
    };
    // (digits, spam) of the exact and the prefix section.
    let mut exact: Vec<(String, bool)> = Vec::new();
    let mut prefix: Vec<(String, bool)> = Vec::new();
    let digits = |phone: &str| phone.trim_start_matches('+').to_owned();
    // The service's numbers are E.164; an entry the JSON list carries for
    // the tests' sake (`garbage`) is none.
    let e164 = |phone: &&String| {
        let d = phone.strip_prefix('+').unwrap_or("");
        (1..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit())
    };
    match kind {
        Some("community") => {
            let mut votes: BTreeMap<String, (u32, u32)> = BTreeMap::new();
            for (phone, l) in st.numbers.iter().filter(|(p, l)| l.votes > 0 && e164(p)) {
                let d = digits(phone);
                exact.push((d.clone(), true));
                for cut in [1, 2] {
                    if d.len() > cut + 6 {
                        let e = votes.entry(d[..d.len() - cut].to_owned()).or_default();
                        e.0 += 1;
                        e.1 += l.votes;
                    }
                }
            }
            for (p, (members, sum)) in votes {
                if members >= 2 && sum >= min_range.max(RANGE_FLOOR) {
                    prefix.push((p, true));
                }
            }
            exact.extend(st.cfg.legitimate.iter().map(|p| (digits(p), false)));
        }
        Some("personal") => {
            for (list, spam) in [(&st.cfg.blacklist, true), (&st.cfg.whitelist, false)] {
                for (phone, _) in list {
                    match phone.strip_suffix('*') {
                        Some(p) => prefix.push((digits(p), spam)),
                        None => exact.push((digits(phone), spam)),
                    }
                }
            }
        }
        _ => return (400, None, "type=community or type=personal".into()).into(),
    }
    // Over maxBytes: spam numbers leave first (the service drops the
    // least active; here, the last).
    let fixed = 16 + 8 * (prefix.len() + exact.iter().filter(|(_, spam)| !spam).count());
    let mut room = max_bytes.saturating_sub(fixed) / 8;
    exact.retain(|(_, spam)| {
        let keep = !spam || room > 0;
        if *spam && keep {
            room -= 1;
        }
        keep
    });
    let mut file = binary_list(&exact, &prefix);
    match st.damage.take() {
        Some(Damage::Magic) => file[0] = b'X',
        Some(Damage::Truncated) => file.truncate(file.len() - 3),
        Some(Damage::Unsorted) if exact.len() >= 2 => {
            let (a, b) = file[16..32].split_at_mut(8);
            a.swap_with_slice(b);
        }
        _ => {}
    }
    Answer::Bytes(file)
}

/// PhoneBlock's binary list from (digits, spam) of its exact and its
/// prefix section: a 16-byte little-endian header (`PBBL`, version 1, the
/// bitmap of prefix lengths, the two counts), then each section's 8-byte
/// records sorted as unsigned numbers; a record is the digits in base 11
/// (digit d as d + 1, padded with 0 to 16 places) shifted up 8 bits, bit
/// 0 set for spam. Also for benchmarks.
pub fn binary_list(exact: &[(String, bool)], prefix: &[(String, bool)]) -> Vec<u8> {
    let record = |(digits, spam): &(String, bool)| {
        let mut places: Vec<u64> = digits.bytes().map(|b| u64::from(b - b'0') + 1).collect();
        places.resize(16, 0);
        let key = places.iter().fold(0u64, |k, p| k * 11 + p);
        (key << 8) | u64::from(*spam)
    };
    let section = |entries: &[(String, bool)]| {
        let mut r: Vec<u64> = entries.iter().map(record).collect();
        r.sort_unstable();
        r.dedup_by_key(|x| *x >> 8);
        r
    };
    let (e, p) = (section(exact), section(prefix));
    let bitmap = prefix.iter().fold(0u16, |b, (d, _)| b | (1 << d.len()));
    let mut out = Vec::with_capacity(16 + 8 * (e.len() + p.len()));
    out.extend_from_slice(b"PBBL");
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&bitmap.to_le_bytes());
    out.extend_from_slice(&(e.len() as u32).to_le_bytes());
    out.extend_from_slice(&(p.len() as u32).to_le_bytes());
    for r in e.iter().chain(&p) {
        out.extend_from_slice(&r.to_le_bytes());
    }
    out
}

fn blocklist(st: &mut State, query: &str) -> (u16, Option<u64>, String) {
    let since = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("since="))
        .map(str::parse::<i64>);
    let since = match since {
        None => {
            st.full_downloads += 1;
            if st.full_downloads > 1 {
                st.violation("a second full download of /blocklist (PhoneBlock allows one a month; use since=VERSION)".into());
            }
            None
        }
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => return (400, None, String::new()),
    };
    // Written by hand: a million entries must not become a million
    // `serde_json::Value`s (the benchmark serves that many).
    let mut body = String::with_capacity(64 + st.numbers.len() * 90);
    body.push_str("{\"numbers\":[");
    let mut first = true;
    // A full answer walks the list, an incremental one only the change log.
    let changed: Vec<&String> = match since {
        None => st.numbers.keys().collect(),
        Some(v) => {
            let mut c: Vec<&String> = st.log.range(v + 1..).flat_map(|(_, p)| p).collect();
            c.sort();
            c.dedup();
            c
        }
    };
    for phone in changed {
        let Some(l) = st.numbers.get(phone) else {
            continue;
        };
        if since.is_none() && l.votes == 0 {
            continue;
        }
        if !first {
            body.push(',');
        }
        first = false;
        let _ = write!(
            body,
            "{{\"phone\":{},\"rating\":{},\"votes\":{},\"lastActivity\":1764000000000}}",
            serde_json::Value::from(phone.as_str()),
            serde_json::Value::from(l.rating.as_str()),
            l.votes
        );
    }
    let _ = write!(body, "],\"version\":{}}}", st.version);
    (200, None, body)
}

/// A JSON personal list: its single numbers (its ranges, `+4930123*`,
/// only in the binary list).
fn personal(list: &[(String, String)], rating: &str) -> String {
    let numbers: Vec<serde_json::Value> = list
        .iter()
        .filter(|(phone, _)| !phone.ends_with('*'))
        .map(|(phone, label)| {
            serde_json::json!({ "phone": phone, "label": label, "comment": "", "rating": rating })
        })
        .collect();
    serde_json::json!({ "numbers": numbers }).to_string()
}

fn report_call(st: &mut State, phone: &str) -> (u16, Option<u64>, String) {
    let Some(digits) = phone
        .strip_prefix("00")
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    else {
        st.violation(format!(
            "report-call/{phone}: not a number in the form 0049…"
        ));
        return (400, None, String::new());
    };
    let e164 = format!("+{digits}");
    if st.numbers.get(&e164).is_none_or(|l| l.votes == 0) {
        st.violation(format!(
            "report-call of {e164}, which is not on the community list (only blocked numbers may leave the house)"
        ));
    }
    st.reported.push(phone.to_owned());
    if st.reported.len() > REPORTS_PER_DAY {
        st.violation(format!("more than {REPORTS_PER_DAY} report-calls in a day"));
    }
    (204, None, String::new())
}

fn rate(st: &mut State, body: &str) -> (u16, Option<u64>, String) {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    let valid = field("rating").is_some_and(|r| {
        minisip4fb::phoneblock::Rating::ALL
            .iter()
            .any(|x| x.as_str() == r)
    });
    match (field("phone"), field("rating")) {
        (Some(phone), Some(rating)) if valid => {
            st.rated
                .push((phone, rating, field("comment").unwrap_or_default()));
            (200, None, "Rating recorded.".into())
        }
        _ => {
            st.violation(format!("/rate with a body PhoneBlock refuses: {body}"));
            (400, None, String::new())
        }
    }
}
