//! PhoneBlock from the command line: `minisip4fb phoneblock sync|status`
//! (the local copy), `lookup` (what the rules would do, from local data
//! only) and `report` (the household's rating of a number).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};

use minisip4fb::config::{self, Config, PhoneBlock};
use minisip4fb::phoneblock::api::Api;
use minisip4fb::phoneblock::binary::Verdict;
use minisip4fb::phoneblock::store::Store;
use minisip4fb::phoneblock::sync::{sync_now, sync_personal, sync_ranges};
use minisip4fb::phoneblock::{Rating, parse_phone};
use minisip4fb::text::printable;

#[derive(Args, Debug, Clone)]
pub struct PhoneblockArgs {
    #[command(subcommand)]
    pub command: PhoneblockCommand,
}

#[derive(Subcommand, Debug, Clone)]
pub enum PhoneblockCommand {
    /// Sync the local copy now: a full download the first time, else only what changed; and your own lists.
    Sync(ConfigArg),
    /// The local copy's version, age and size, your lists, queued reports, and whether the token is accepted.
    Status(ConfigArg),
}

#[derive(Args, Debug, Clone)]
pub struct ConfigArg {
    /// The config file with the [phoneblock] section.
    #[arg(long, short, value_name = "FILE", default_value = super::SYSTEM_CONFIG)]
    pub config: PathBuf,
}

#[derive(Args, Debug, Clone)]
pub struct LookupArgs {
    /// The caller's number, in any usual form (`030 1234567`, `+49…`), or `anonymous`.
    pub number: String,
    #[arg(long, short, value_name = "FILE", default_value = super::SYSTEM_CONFIG)]
    pub config: PathBuf,
    /// Which household number was called (for rules with `to`).
    #[arg(long, value_name = "NUMBER")]
    pub to: Option<String>,
    /// Which account's phone the call reached (for rules with `accounts`).
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
    /// The caller's display name as the Box sends it (for rules with `names`).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also ask PhoneBlock's live check (by hashes of the number; the
    /// one lookup that uses the network), and say what the daemon would
    /// then do.
    #[arg(long)]
    pub live: bool,
}

#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    /// The number to rate, in any usual form.
    pub number: String,
    /// A_LEGITIMATE, B_MISSED, C_PING, D_POLL, E_ADVERTISING, F_GAMBLE or G_FRAUD (or just `fraud`, …).
    #[arg(long, value_parser = parse_rating)]
    pub rating: Rating,
    /// A comment for the community (at most 500 characters).
    #[arg(long)]
    pub comment: Option<String>,
    #[arg(long, short, value_name = "FILE", default_value = super::SYSTEM_CONFIG)]
    pub config: PathBuf,
}

fn parse_rating(s: &str) -> Result<Rating, String> {
    Rating::parse(s).ok_or_else(|| {
        format!(
            "unknown rating; use one of {}",
            Rating::ALL.map(Rating::as_str).join(", ")
        )
    })
}

/// Each request to PhoneBlock as a whole, a slow one too.
const TIMEOUT: Duration = Duration::from_secs(60);
/// The longest comment sent with a rating.
const MAX_COMMENT: usize = 500;

/// The config and its `[phoneblock]` section, or the line to print (exit 2).
fn section(path: &Path) -> Result<(Config, PhoneBlock), String> {
    let cfg = config::load(path).map_err(|e| e.to_string())?;
    let pb = cfg.phoneblock.clone().ok_or_else(|| {
        format!(
            "{} has no [phoneblock] section (token_file = \"…\")",
            path.display()
        )
    })?;
    Ok((cfg, pb))
}

/// The API client with the token from where the config says.
fn api(pb: &PhoneBlock) -> Result<(Api, String), String> {
    let (token, from) = pb.token().map_err(|e| e.to_string())?;
    Ok((Api::new(&pb.api, &token, &from, TIMEOUT), from))
}

fn fail(code: i32, what: impl std::fmt::Display) -> i32 {
    eprintln!("minisip4fb: {what}");
    code
}

/// The client and the copy on disk of a `[phoneblock]` section; the
/// error is the line to print and the exit code.
pub fn open(pb: &PhoneBlock) -> Result<(Api, String, Store), (i32, String)> {
    let (api, from) = api(pb).map_err(|e| (2, e))?;
    let store = Store::open(&pb.copy).map_err(|e| (1, e.to_string()))?;
    Ok((api, from, store))
}

pub fn phoneblock(a: PhoneblockArgs) -> i32 {
    let (PhoneblockCommand::Sync(c) | PhoneblockCommand::Status(c)) = &a.command;
    let (cfg, pb) = match section(&c.config) {
        Ok(s) => s,
        Err(e) => return fail(2, e),
    };
    let (api, from, mut store) = match open(&pb) {
        Ok(o) => o,
        Err((code, e)) => return fail(code, e),
    };
    let now = chrono::Utc::now().timestamp();
    match a.command {
        PhoneblockCommand::Sync(_) => {
            if let Ok(Some(m)) = store.meta()
                && now.saturating_sub(m.synced_at) < 23 * 3600
            {
                eprintln!(
                    "note: the copy was synced {} ago; PhoneBlock asks for one sync a day at most (the daemon syncs by itself)",
                    minisip4fb::text::span(now.saturating_sub(m.synced_at))
                );
            }
            let community = match sync_now(&api, &mut store, None, now) {
                Ok((_, synced)) => {
                    println!("{synced}");
                    match sync_ranges(&api, &mut store, pb.min_range_votes, now) {
                        Ok(Some(r)) => {
                            println!("{}", ranges_line(&r));
                            0
                        }
                        Ok(None) => 0,
                        Err(e) => fail(
                            1,
                            format_args!(
                                "the spam ranges were not fetched, the copy keeps the last: {e}"
                            ),
                        ),
                    }
                }
                Err(e) => fail(
                    1,
                    format_args!("PhoneBlock sync failed, the copy is unchanged: {e}"),
                ),
            };
            let personal = match sync_personal(&api, &mut store, now) {
                Ok((_, fetched)) => {
                    println!("{fetched}");
                    0
                }
                Err(e) => fail(
                    1,
                    format_args!(
                        "your PhoneBlock lists were not fetched, the copy keeps the last: {e}"
                    ),
                ),
            };
            community.max(personal)
        }
        PhoneblockCommand::Status(_) => status(&cfg, &pb, &store, &api, &from, now),
    }
}

/// `spam ranges: N of at least V votes`.
fn ranges_line(r: &minisip4fb::phoneblock::Ranges) -> String {
    format!(
        "spam ranges: {} of at least {} votes",
        r.list.spam_ranges().count(),
        r.min_votes
    )
}

/// The copy's version, age and size, the personal lists, queued reports,
/// the token check and the account's country, one line each; 0 if the
/// copy reads and the token is accepted, else 1. Shared with `check`.
pub fn status(
    cfg: &Config,
    pb: &PhoneBlock,
    store: &Store,
    api: &Api,
    from: &str,
    now: i64,
) -> i32 {
    let copy = store.load();
    let ago = |t: i64| minisip4fb::text::span(now.saturating_sub(t));
    match &copy {
        Ok(Some((list, meta))) => {
            let listed = list
                .entries()
                .iter()
                .filter(|e| e.votes >= pb.min_votes)
                .count();
            println!(
                "copy: version {}, {} numbers ({listed} with at least {} votes), synced {} ago, last full download {} ago",
                meta.version,
                list.len(),
                pb.min_votes,
                ago(meta.synced_at),
                ago(meta.full_at)
            );
        }
        Ok(None) => println!(
            "copy: none yet (`minisip4fb phoneblock sync` or the daemon's first start makes it)"
        ),
        Err(e) => println!("copy: {e}"),
    }
    match store.ranges() {
        Ok(Some((r, at))) => println!("{}, fetched {} ago", ranges_line(&r), ago(at)),
        Ok(None) => println!("spam ranges: not fetched yet"),
        Err(e) => println!("spam ranges: {e}"),
    }
    if let Ok(counts) = store.live_counts()
        && !counts.is_empty()
    {
        let n = |what: &str| {
            counts
                .iter()
                .find(|(w, _)| w == what)
                .map_or(0, |(_, n)| *n)
        };
        println!(
            "live checks: {} answered ({} ended the call), {} late, {} failed",
            n("made"),
            n("decided"),
            n("late"),
            n("failed")
        );
    }
    match store.personal() {
        Ok(Some((p, at))) => println!(
            "your lists: {} on the blacklist, {} on the whitelist, fetched {} ago",
            p.blacklist.len(),
            p.whitelist.len(),
            ago(at)
        ),
        Ok(None) => println!("your lists: not fetched yet"),
        Err(e) => println!("your lists: {e}"),
    }
    if let Ok(pending) = store.pending_reports()
        && !pending.is_empty()
    {
        println!("reports: {} queued for PhoneBlock", pending.len());
    }
    match api.test() {
        Ok(()) => {
            println!("token ({from}): accepted");
            account(cfg, api);
            if copy.is_ok() { 0 } else { 1 }
        }
        Err(e) => {
            println!("token: {e}");
            1
        }
    }
}

/// The account's dial prefix, and whether it is the household's country:
/// entries of the personal lists without a country code are read in
/// `[numbers] country`.
fn account(cfg: &Config, api: &Api) {
    let home = minisip4fb::screen::number::Home::new(&cfg.numbers.country, None).ok();
    match (api.dial_prefix(), home) {
        (Ok(Some(p)), Some(h)) if p.trim_start_matches('+') != h.calling_code.to_string() => {
            println!(
                "account: dial prefix {p}, but [numbers] country {} dials +{}: numbers on your lists without +CC are read as +{}",
                cfg.numbers.country, h.calling_code, h.calling_code
            )
        }
        (Ok(Some(p)), _) => println!("account: dial prefix {p}"),
        (Ok(None), _) => println!("account: no dial prefix given"),
        (Err(e), _) => println!("account: {e}"),
    }
}

/// `minisip4fb lookup`: the rules' decision for a call from this number
/// now, from the config, its list files and the local PhoneBlock copy;
/// no network (the Box's lists count as empty).
pub fn lookup(a: LookupArgs) -> i32 {
    let cfg = match config::load(&a.config) {
        Ok(c) => c,
        Err(e) => return fail(2, e),
    };
    let source = minisip4fb::daemon::RuleSource::new(cfg, Some(a.config.clone()), Vec::new());
    let meta = source.load_phoneblock();
    let rules = match source.compile() {
        Ok(r) => r,
        Err(e) => return fail(2, e),
    };
    let number = a.number.trim();
    let number = (!number.eq_ignore_ascii_case("anonymous")).then_some(number);
    if let Some(n) = number
        && !(n.chars().any(|c| c.is_ascii_digit())
            && n.chars()
                .all(|c| c.is_ascii_digit() || " +-/().*".contains(c)))
    {
        return fail(
            2,
            format!(
                "{n:?} is not a phone number: give its digits (030 1234567, +49 30 1234567) or anonymous"
            ),
        );
    }
    let reached = minisip4fb::screen::rules::Reached {
        called: a.to.as_deref(),
        account: a.account.as_deref(),
        name: a.name.as_deref(),
    };
    let d = rules.decide(
        number,
        reached,
        &minisip4fb::screen::rules::History::default(),
        std::time::Instant::now(),
        chrono::Local::now().naive_local(),
    );
    let phone = d.e164.as_deref().and_then(parse_phone);
    let local = source.phoneblock.load();
    let listed = phone.and_then(|p| local.community.lookup(p).copied());
    // What PhoneBlock's binary list says: a spam range, or its global whitelist.
    let range = phone.and_then(|p| local.ranges.list.lookup(p));
    let reason = d.why.to_string();
    // The live check, asked only when the flag says so.
    let live = match (a.live, phone, source.config.phoneblock.as_ref()) {
        (false, ..) => None,
        (true, Some(p), Some(pb)) => match pb.token() {
            Ok((token, from)) => {
                let api = Api::new(&pb.api, &token, &from, std::time::Duration::from_secs(10));
                match api.check(p) {
                    Ok(answer) => {
                        let now = chrono::Local::now().naive_local();
                        let history = minisip4fb::screen::rules::History::default();
                        let then = rules.decide_live(&d, reached, now, &answer, &history);
                        Some((answer, then))
                    }
                    Err(e) => return fail(1, format_args!("PhoneBlock's live check: {e}")),
                }
            }
            Err(e) => return fail(2, e),
        },
        (true, None, _) => {
            return fail(
                2,
                "the live check needs a number PhoneBlock can know (E.164)",
            );
        }
        (true, _, None) => {
            return fail(
                2,
                "the live check needs a [phoneblock] section with a token",
            );
        }
    };
    if a.json {
        let mut out = serde_json::json!({
            "number": number,
            "e164": d.e164,
            "decision": d.effective().as_str(),
            "action": d.action.as_str(),
            "rule": d.why.rule().map(ToString::to_string),
            "reason": reason,
            "name": d.name,
        });
        if let Some(l) = listed {
            out["phoneblock"] = serde_json::json!({
                "votes": l.votes,
                "rating": l.rating.map(Rating::as_str),
            });
        }
        match range {
            Some(Verdict::Range { spam, prefix, len }) => {
                out["phoneblock_range"] = serde_json::json!({
                    "range": format!("+{prefix}*"),
                    "digits": len,
                    "spam": spam,
                    "min_votes": local.ranges.min_votes,
                });
            }
            Some(Verdict::Exact { spam }) => {
                out["phoneblock_binary"] = serde_json::json!({ "spam": spam });
            }
            None => {}
        }
        if let Some((answer, then)) = &live {
            out["live"] = serde_json::json!({
                "votes": answer.votes,
                "range_votes": answer.range_votes,
                "rating": answer.rating.map(Rating::as_str),
                "blacklisted": answer.blacklisted,
                "decision": then.as_ref().map(|t| t.effective().as_str()),
                "reason": then.as_ref().map(|t| t.why.to_string()),
            });
        }
        println!("{out}");
        return 0;
    }
    let shown = d
        .e164
        .clone()
        .unwrap_or_else(|| number.unwrap_or("anonymous").to_owned());
    println!("{}: {}", printable(&shown), d.effective().as_str());
    println!("  {}", printable(&reason));
    if let Some(l) = listed {
        let rating = l.rating.map(|r| format!(" ({r})")).unwrap_or_default();
        println!("  PhoneBlock: {} votes{rating}", l.votes);
    }
    match range {
        Some(Verdict::Range {
            spam: true, prefix, ..
        }) => println!(
            "  PhoneBlock: in the spam range +{prefix}* (at least {} votes)",
            local.ranges.min_votes
        ),
        Some(Verdict::Range {
            spam: false,
            prefix,
            ..
        }) => {
            println!("  PhoneBlock: in the range +{prefix}*, known to be legitimate")
        }
        Some(Verdict::Exact { spam: false }) => {
            println!("  PhoneBlock: known to be legitimate (its global whitelist)")
        }
        Some(Verdict::Exact { spam: true }) | None => {}
    }
    if let Some((answer, then)) = &live {
        println!(
            "  live check: {} votes, {} in its range{}",
            answer.votes,
            answer.range_votes,
            if answer.blacklisted {
                ", on your blacklist"
            } else {
                ""
            }
        );
        match then {
            Some(t) => println!(
                "  → the daemon would {}: {}",
                t.effective().as_str(),
                printable(&t.why.to_string())
            ),
            None => println!("  → it would ring on"),
        }
    }
    if minisip4fb::screen::rules::Rules::wants_box_lists(&source.config) {
        println!(
            "  (lookup reads no lists from the FRITZ!Box: rules with fritzbox:… see them empty)"
        );
    }
    match meta {
        Some(m) => println!(
            "  (PhoneBlock copy version {}, synced {} ago)",
            m.version,
            minisip4fb::text::span(chrono::Utc::now().timestamp().saturating_sub(m.synced_at))
        ),
        None if source.config.phoneblock.is_some() => {
            println!("  (no PhoneBlock copy yet: run `minisip4fb phoneblock sync`)")
        }
        None => {}
    }
    0
}

/// `minisip4fb report`: the household's rating of a number, sent to
/// PhoneBlock (`POST /rate`).
pub fn report(a: ReportArgs) -> i32 {
    let (cfg, pb) = match section(&a.config) {
        Ok(s) => s,
        Err(e) => return fail(2, e),
    };
    let home = match minisip4fb::screen::number::Home::new(
        &cfg.numbers.country,
        cfg.numbers.area_code.as_deref(),
    ) {
        Ok(h) => h,
        Err(e) => return fail(2, format_args!("[numbers]: {e}")),
    };
    let Some(phone) = minisip4fb::screen::number::dialled_e164(&a.number, &home)
        .as_deref()
        .and_then(parse_phone)
    else {
        return fail(
            2,
            format_args!("{:?} is not a phone number", printable(&a.number)),
        );
    };
    let comment = a.comment.unwrap_or_default();
    if comment.chars().count() > MAX_COMMENT {
        return fail(
            2,
            format_args!("--comment: at most {MAX_COMMENT} characters"),
        );
    }
    let (api, _) = match api(&pb) {
        Ok(a) => a,
        Err(e) => return fail(2, e),
    };
    match api.rate(phone, a.rating, &comment) {
        Ok(()) => {
            println!(
                "rated {} as {} at PhoneBlock",
                minisip4fb::phoneblock::e164(phone),
                a.rating
            );
            0
        }
        Err(e) => fail(1, e),
    }
}
