//! The dashboard's pages: server-rendered HTML in German or English, one
//! stylesheet and one script embedded in the binary (no CDN, no inline
//! script: the CSP allows only this origin). The call list is filled and
//! kept live by the script from `/api/calls` and `/events`; status,
//! statistics and rules are rendered here, the chart as SVG.

use std::fmt::Write as _;

use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::i18n::{self, Lang};
use super::{App, Shared, auth, escape, private};
use crate::call::Time;
use crate::call::words::Said;
use crate::phoneblock::Rating;

#[derive(Deserialize)]
pub(super) struct PageQuery {
    lang: Option<String>,
    blocked: Option<String>,
    rule: Option<String>,
    date: Option<String>,
}

/// Which page a layout is for (its link in the menu is marked).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Status,
    Calls,
    Stats,
    Rules,
}

const MENU: [(Which, &str, &str); 4] = [
    (Which::Status, "/", "nav.status"),
    (Which::Calls, "/calls", "nav.calls"),
    (Which::Stats, "/stats", "nav.stats"),
    (Which::Rules, "/rules", "nav.rules"),
];

pub(super) const APP_JS: &str = include_str!("assets/app.js");
pub(super) const APP_CSS: &str = include_str!("assets/app.css");
const ICON: &str = include_str!("assets/icon.svg");

/// `/app.js`, `/app.css` and the icon: part of the binary, cached for an
/// hour.
pub(super) async fn asset(uri: axum::http::Uri) -> Response {
    let (kind, body) = match uri.path() {
        "/app.js" => ("text/javascript; charset=utf-8", APP_JS),
        "/app.css" => ("text/css; charset=utf-8", APP_CSS),
        _ => ("image/svg+xml", ICON),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// A page with the menu, in `lang`; `data` are the `<body>`'s data
/// attributes the script reads. A language asked for in the URL is kept
/// in a cookie.
fn layout(
    app: &Shared,
    lang: Lang,
    asked: bool,
    which: Which,
    data: &[(&str, &str)],
    body: &str,
) -> Response {
    let mut menu = String::new();
    for (w, href, key) in MENU {
        let current = if w == which {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(menu, "<a href=\"{href}\"{current}>{}</a>", lang.t(key));
    }
    let here = MENU.iter().find(|m| m.0 == which).map_or("/", |m| m.1);
    let other = match lang {
        Lang::De => "en",
        Lang::En => "de",
    };
    let logout = if app.auth.has_password() {
        format!(
            "<form method=\"post\" action=\"/logout\"><button>{}</button></form>",
            lang.t("logout")
        )
    } else {
        String::new()
    };
    let mut attrs = String::new();
    for (k, v) in data {
        let _ = write!(attrs, " data-{k}=\"{}\"", escape(v));
    }
    let title = lang.t(MENU
        .iter()
        .find(|m| m.0 == which)
        .map_or("nav.status", |m| m.2));
    let html = format!(
        "<!doctype html><html lang=\"{code}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>minisip4fb: {title}</title><link rel=\"stylesheet\" href=\"/app.css\"><link rel=\"icon\" href=\"/icon.svg\"></head>\
         <body{attrs}><header><strong class=\"brand\">minisip4fb</strong><nav>{menu}</nav>\
         <a class=\"lang\" href=\"{here}?lang={other}\" hreflang=\"{other}\">{other_up}</a>{logout}</header>\
         <main>{body}</main>\
         <script type=\"application/json\" id=\"i18n\">{texts}</script>\
         <script src=\"/app.js\" defer></script></body></html>",
        code = lang.code(),
        other_up = other.to_ascii_uppercase(),
        texts = lang.json().replace("</", "<\\/"),
    );
    let mut r = Html(html).into_response();
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    if asked {
        let c = format!(
            "{}={}; SameSite=Strict; Path=/; Max-Age=31536000",
            i18n::COOKIE,
            lang.code()
        );
        if let Ok(v) = HeaderValue::from_str(&c) {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    private(r)
}

/// An RFC 3339 time as the household's clock shows it; anything else as
/// it is.
fn local_time(s: &str) -> String {
    s.parse::<Time>()
        .map_or_else(|_| s.to_owned(), |t| t.local())
}

/// A page's request: with the login if there is a password (else it goes
/// to the login page), in its language, and whether the URL asked for
/// that language (it is then kept in a cookie).
pub(super) struct Visit {
    lang: Lang,
    asked: bool,
    q: PageQuery,
}

impl FromRequestParts<App> for Visit {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Visit, Response> {
        if !app.auth.allows(&parts.headers) {
            return Err(auth::to_login());
        }
        let Query(q) = Query::<PageQuery>::from_request_parts(parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Visit {
            lang: Lang::of(&parts.headers, q.lang.as_deref()),
            asked: q.lang.is_some(),
            q,
        })
    }
}

/// The key-press check's passes: each number, until when, and the
/// buttons that keep it for good or take it back.
fn passes_cell(passes: &[serde_json::Value], lang: Lang) -> String {
    passes
        .iter()
        .map(|p| {
            let number = escape(p["number"].as_str().unwrap_or(""));
            let (until, keep) = match p["until"].as_str() {
                Some(u) => (
                    Said::new("passes.until").with("until", local_time(u)).show(lang),
                    format!(
                        "<button type=\"button\" class=\"pass-keep\" data-number=\"{number}\">{}</button> ",
                        lang.t("passes.keep")
                    ),
                ),
                None => (lang.t("passes.forever").to_owned(), String::new()),
            };
            format!(
                "<span class=\"number\">{number}</span> {} {keep}\
                 <button type=\"button\" class=\"pass-remove\" data-number=\"{number}\">{}</button>",
                escape(&until),
                lang.t("passes.remove")
            )
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

fn rows(rows: &[(String, String)]) -> String {
    rows.iter()
        .map(|(k, v)| format!("<tr><th scope=\"row\">{}</th><td>{v}</td></tr>", escape(k)))
        .collect()
}

/// `GET /`: is the shield registered, the Box, the rules, PhoneBlock,
/// TR-064. Reloaded by the script when the registration changes.
pub(super) async fn status(State(app): State<App>, Visit { lang, asked, .. }: Visit) -> Response {
    let s = super::status(&app);
    let shown = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "–".to_owned(),
        serde_json::Value::String(v) => escape(&local_time(v)),
        v => escape(&v.to_string()),
    };
    let text = |k: &str| shown(&s[k]);
    let yes_no = |b: bool| lang.t(if b { "yes" } else { "no" });
    // Each account's registration; with several, each row names it.
    let accounts = s["accounts"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut table = Vec::new();
    for (i, a) in accounts.iter().enumerate() {
        let of = if accounts.len() > 1 {
            format!(" ({})", shown(&a["account"]))
        } else {
            String::new()
        };
        let state = a["registration"].as_str().unwrap_or("unregistered");
        // The script watches the first one's badge.
        let id = if i == 0 { " id=\"registration\"" } else { "" };
        table.extend([
            (
                format!("{}{of}", lang.t("registration")),
                format!(
                    "<span class=\"badge reg-{state}\"{id}>{}</span>",
                    lang.t(&format!("reg.{state}"))
                ),
            ),
            (format!("{}{of}", lang.t("since")), shown(&a["since"])),
            (
                format!("{}{of}", lang.t("last_heard")),
                shown(&a["last_heard"]),
            ),
            (
                format!("{}{of}", lang.t("granted")),
                a["expires"]
                    .as_u64()
                    .map_or_else(|| "–".to_owned(), |e| format!("{e} s")),
            ),
            (
                format!("FRITZ!Box{of}"),
                format!(
                    "{} ({} {})",
                    shown(&a["fritzbox"]),
                    lang.t("user"),
                    shown(&a["user"])
                ),
            ),
            (
                format!("{}{of}", lang.t("last_error")),
                match a["last_error"].as_str() {
                    Some(e) => format!("{} ({})", escape(e), shown(&a["last_error_at"])),
                    None => lang.t("none").to_owned(),
                },
            ),
        ]);
        let missed = &a["not_delivered"];
        if !missed.is_null() {
            let who = missed["caller"]
                .as_str()
                .map_or_else(|| lang.t("who.anonymous").to_owned(), escape);
            table.push((
                format!("{}{of}", lang.t("not_delivered")),
                format!(
                    "<span class=\"badge reg-failed\">{who} → {}</span> ({})",
                    shown(&missed["called"]),
                    shown(&missed["time"])
                ),
            ));
        }
    }
    table.extend([
        (lang.t("rules").to_owned(), text("rules")),
        (lang.t("shield").to_owned(), {
            let on = s["shield"] == true;
            format!(
                "<span class=\"badge {cls}\" id=\"shield\">{state}</span> \
                     <button type=\"button\" id=\"shield-toggle\" data-on=\"{data}\">{button}</button>",
                cls = if on {
                    "reg-registered"
                } else {
                    "reg-connecting"
                },
                state = lang.t(if on { "shield.on" } else { "shield.off" }),
                data = if on { "1" } else { "" },
                button = lang.t(if on { "turn_off" } else { "turn_on" }),
            )
        }),
        (
            lang.t("log_only").to_owned(),
            yes_no(s["log_only"] == true).to_owned(),
        ),
    ]);
    let pb = &s["phoneblock"];
    table.push((
        "PhoneBlock".to_owned(),
        if pb.is_null() {
            lang.t("not_configured").to_owned()
        } else if pb["version"].as_i64().unwrap_or(0) == 0 {
            lang.t("no_copy").to_owned()
        } else {
            Said::new("phoneblock.copy")
                .with("n", &pb["numbers"])
                .with("ranges", &pb["ranges"])
                .with("version", &pb["version"])
                .with("black", &pb["blacklist"])
                .with("white", &pb["whitelist"])
                .show(lang)
        },
    ));
    if let Some(doors) = s["doors"].as_array().filter(|d| !d.is_empty()) {
        let cells: Vec<String> = doors
            .iter()
            .map(|d| {
                let rule = escape(d["rule"].as_str().unwrap_or(""));
                let what = if d["closed"] == true {
                    lang.t("doors.closed").to_owned()
                } else {
                    Said::new("doors.callers")
                        .with("n", &d["locked_callers"])
                        .show(lang)
                };
                format!(
                    "<span class=\"badge reg-connecting\">{rule}: {what}</span> \
                     <button type=\"button\" class=\"door-open\" data-rule=\"{rule}\">{}</button>",
                    lang.t("doors.open")
                )
            })
            .collect();
        table.push((lang.t("doors").to_owned(), cells.join("<br>")));
    }
    if let Some(passes) = s["passes"].as_array().filter(|p| !p.is_empty()) {
        table.push((lang.t("passes").to_owned(), passes_cell(passes, lang)));
    }
    table.push((
        "TR-064".to_owned(),
        match &app.tr064 {
            super::Tr064::Off => lang.t("not_configured").to_owned(),
            super::Tr064::On(link) => format!(
                "{}: {} ({} {})",
                lang.t("configured"),
                escape(link.url()),
                lang.t("user"),
                escape(link.user())
            ),
            super::Tr064::Broken(e) => format!("{}: {}", lang.t("failed"), escape(e)),
        },
    ));
    table.push((lang.t("version").to_owned(), text("version")));
    let body = format!(
        "<h1>{}</h1><table class=\"status\">{}</table>",
        lang.t("nav.status"),
        rows(&table)
    );
    layout(
        &app,
        lang,
        asked,
        Which::Status,
        &[("page", "status")],
        &body,
    )
}

/// `GET /calls`: the filters and an empty table the script fills from
/// `/api/calls` and keeps live from `/events`; the actions the config
/// allows (block, allow, report, phonebook) as data attributes.
pub(super) async fn calls(State(app): State<App>, Visit { lang, asked, q }: Visit) -> Response {
    let rules = app.rule_views(lang);
    let wanted = q.rule.as_deref().unwrap_or("");
    let mut options = format!("<option value=\"\">{}</option>", lang.t("all"));
    for r in rules.iter().map(|r| r.rule.as_str()) {
        let sel = if r == wanted { " selected" } else { "" };
        let _ = write!(
            options,
            "<option value=\"{}\"{sel}>{}</option>",
            escape(r),
            escape(r)
        );
    }
    let date = q
        .date
        .as_deref()
        .filter(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok())
        .unwrap_or("");
    let checked = if q.blocked.is_some() { " checked" } else { "" };
    let bar = if app.bar.is_some() {
        format!(
            "<label class=\"bar\"><input type=\"checkbox\" id=\"bar-too\"> {}</label>",
            lang.t("bar_too")
        )
    } else {
        String::new()
    };
    let ratings: String = Rating::ALL
        .iter()
        .map(|r| {
            let sel = if *r == Rating::Advertising {
                " selected"
            } else {
                ""
            };
            format!(
                "<option value=\"{}\"{sel}>{}</option>",
                r.as_str(),
                lang.word("rating", r.as_str())
            )
        })
        .collect();
    let body = format!(
        "<h1>{calls}</h1>\
         <form id=\"filters\" class=\"filters\" method=\"get\" action=\"/calls\">\
         <label><input type=\"checkbox\" name=\"blocked\" value=\"1\"{checked}> {blocked_only}</label>\
         <label>{rule} <select name=\"rule\">{options}</select></label>\
         <label>{date_t} <input type=\"date\" name=\"date\" value=\"{date}\"></label>\
         <button>{filter}</button></form>\
         <p class=\"toolbar\"><span id=\"live\" class=\"live off\">{offline}</span>{bar}</p>\
         <p id=\"msg\" role=\"status\" aria-live=\"polite\"></p>\
         <table id=\"calls\" class=\"calls\" data-accounts=\"{accounts}\"><thead><tr><th>{time}</th><th>{caller}</th><th>{called}</th>\
         <th>{decision}</th><th>{outcome}</th><th>INVITE→BYE</th><th>{actions}</th></tr></thead>\
         <tbody></tbody></table><p id=\"empty\" hidden>{no_calls}</p>\
         <dialog id=\"report-dialog\"><form method=\"dialog\"><h2>PhoneBlock</h2><p class=\"number\"></p>\
         <label>{rating} <select name=\"rating\">{ratings}</select></label>\
         <label>{comment} <input name=\"comment\" maxlength=\"200\"></label>\
         <menu><button value=\"cancel\" formnovalidate>{cancel}</button> <button value=\"ok\">{send}</button></menu></form></dialog>\
         <dialog id=\"book-dialog\"><form method=\"dialog\"><h2>{to_book}</h2><p class=\"number\"></p>\
         <label>{name} <input name=\"name\" maxlength=\"80\" required></label>\
         <label>{book} <select name=\"book\"></select></label>\
         <menu><button value=\"cancel\" formnovalidate>{cancel}</button> <button value=\"ok\">{add}</button></menu></form></dialog>",
        calls = lang.t("nav.calls"),
        blocked_only = lang.t("blocked_only"),
        rule = lang.t("rule"),
        date_t = lang.t("date"),
        filter = lang.t("filter"),
        offline = lang.t("offline"),
        time = lang.t("time"),
        caller = lang.t("caller"),
        called = lang.t("called"),
        accounts = app.phones.len(),
        decision = lang.t("decision"),
        outcome = lang.t("outcome"),
        actions = lang.t("actions"),
        no_calls = lang.t("no_calls"),
        rating = lang.t("rating"),
        comment = lang.t("comment"),
        cancel = lang.t("cancel"),
        send = lang.t("send"),
        to_book = lang.t("to_phonebook"),
        name = lang.t("name"),
        book = lang.t("phonebook"),
        add = lang.t("add"),
    );
    let on = |b: bool| if b { "1" } else { "" };
    let data = [
        ("page", "calls"),
        ("block", on(app.lists.block.is_some())),
        ("allow", on(app.lists.allow.is_some())),
        ("report", on(app.phoneblock_api.is_some())),
        ("phonebook", on(matches!(app.tr064, super::Tr064::On(_)))),
    ];
    layout(&app, lang, asked, Which::Calls, &data, &body)
}

/// Days shown in the chart.
const CHART_DAYS: i64 = 30;

/// `GET /stats`: the last 30 days as an SVG chart (blocked over rung per
/// day), the rules that decided and the numbers blocked most.
pub(super) async fn stats(State(app): State<App>, Visit { lang, asked, .. }: Visit) -> Response {
    let today = chrono::Utc::now().date_naive();
    let first = today - chrono::Days::new(CHART_DAYS as u64 - 1);
    let since = first.and_hms_opt(0, 0, 0).map(|t| Time(t.and_utc()));
    let read = super::read_stats(&app, since).await;
    let body = match read {
        Ok(None) => format!(
            "<h1>{}</h1><p>{}</p>",
            lang.t("nav.stats"),
            lang.t("no_log")
        ),
        Err(e) => format!(
            "<h1>{}</h1><p class=\"error\">{}: {}</p>",
            lang.t("nav.stats"),
            lang.t("log_unreadable"),
            escape(&e)
        ),
        Ok(Some(s)) => {
            let mut rules = String::new();
            for (rule, action, n) in &s.rules {
                let shown = rule.as_deref().unwrap_or(lang.t("no_rule"));
                let _ = write!(
                    rules,
                    "<tr><td>{}</td><td>{}</td><td class=\"n\">{n}</td></tr>",
                    escape(shown),
                    badge(action, lang)
                );
            }
            let mut top = String::new();
            for (number, n) in &s.top_blocked {
                let _ = write!(
                    top,
                    "<tr><td>{}</td><td class=\"n\">{n}</td></tr>",
                    escape(number)
                );
            }
            format!(
                "<h1>{stats}</h1><h2>{per_day} <small>({last})</small></h2>{chart}\
                 <div class=\"columns\"><section><h2>{top_rules}</h2><table><thead><tr><th>{rule}</th><th>{action}</th><th>{calls}</th></tr></thead>{rules}</table></section>\
                 <section><h2>{top_blocked}</h2><table><thead><tr><th>{caller}</th><th>{calls}</th></tr></thead>{top}</table></section></div>",
                stats = lang.t("nav.stats"),
                per_day = lang.t("per_day"),
                last = lang.t("last_30"),
                chart = chart(&s.days, first, lang),
                top_rules = lang.t("top_rules"),
                rule = lang.t("rule"),
                action = lang.t("action"),
                calls = lang.t("calls"),
                top_blocked = lang.t("top_blocked"),
                caller = lang.t("caller"),
            )
        }
    };
    layout(&app, lang, asked, Which::Stats, &[("page", "stats")], &body)
}

/// Blocked (not left to ring) over rung calls for each of the
/// `CHART_DAYS` days from `first`, as SVG with a tooltip per bar.
fn chart(days: &[crate::calllog::DayCounts], first: chrono::NaiveDate, lang: Lang) -> String {
    const W: i64 = 720;
    const H: i64 = 200;
    const BOTTOM: i64 = 20;
    // Above the bars: the scale's label and its line.
    const TOP: i64 = 18;
    let per_day = |d: chrono::NaiveDate| {
        let key = d.to_string();
        days.iter()
            .find(|x| x.0 == key)
            .map_or((0, 0), |(_, calls, _, _, rang)| (calls - rang, *rang))
    };
    let all: Vec<_> = (0..CHART_DAYS)
        .map(|i| {
            let d = first + chrono::Days::new(i as u64);
            (d, per_day(d))
        })
        .collect();
    let max = all
        .iter()
        .map(|(_, (b, r))| b + r)
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = W / CHART_DAYS;
    let height = |n: i64| n * (H - BOTTOM - TOP) / max;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\">",
        lang.t("per_day")
    );
    for (i, (day, (blocked, rang))) in all.iter().enumerate() {
        let x = i as i64 * slot + 2;
        let (hb, hr) = (height(*blocked), height(*rang));
        let base = H - BOTTOM;
        let _ = write!(
            svg,
            "<g><title>{day}: {blocked} {b}, {rang} {r}</title>\
             <rect class=\"rang\" x=\"{x}\" y=\"{}\" width=\"{w}\" height=\"{hr}\"/>\
             <rect class=\"blocked\" x=\"{x}\" y=\"{}\" width=\"{w}\" height=\"{hb}\"/></g>",
            base - hr,
            base - hr - hb,
            w = slot - 4,
            b = lang.t("blocked"),
            r = lang.t("rang"),
        );
        // A label a week, counted back from today (the last one ends at
        // the right edge).
        let back = CHART_DAYS - 1 - i as i64;
        if back % 7 == 0 {
            let (at, anchor) = if back == 0 {
                (W - 2, "end")
            } else {
                (x, "start")
            };
            let _ = write!(
                svg,
                "<text x=\"{at}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
                H - 5,
                day.format(lang.t("day"))
            );
        }
    }
    let _ = write!(
        svg,
        "<line class=\"max\" x1=\"0\" y1=\"{TOP}\" x2=\"{W}\" y2=\"{TOP}\"/>\
         <text x=\"{}\" y=\"12\" class=\"max\">{max}</text></svg>\
         <p class=\"legend\"><span class=\"key blocked\"></span> {} <span class=\"key rang\"></span> {}</p>",
        W - 4,
        lang.t("blocked"),
        lang.t("rang")
    );
    svg
}

/// `GET /rules`: the rules in order with how often each decided a call
/// (the whole call log), then the default.
pub(super) async fn rules(State(app): State<App>, Visit { lang, asked, .. }: Visit) -> Response {
    let (views, default) = match app.rules.load_full() {
        Some(r) => (r.views(lang), Some(r.default_action())),
        None => (Vec::new(), None),
    };
    let counts = super::read_stats(&app, None).await;
    let matched = |rule: Option<&str>| match &counts {
        Ok(Some(s)) => s.matched(rule).to_string(),
        _ => "–".into(),
    };
    let mut table = String::new();
    for v in &views {
        let crit: String = v
            .criteria
            .iter()
            .map(|c| format!("<li>{}</li>", escape(c)))
            .collect();
        let only = if v.log_only {
            format!(" <small>({})</small>", lang.t("log_only_short"))
        } else {
            String::new()
        };
        let _ = write!(
            table,
            "<tr><td class=\"n\">{}</td><td>{}</td><td><ul>{crit}</ul></td>\
             <td>{}{only}</td><td class=\"n\">{}</td></tr>",
            v.index,
            escape(&v.name),
            badge(v.action.as_str(), lang),
            matched(Some(&v.rule)),
        );
    }
    if let Some(d) = default {
        let _ = write!(
            table,
            "<tr class=\"default\"><td></td><td colspan=\"2\">{}</td>\
             <td>{}</td><td class=\"n\">{}</td></tr>",
            lang.t("default"),
            badge(d.as_str(), lang),
            matched(None),
        );
    }
    let body = format!(
        "<h1>{}</h1><table class=\"rules\"><thead><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>{table}</table>{}",
        lang.t("nav.rules"),
        lang.t("name"),
        lang.t("criteria"),
        lang.t("action"),
        lang.t("matched"),
        match &counts {
            Ok(None) => format!("<p>{}</p>", lang.t("no_log")),
            Err(e) => format!(
                "<p class=\"error\">{}: {}</p>",
                lang.t("log_unreadable"),
                escape(e)
            ),
            Ok(Some(_)) => String::new(),
        }
    );
    layout(&app, lang, asked, Which::Rules, &[("page", "rules")], &body)
}

/// An action (`terminate`) as a coloured badge in the reader's language.
fn badge(action: &str, lang: Lang) -> String {
    format!(
        "<span class=\"badge d-{}\">{}</span>",
        escape(action),
        escape(&lang.word("action", action))
    )
}

/// 404 as a page.
pub(super) async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}
