//! The rules' behaviour, one test per criterion and action; and the
//! documented example config, which must always compile.

use super::*;
use crate::media::Collect;

fn rules(toml: &str) -> Rules {
    let cfg = config::parse(toml).unwrap();
    Rules::compile(&cfg).unwrap().0
}

#[test]
fn community_votes_decide_and_are_the_reason() {
    use crate::phoneblock::{Community, Listed, Local, Personal, PersonalEntry, Rating};
    let toml = "[numbers]\ncountry = \"DE\"\n[phoneblock]\nmin_votes = 4\n\
            [[rule]]\nname = \"mine\"\nlists = [\"phoneblock:whitelist\"]\naction = \"ring\"\n\
            [[rule]]\nname = \"my spam\"\nlists = [\"phoneblock:blacklist\"]\naction = \"terminate\"\n\
            [[rule]]\nname = \"strict\"\nlists = [\"phoneblock:community\"]\nmin_votes = 50\nto = [\"030 999\"]\naction = \"terminate\"\n\
            [[rule]]\nname = \"community\"\nlists = [\"phoneblock:community\"]\naction = \"terminate\"\n";
    let cfg = config::parse(toml).unwrap();
    let handle = phoneblock::Handle::default();
    let (r, _) = Rules::compile_with(&cfg, &BoxLists::new(), &handle).unwrap();
    assert_eq!(
        decide(&r, Some("0301234567")).action,
        Action::Ring,
        "empty copy"
    );
    let entry = |phone: &str, label: Option<&str>| PersonalEntry {
        phone: phone.into(),
        label: label.map(Into::into),
    };
    let listed = |phone, votes| Listed {
        phone,
        votes,
        rating: Some(Rating::Advertising),
    };
    // A sync swaps the copy in: the compiled rules see it at once.
    handle.store(Arc::new(Local {
        community: Arc::new(Community::new(
            vec![
                listed(49301234567, 20),
                listed(49307654321, 2),
                listed(49305550000, 50),
                listed(49301112222, 2),
            ],
            1,
        )),
        personal: Arc::new(Personal {
            blacklist: vec![entry("0307654*", None), entry("no number", None)],
            whitelist: vec![entry("+49305550000", Some("Praxis"))],
        }),
        ranges: Default::default(),
    }));
    let d = decide(&r, Some("0301234567"));
    assert_eq!(d.action, Action::Terminate);
    assert_eq!(
        d.why.to_string(),
        "rule 4 \"community\": +49301234567 has 20 PhoneBlock votes (E_ADVERTISING)"
    );
    // The personal lists are read when the rules compile.
    assert_eq!(decide(&r, Some("0305550000")).action, Action::Terminate);
    let (r, warnings) = Rules::compile_with(&cfg, &BoxLists::new(), &handle).unwrap();
    assert_eq!(
        warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["phoneblock:blacklist:2: \"no number\": not a phone number"]
    );
    let d = decide(&r, Some("0305550000"));
    assert_eq!(
        (d.action, d.why.to_string().as_str()),
        (
            Action::Ring,
            "rule 1 \"mine\": +49305550000 in phoneblock:whitelist (Praxis)"
        ),
        "the whitelist overrides 50 votes"
    );
    assert_eq!(
        decide(&r, Some("0307654321")).why.to_string(),
        "rule 2 \"my spam\": +49307654321 in phoneblock:blacklist",
        "the blacklist blocks whatever the votes"
    );
    assert_eq!(
        decide(&r, Some("0301112222")).action,
        Action::Ring,
        "2 < 4 votes"
    );
    for (toml, err) in [
        (
            "[[rule]]\nlists = [\"phoneblock:community\"]\naction = \"ring\"\n",
            "phoneblock:community needs a [phoneblock] section",
        ),
        (
            "[phoneblock]\n[[rule]]\nlists = [\"phoneblock:comunity\"]\naction = \"ring\"\n",
            "\"phoneblock:comunity\" is not a PhoneBlock list",
        ),
    ] {
        let cfg = config::parse(toml).unwrap();
        let e = Rules::compile(&cfg).unwrap_err().to_string();
        assert!(e.contains(err), "{e}");
    }
}

/// PhoneBlock's spam ranges decide offline: a /10 and a /100 range, the
/// global whitelist and a personal whitelist entry inside a range, a
/// number listed alone with too few votes but in a range.
#[test]
fn spam_ranges_decide_and_are_the_reason() {
    use crate::phoneblock::binary::{Binary, tests::file};
    use crate::phoneblock::{Community, Listed, Local, Personal, PersonalEntry, Ranges};
    let toml = "[numbers]\ncountry = \"DE\"\n[phoneblock]\n\
            [[rule]]\nname = \"mine\"\nlists = [\"phoneblock:whitelist\"]\naction = \"ring\"\n\
            [[rule]]\nname = \"community\"\nlists = [\"phoneblock:community\"]\naction = \"terminate\"\n";
    let cfg = config::parse(toml).unwrap();
    let handle = phoneblock::Handle::default();
    let list = Binary::parse(&file(
        &[("4915712345670", false)],
        &[("491571234567", true), ("4930123456", true)],
    ))
    .unwrap();
    handle.store(Arc::new(Local {
        community: Arc::new(Community::new(
            vec![Listed {
                phone: 4930123456789,
                votes: 2,
                rating: None,
            }],
            1,
        )),
        personal: Arc::new(Personal {
            blacklist: vec![],
            whitelist: vec![PersonalEntry {
                phone: "+4930123456700".into(),
                label: Some("Paketdienst".into()),
            }],
        }),
        ranges: Arc::new(Ranges {
            list,
            min_votes: 20,
        }),
    }));
    let (r, _) = Rules::compile_with(&cfg, &BoxLists::new(), &handle).unwrap();
    let d = decide(&r, Some("015712345678"));
    assert_eq!(d.action, Action::Terminate);
    assert_eq!(
        d.why.to_string(),
        "rule 2 \"community\": +4915712345678 is in a PhoneBlock spam range +491571234567* (at least 20 votes)"
    );
    assert_eq!(
        translate(&d.reason(), Lang::De).unwrap(),
        "Regel 2 \"community\": +4915712345678 liegt in einem PhoneBlock-Spam-Bereich +491571234567* (mindestens 20 Stimmen)"
    );
    // The /100: 2 votes of its own are too few, the range decides.
    let d = decide(&r, Some("030123456789"));
    assert_eq!(d.action, Action::Terminate);
    assert!(
        d.why.to_string().contains("range +4930123456*"),
        "{}",
        d.why
    );
    assert_eq!(
        decide(&r, Some("015712345670")).action,
        Action::Ring,
        "PhoneBlock's global whitelist beats the range around it"
    );
    assert_eq!(
        decide(&r, Some("030123456700")).why.to_string(),
        "rule 1 \"mine\": +4930123456700 in phoneblock:whitelist (Paketdienst)",
        "a personal whitelist entry beats a community range"
    );
    assert_eq!(
        decide(&r, Some("015712345")).action,
        Action::Ring,
        "outside"
    );
}

fn at(h: u32, m: u32) -> NaiveDateTime {
    // 2026-11-27 is a Friday.
    chrono::NaiveDate::from_ymd_opt(2026, 11, 27)
        .unwrap()
        .and_hms_opt(h, m, 0)
        .unwrap()
}

fn decide(r: &Rules, n: Option<&str>) -> Decision {
    r.decide(
        n,
        Reached::default(),
        &History::default(),
        Instant::now(),
        at(12, 0),
    )
}

const CONFIG: &str = r#"
[numbers]
country = "DE"
area_code = "030"
[[rule]]
name = "family"
numbers = ["030 1234567", "0171 2345678"]
action = "ring"
[[rule]]
name = "anonymous"
anonymous = true
action = "terminate"
[[rule]]
name = "premium numbers"
types = ["premium"]
action = "terminate"
[[rule]]
name = "blocked"
numbers = ["0900*", "*666", "+44 20 7946 0000"]
action = "terminate"
[[rule]]
name = "abroad"
foreign = true
action = "decline"
[[rule]]
name = "invalid"
invalid = true
action = "ignore-silently"
"#;

#[test]
fn first_match_wins_with_reasons() {
    let r = rules(CONFIG);
    let d = decide(&r, Some("0301234567"));
    assert_eq!(
        (d.action, d.why.to_string().as_str()),
        (Action::Ring, "rule 1 \"family\": +49301234567 listed")
    );
    let d = decide(&r, None);
    assert_eq!(
        (d.action, d.why.to_string().as_str()),
        (Action::Terminate, "rule 2 \"anonymous\": anonymous caller")
    );
    let d = decide(&r, Some("09005551234"));
    assert_eq!(
        d.why.to_string(),
        "rule 3 \"premium numbers\": +499005551234 is premium",
        "premium before the 0900* pattern"
    );
    let d = decide(&r, Some("040555666"));
    assert_eq!(
        d.why.to_string(),
        "rule 4 \"blocked\": +4940555666 matches *666"
    );
    let d = decide(&r, Some("00442079460000"));
    assert_eq!(
        d.why.to_string(),
        "rule 4 \"blocked\": +442079460000 listed",
        "blocked before abroad"
    );
    let d = decide(&r, Some("0033142685300"));
    assert_eq!(
        (d.action, d.why.to_string().as_str()),
        (
            Action::Decline,
            "rule 5 \"abroad\": +33142685300 is foreign (FR)"
        )
    );
    let d = decide(&r, Some("0002"));
    assert_eq!(d.action, Action::IgnoreSilently);
    let d = decide(&r, Some("040855992611"));
    assert_eq!((d.action, d.why.rule()), (Action::Ring, None));
    assert!(d.why.to_string().starts_with("default (ring)"), "{}", d.why);
    let d = decide(&r, Some("**622"));
    assert_eq!(
        d.why.to_string(),
        "internal call from **622: never screened"
    );
}

#[test]
fn countries_types_and_log_only() {
    let r = rules(
        "[screen]\nlog_only = true\n[[rule]]\ncountry = [\"NG\", \"SN\"]\naction = \"terminate\"\n[[rule]]\ntypes = [\"mobile\"]\naction = \"decline\"\n",
    );
    let d = decide(&r, Some("002348031234567"));
    assert_eq!((d.action, d.effective()), (Action::Terminate, Action::Ring));
    assert_eq!(d.log_only, Some(crate::call::LogOnly::Config));
    assert!(
        d.reason()
            .ends_with("is from NG (log-only: would terminate)"),
        "{}",
        d.reason()
    );
    assert_eq!(decide(&r, Some("01701234567")).action, Action::Decline);
}

#[test]
fn time_windows_weekdays_and_called_number() {
    let r = rules(
        "[numbers]\narea_code = \"030\"\n[[rule]]\nname = \"night\"\nhours = \"22:00-07:00\"\naction = \"decline\"\n[[rule]]\nweekdays = [\"sat\", \"sun\"]\naction = \"ignore-silently\"\n[[rule]]\nto = [\"030 1111111\"]\nnumbers = [\"0170*\"]\naction = \"terminate\"\n",
    );
    let h = History::default();
    let now = Instant::now();
    assert_eq!(
        r.decide(Some("040123"), Reached::default(), &h, now, at(23, 30))
            .action,
        Action::Decline
    );
    assert_eq!(
        r.decide(Some("040123"), Reached::default(), &h, now, at(6, 59))
            .action,
        Action::Decline
    );
    assert_eq!(
        r.decide(Some("040123"), Reached::default(), &h, now, at(7, 0))
            .action,
        Action::Ring
    );
    let saturday = chrono::NaiveDate::from_ymd_opt(2026, 11, 28)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap();
    assert_eq!(
        r.decide(Some("040123"), Reached::default(), &h, now, saturday)
            .action,
        Action::IgnoreSilently
    );
    assert_eq!(
        r.decide(
            Some("01701234567"),
            Reached {
                called: Some("0301111111"),
                ..Reached::default()
            },
            &h,
            now,
            at(12, 0)
        )
        .action,
        Action::Terminate
    );
    assert_eq!(
        r.decide(
            Some("01701234567"),
            Reached {
                called: Some("0302222222"),
                ..Reached::default()
            },
            &h,
            now,
            at(12, 0)
        )
        .action,
        Action::Ring
    );
}

#[test]
fn repeated_callers_with_a_fake_clock() {
    let r = rules("[[rule]]\nrepeated = { calls = 3, within = \"10m\" }\naction = \"terminate\"\n");
    let mut h = History::default();
    let t0 = Instant::now();
    let call = |h: &mut History, t: Instant| {
        r.remember(h, Some("0401234567"), t);
        r.decide(Some("0401234567"), Reached::default(), h, t, at(12, 0))
            .action
    };
    assert_eq!(call(&mut h, t0), Action::Ring);
    assert_eq!(call(&mut h, t0 + Duration::from_secs(60)), Action::Ring);
    assert_eq!(
        call(&mut h, t0 + Duration::from_secs(120)),
        Action::Terminate
    );
    // Twenty minutes later the window holds only this call.
    assert_eq!(call(&mut h, t0 + Duration::from_secs(1400)), Action::Ring);
    assert_eq!(h.len(), 1);
    // A wave of distinct callers is forgotten once out of the window.
    for i in 0..5000 {
        r.remember(
            &mut h,
            Some(&format!("0402{i:07}")),
            t0 + Duration::from_secs(1500),
        );
    }
    let later = t0 + Duration::from_secs(1500 + 3600);
    for i in 0..20_000 {
        r.remember(&mut h, Some(&format!("0403{i:07}")), later);
    }
    assert_eq!(h.len(), 20_000, "only the second wave is remembered");
    // Without a `repeated` rule nothing is kept at all.
    let plain = rules("[[rule]]\nnumbers = [\"0900*\"]\naction = \"terminate\"\n");
    let mut h = History::default();
    plain.remember(&mut h, Some("0401234567"), t0);
    assert!(h.is_empty());
}

#[test]
fn bad_rules_are_named() {
    let cfg =
        config::parse("[[rule]]\nname = \"x\"\ntypes = [\"premum\"]\naction = \"ring\"\n").unwrap();
    let e = Rules::compile(&cfg).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("[[rule]] 1 \"x\": types: unknown type \"premum\""),
        "{e}"
    );
    let cfg = config::parse("[[rule]]\nnumbers = [\"0301234567\"]\n").unwrap();
    assert!(
        Rules::compile(&cfg)
            .unwrap_err()
            .to_string()
            .contains("no action")
    );
    let cfg = config::parse("[[rule]]\nhours = \"late\"\naction = \"ring\"\n").unwrap();
    assert!(
        Rules::compile(&cfg)
            .unwrap_err()
            .to_string()
            .contains("HH:MM")
    );
    let cfg = config::parse("[[rule]]\nlists = [\"/nonexistent/list.txt\"]\naction = \"ring\"\n")
        .unwrap();
    assert!(
        Rules::compile(&cfg)
            .unwrap_err()
            .to_string()
            .contains("cannot read list")
    );
}

#[test]
fn announcements_and_answer_are_checked_against_the_action() {
    let err = |rule: &str| {
        let cfg = config::parse(&format!("[[rule]]\nname = \"x\"\n{rule}")).unwrap();
        Rules::compile(&cfg).unwrap_err().to_string()
    };
    for (rule, want) in [
        (
            "numbers = [\"0301234567\"]\naction = \"ring\"\nannouncement = \"default\"",
            "announcement: only a call that is answered hears one",
        ),
        (
            "numbers = [\"0301234567\"]\naction = \"terminate\"\npin = \"12\"",
            "pin: only for action = \"answer\"",
        ),
        (
            "numbers = [\"0301234567\"]\naction = \"terminate\"\nannouncement = \"/nonexistent/a.wav\"",
            "\"x\": announcement: /nonexistent/a.wav: ",
        ),
        ("action = \"answer\"", "picks up for callers you name"),
        (
            "anonymous = true\nnumbers = [\"0301234567\"]\naction = \"answer\"",
            "picks up for callers you name",
        ),
        (
            "numbers = [\"0301234567\"]\naction = \"answer\"\npin = \"12a\"",
            "pin: 4 to 16 of the keys",
        ),
        (
            "numbers = [\"0301234567\"]\naction = \"answer\"\npin = \"123\"",
            "pin: 4 to 16 of the keys",
        ),
    ] {
        let e = err(rule);
        assert!(e.contains(want), "{rule}: {e}");
    }
    let cfg = config::parse("[screen]\ndefault = \"answer\"\n").unwrap();
    assert!(
        Rules::compile(&cfg)
            .unwrap_err()
            .to_string()
            .contains("pick up for anyone")
    );
}

#[test]
fn a_rule_with_an_announcement_or_answer_has_a_script() {
    let r = rules(
        "[numbers]\ncountry = \"DE\"\n\
             [[rule]]\nnumbers = [\"0301234567\"]\naction = \"answer\"\npin = \"47*1\"\ndtmf_timeout = \"4s\"\n\
             [[rule]]\nnumbers = [\"0900*\"]\naction = \"terminate\"\nannouncement = \"default\"\nmax_announcement = \"2s\"\n\
             [[rule]]\nnumbers = [\"0800*\"]\naction = \"terminate\"\n",
    );
    let door = r.script(&decide(&r, Some("0301234567"))).unwrap();
    assert_eq!(door.announcement, None);
    assert_eq!(
        door.collect,
        Some(Collect {
            timeout: Duration::from_secs(4),
            pin: Some("47*1".into())
        })
    );
    let spam = r.script(&decide(&r, Some("09001234"))).unwrap();
    assert_eq!(spam.announcement.as_ref().unwrap().frames(), 100);
    assert_eq!(spam.collect, None);
    assert_eq!(r.script(&decide(&r, Some("08001234"))), None);
    assert_eq!(r.script(&decide(&r, Some("0401234"))), None);
}

mod example_config {
    use std::path::Path;

    use crate::config::{self, Config};

    /// The example config's text.
    fn example_text() -> String {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        std::fs::read_to_string(root.join("minisip4fb.example.toml")).unwrap()
    }

    /// `text` as a config whose lists are installed beside it, as the
    /// package installs the example's (contrib/example).
    fn installed(text: &str) -> Config {
        let mut cfg = config::parse(text).unwrap();
        cfg.resolve_paths(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contrib/example"));
        cfg
    }

    /// The documented example must always be a valid config.
    #[test]
    fn example_config_compiles_with_its_lists() {
        let cfg = installed(&example_text());
        let (rules, warnings) = super::Rules::compile(&cfg).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(rules.len(), 6);
    }

    /// Its PhoneBlock block, uncommented as it says, is a valid config too.
    #[test]
    fn example_config_with_phoneblock_compiles() {
        let text = example_text();
        let (before, rest) = text.split_once("# --- phoneblock ---\n").unwrap();
        let (block, after) = rest.split_once("# --- end phoneblock ---\n").unwrap();
        let block: String = block
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#')))
            .map(|l| format!("{l}\n"))
            .collect();
        // A table between [[rule]]s is fine in TOML: the rules after it
        // are still rules.
        let cfg = installed(&format!("{before}{block}{after}"));
        let pb = cfg.phoneblock.as_ref().expect("[phoneblock]");
        assert_eq!(pb.min_votes, 4);
        let (rules, warnings) = super::Rules::compile(&cfg).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(rules.len(), 8);
    }
}

#[test]
fn a_rule_for_some_accounts_holds_only_for_their_calls() {
    let toml = "[fritzbox]\nuser = \"620\"\nname = \"home\"\n\
        [[account]]\nname = \"office\"\nhost = \"192.0.2.9\"\nuser = \"621\"\n\
        [[rule]]\nname = \"office hours\"\naccounts = [\"office\"]\nnumbers = [\"0170*\"]\naction = \"terminate\"\n";
    let r = rules(toml);
    let to = |account| Reached {
        account: Some(account),
        ..Reached::default()
    };
    let h = History::default();
    let d = r.decide(
        Some("01701234567"),
        to("office"),
        &h,
        Instant::now(),
        at(12, 0),
    );
    assert_eq!(d.action, Action::Terminate);
    assert_eq!(
        d.why.to_string(),
        "rule 1 \"office hours\": +491701234567 matches +49170* on line office"
    );
    assert_eq!(
        translate(&d.why.to_string(), Lang::De).as_deref(),
        Some("Regel 1 \"office hours\": +491701234567 passt zu +49170* auf Leitung office")
    );
    let home = r.decide(
        Some("01701234567"),
        to("home"),
        &h,
        Instant::now(),
        at(12, 0),
    );
    assert_eq!(home.action, Action::Ring);
    assert_eq!(
        r.decide(
            Some("01701234567"),
            Reached::default(),
            &h,
            Instant::now(),
            at(12, 0)
        )
        .action,
        Action::Ring,
        "no account known: the rule does not hold"
    );
    // A name no account has is refused, with the names there are.
    let cfg = config::parse(&toml.replace("[\"office\"]", "[\"ofice\"]")).unwrap();
    let e = Rules::compile(&cfg).unwrap_err().to_string();
    assert!(
        e.contains("accounts: no account is named \"ofice\" (the config's: home, office)"),
        "{e}"
    );
}

#[test]
fn a_rule_on_the_callers_name() {
    let r = rules(
        "[[rule]]\nname = \"spam book\"\nnames = [\"SPAM*\", \"*Werbung*\"]\naction = \"terminate\"\n",
    );
    let named = |number: Option<&str>, name| {
        r.decide(
            number,
            Reached {
                name: Some(name),
                ..Reached::default()
            },
            &History::default(),
            Instant::now(),
            at(12, 0),
        )
    };
    let d = named(Some("0301234567"), "Spam: Gewinnspiel");
    assert_eq!(d.action, Action::Terminate);
    assert_eq!(
        d.why.to_string(),
        "rule 1 \"spam book\": +49301234567 is named \"Spam: Gewinnspiel\", which matches SPAM*"
    );
    assert_eq!(
        translate(&d.why.to_string(), Lang::De).as_deref(),
        Some("Regel 1 \"spam book\": +49301234567 heißt \"Spam: Gewinnspiel\", passend zu SPAM*")
    );
    assert_eq!(
        named(Some("0301234567"), "TELEFONWERBUNG AG").action,
        Action::Terminate
    );
    assert_eq!(named(Some("0301234567"), "Oma").action, Action::Ring);
    assert_eq!(
        named(None, "SPAM Inkasso").action,
        Action::Terminate,
        "withheld, named"
    );
    assert_eq!(
        named(Some("**622"), "SPAM").action,
        Action::Ring,
        "internal: never"
    );
    // A name with control characters is shown harmless in the reason.
    let d = named(Some("0301234567"), "SPAM\u{1b}[2J");
    assert!(!d.why.to_string().contains('\u{1b}'), "{}", d.why);
    let cfg = config::parse("[[rule]]\nnames = [\"*\"]\naction = \"terminate\"\n").unwrap();
    let e = Rules::compile(&cfg).unwrap_err().to_string();
    assert!(e.contains("names: \"*\" is not a name pattern"), "{e}");
}

#[test]
fn a_challenge_asks_lets_a_pass_ring_and_hangs_up_on_the_refused() {
    use crate::media::challenge::{PASS, TIMEOUT};
    use crate::screen::passes::{FOREVER, PassView};
    let r = rules(
        "[numbers]\ncountry = \"DE\"\n\
         [[rule]]\nname = \"by day\"\nhours = \"06:00-22:00\"\naction = \"challenge\"\n\
         [[rule]]\nname = \"withheld\"\nanonymous = true\naction = \"terminate\"\n",
    );
    let gates = Gates::default();
    let history = History::with_gates(gates.clone());
    let call =
        |n: Option<&str>| r.decide(n, Reached::default(), &history, Instant::now(), at(12, 0));
    let uk = "+442079460000";
    let d = call(Some(uk));
    assert_eq!(d.action, Action::Challenge);
    let c = r.script(&d).expect("its script").challenge.clone().unwrap();
    assert_eq!((c.digit, c.timeout, c.pass), (None, TIMEOUT, PASS));
    assert_eq!(
        call(None).why.rule().map(|r| r.index),
        Some(2),
        "a withheld number cannot pass: the challenge rule passes it over"
    );
    let now = crate::screen::doors::unix_ms();
    let view = |passed: Vec<(&str, u64)>, refused: Vec<(&str, u64)>| {
        let own = |v: Vec<(&str, u64)>| v.into_iter().map(|(n, t)| (n.to_owned(), t)).collect();
        Arc::new(PassView {
            passed: own(passed),
            refused: own(refused),
        })
    };
    // A pass: it rings like a known caller, nothing is asked.
    gates.passes.store(view(vec![(uk, now + 60_000)], vec![]));
    let d = call(Some(uk));
    assert_eq!((d.action, d.effective()), (Action::Ring, Action::Ring));
    assert!(r.script(&d).is_none());
    let reason = d.why.to_string();
    assert!(
        reason.contains(", passed the key-press check (may call until "),
        "{reason}"
    );
    assert!(
        translate(&reason, Lang::De)
            .is_some_and(|t| t.contains("hat die Tastenprüfung bestanden (darf bis ")),
        "{reason}"
    );
    gates.passes.store(view(vec![(uk, FOREVER)], vec![]));
    assert!(
        call(Some(uk))
            .why
            .to_string()
            .ends_with("(may always call)")
    );
    // Expired: asked again.
    gates.passes.store(view(vec![(uk, now - 1)], vec![]));
    assert_eq!(call(Some(uk)).action, Action::Challenge);
    // Failed too often: hung up on at once, without the check.
    gates.passes.store(view(vec![], vec![(uk, now + 60_000)]));
    let d = call(Some(uk));
    assert_eq!(d.action, Action::Terminate);
    assert!(r.script(&d).is_none(), "no prompt for a refused caller");
    assert!(
        d.why
            .to_string()
            .contains("failed the key-press check too often"),
        "{}",
        d.why
    );
    // What the config must fix.
    for (toml, says) in [
        ("anonymous = true", "cannot let a withheld number through"),
        (
            "foreign = true\ndigit = \"x\"",
            "digit: one of the keys 0-9",
        ),
        (
            "foreign = true\nannouncement = \"default\"",
            "add digit = \\\"N\\\"",
        ),
        ("foreign = true\npass = \"forever\"", "add pass_list"),
        ("foreign = true\npass = \"soon\"", "or forever"),
    ] {
        let toml = format!("[[rule]]\n{toml}\naction = \"challenge\"\n");
        let e = match config::parse(&toml) {
            Ok(cfg) => format!("{:?}", Rules::compile(&cfg).unwrap_err().to_string()),
            Err(e) => e.to_string(),
        };
        assert!(e.contains(says), "{toml}: {e}");
    }
    let cfg =
        config::parse("[[rule]]\nforeign = true\ndigit = \"5\"\naction = \"terminate\"\n").unwrap();
    let e = Rules::compile(&cfg).unwrap_err().to_string();
    assert!(e.contains("digit: only for action = \"challenge\""), "{e}");
    let cfg = config::parse(
        "[screen]\npass_list = \"passed.txt\"\n[[rule]]\nforeign = true\ndigit = \"5\"\n\
         pass = \"forever\"\ndtmf_timeout = \"3s\"\naction = \"challenge\"\n",
    )
    .unwrap();
    let r = Rules::compile(&cfg).unwrap().0;
    let d = r.decide(
        Some(uk),
        Reached::default(),
        &History::default(),
        Instant::now(),
        at(12, 0),
    );
    let c = r.script(&d).unwrap().challenge.clone().unwrap();
    assert_eq!(
        (c.digit, c.timeout, c.pass),
        (
            Some(5),
            std::time::Duration::from_secs(3),
            crate::media::Pass::Forever
        )
    );
}
