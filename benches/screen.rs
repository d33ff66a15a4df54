//! The decision path of a call: classifying the number, deciding against
//! the rules (with a 1,000,000-entry list), recording it in the call log.
//! Run: cargo bench --bench screen

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use minisip4fb::agent::CallerId;
use minisip4fb::call::Action;
use minisip4fb::call::Record;
use minisip4fb::calllog::{CallLog, Op};
use minisip4fb::config;
use minisip4fb::screen::number::{Home, classify};
use minisip4fb::screen::rules::{History, Reached, Rules};

/// Writes a list of `n` German mobile numbers (generated, not committed).
fn big_list(n: usize) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("minisip4fb-bench-list-{n}.txt"));
    if !path.exists() {
        let mut s = String::with_capacity(n * 16);
        for i in 0..n {
            s.push_str(&format!("0170{:07}\n", i * 7 % 10_000_000));
        }
        std::fs::write(&path, s).unwrap();
    }
    path
}

fn config_with_20_rules(list: &Path) -> config::Config {
    let mut toml = String::from("[numbers]\ncountry = \"DE\"\narea_code = \"030\"\n");
    for i in 0..18 {
        toml.push_str(&format!("[[rule]]\nname = \"r{i}\"\nnumbers = [\"0{:03}5*\", \"*9{i:02}9\"]\naction = \"terminate\"\n", 100 + i));
    }
    toml.push_str(&format!(
        "[[rule]]\nname = \"big list\"\nlists = [\"{}\"]\naction = \"terminate\"\n",
        list.display()
    ));
    toml.push_str("[[rule]]\nname = \"premium\"\ntypes = [\"premium\"]\naction = \"terminate\"\n");
    config::parse(&toml).unwrap()
}

fn bench(c: &mut Criterion) {
    let home = Home::new("DE", Some("030")).unwrap();
    let list = big_list(1_000_000);
    let t = Instant::now();
    let cfg = config_with_20_rules(&list);
    let (rules, warnings) = Rules::compile(&cfg).unwrap();
    eprintln!(
        "compiled 20 rules with a 1,000,000-entry list in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    assert!(warnings.is_empty());
    let history = History::default();
    let local = chrono::Local::now().naive_local();

    c.bench_function("classify 09005551234 (libphonenumber)", |b| {
        b.iter(|| classify(black_box(Some("09005551234")), &home))
    });
    c.bench_function("decide: hit in the 1M list (rule 19)", |b| {
        b.iter(|| {
            rules.decide(
                black_box(Some("01700000007")),
                Reached::default(),
                &history,
                Instant::now(),
                local,
            )
        })
    });
    c.bench_function("decide: no rule matches (all 20 checked)", |b| {
        b.iter(|| {
            rules.decide(
                black_box(Some("040855992611")),
                Reached::default(),
                &history,
                Instant::now(),
                local,
            )
        })
    });
    // What the phone's thread runs per INVITE: decision and record.
    let caller = CallerId {
        number: Some("01700000007".into()),
        display_name: None,
        anonymous: false,
        called: Some("0301111111".into()),
        raw_from: "<sip:01700000007@fritz.box>;tag=1".into(),
    };
    let mut h = History::default();
    let line = minisip4fb::daemon::screening::Line::only("620");
    c.bench_function("screen: decision and record, 1M-list hit", |b| {
        b.iter(|| {
            minisip4fb::daemon::screening::decide(
                &rules,
                &mut h,
                black_box(&caller),
                Instant::now(),
                &line,
            )
        })
    });
    c.bench_function("decide: anonymous", |b| {
        b.iter(|| {
            rules.decide(
                black_box(None),
                Reached::default(),
                &history,
                Instant::now(),
                local,
            )
        })
    });
    let set = {
        let (s, _) = minisip4fb::screen::list::load(&list, &home).unwrap();
        s
    };
    c.bench_function("lookup in the 1M list", |b| {
        b.iter(|| set.lookup(black_box("+491700000007")))
    });

    let dir = std::env::temp_dir().join(format!("minisip4fb-bench-db-{}", std::process::id()));
    let log = CallLog::open(&dir.join("calls.db")).unwrap();
    let call = Record {
        id: None,
        contact: false,
        log_only: None,
        time: "2026-12-01T00:00:00.000Z".parse().unwrap(),
        caller: minisip4fb::call::Caller {
            number: Some("09005551234".into()),
            e164: Some("+499005551234".into()),
            name: None,
        },
        called: None,
        class: minisip4fb::call::CallerClass::External,
        decision: Action::Terminate,
        action: Action::Terminate,
        rule: None,
        reason: "bench".into(),
        outcome: None,
        decision_ms: Some(0.01),
        bye_ms: None,
        account: None,
    };
    c.bench_function("call log: insert a decided call", |b| {
        b.iter(|| log.insert(black_box(&call)).unwrap())
    });
    // The book-keeper's way: many records in one transaction.
    let batch: Vec<Op> = (0..512)
        .map(|key| Op::Insert {
            key,
            record: Box::new(call.clone()),
        })
        .collect();
    c.bench_function("call log: 512 records in one transaction", |b| {
        b.iter(|| {
            log.apply(black_box(&batch), &mut Default::default())
                .unwrap()
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
}

fn load_1m(c: &mut Criterion) {
    let home = Home::new("DE", Some("030")).unwrap();
    let list = big_list(1_000_000);
    let mut g = c.benchmark_group("list");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("load a 1,000,000-entry text list", |b| {
        b.iter(|| minisip4fb::screen::list::load(&list, &home).unwrap())
    });
    g.finish();
}

/// PhoneBlock's community list (issue 13): 1,000,000 numbers built from
/// entries, looked up, and 10,000 incremental changes merged into a copy.
fn community_1m(c: &mut Criterion) {
    use minisip4fb::phoneblock::{Changes, Community, Listed, Rating};
    let entry = |i: u64, votes| Listed {
        phone: 491_700_000_000 + i * 7,
        votes,
        rating: Some(Rating::Advertising),
    };
    let entries: Vec<Listed> = (0..1_000_000).map(|i| entry(i, 10)).collect();
    let mut g = c.benchmark_group("phoneblock");
    g.sample_size(10);
    g.bench_function("build the 1,000,000-number community copy", |b| {
        b.iter(|| Community::new(black_box(entries.clone()), 1))
    });
    let list = Community::new(entries.clone(), 1);
    g.bench_function("look up a number in the 1M community copy", |b| {
        b.iter(|| list.lookup(black_box(491_700_000_000 + 7 * 500_001)))
    });
    let changes = Changes {
        set: (0..5_000).map(|i| entry(i * 199, 50)).collect(),
        removed: (0..5_000).map(|i| entry(i * 197 + 1, 0)).collect(),
        version: 2,
        ..Changes::default()
    };
    g.bench_function("merge 10,000 changes into the 1M copy", |b| {
        b.iter(|| list.with_changes(black_box(&changes)).unwrap())
    });
    let dir = std::env::temp_dir().join(format!("minisip4fb-bench-pb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut store = minisip4fb::phoneblock::store::Store::open(&dir.join("phoneblock.db")).unwrap();
    store.save(&list, 0, true).unwrap();
    g.bench_function("load the 1M copy from disk", |b| {
        b.iter(|| store.load().unwrap().unwrap())
    });
    // The other half of an incremental sync's work: the merged copy
    // written to disk (a new file of 16-byte records, fsynced, renamed
    // over the old), whatever the number of changes.
    let (merged, _) = list.with_changes(&changes).unwrap();
    g.bench_function(
        "write the 1M copy after 10,000 changes to disk (fsync)",
        |b| b.iter(|| store.save(black_box(&merged), 1, false).unwrap()),
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    // The rules' view: a decision with a community hit.
    let cfg = config::parse(
        "[numbers]\ncountry = \"DE\"\n[phoneblock]\n[[rule]]\nlists = [\"phoneblock:community\"]\naction = \"terminate\"\n",
    )
    .unwrap();
    let handle = minisip4fb::phoneblock::Handle::default();
    let (rules, _) = Rules::compile_with(&cfg, &Default::default(), &handle).unwrap();
    // With 50,000 spam ranges (/10s of +49160…) beside the 1M numbers.
    let prefixes: Vec<(String, bool)> = (0..50_000)
        .map(|i| (format!("49160{:07}", i * 3), true))
        .collect();
    let file = minisip4fb_emulator::phoneblock::binary_list(&[], &prefixes);
    let ranges = minisip4fb::phoneblock::Ranges {
        list: minisip4fb::phoneblock::binary::Binary::parse(&file).unwrap(),
        min_votes: 20,
    };
    handle.store(std::sync::Arc::new(minisip4fb::phoneblock::Local {
        community: std::sync::Arc::new(list),
        personal: Default::default(),
        ranges: std::sync::Arc::new(ranges),
    }));
    let (history, local) = (History::default(), chrono::Local::now().naive_local());
    // +491703500007 is entry 500,001.
    let hit = rules.decide(
        Some("01703500007"),
        Reached::default(),
        &history,
        Instant::now(),
        local,
    );
    assert_eq!(hit.action, Action::Terminate, "{}", hit.why);
    g.bench_function("decide: hit in the 1M community copy", |b| {
        b.iter(|| {
            rules.decide(
                black_box(Some("01703500007")),
                Reached::default(),
                &history,
                Instant::now(),
                local,
            )
        })
    });
    // +4916000001234 is in the range +491600000123* (entry 41), not in the copy.
    let hit = rules.decide(
        Some("016000001234"),
        Reached::default(),
        &history,
        Instant::now(),
        local,
    );
    assert!(hit.why.to_string().contains("spam range"), "{}", hit.why);
    g.bench_function(
        "decide: hit in one of 50,000 spam ranges beside the 1M copy",
        |b| {
            b.iter(|| {
                rules.decide(
                    black_box(Some("016000001234")),
                    Reached::default(),
                    &history,
                    Instant::now(),
                    local,
                )
            })
        },
    );
    g.finish();
}

criterion_group!(benches, bench, load_1m, community_1m);
criterion_main!(benches);
