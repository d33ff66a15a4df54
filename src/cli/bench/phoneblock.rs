//! `bench --phoneblock` (issue 13): PhoneBlock with a 1,000,000-number
//! community list, against the emulated PhoneBlock on loopback. A full
//! sync in its own process (time, peak RSS); the daemon's RSS with the
//! copy loaded against the same daemon without PhoneBlock; and calls from
//! listed numbers placed while the running daemon syncs 10,000 changes,
//! against calls placed outside that sync.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use super::{mb, ms, proc_status, run_calls, start_phone};
use minisip4fb::phoneblock::store::Store;
use minisip4fb_emulator::Emulator;
use minisip4fb_emulator::phoneblock::{
    PhoneBlockConfig, PhoneBlockStandIn, synthetic, synthetic_list,
};

const NUMBERS: usize = 1_000_000;
const CHANGES: usize = 10_000;
/// Calls while the daemon starts and syncs: 3 s at 200 calls/s.
const CALLS: u32 = 600;
const RATE: f64 = 200.0;

/// A listed number the churn leaves alone, nationally (`0170…`).
fn listed(i: u32) -> String {
    format!("0{}", &synthetic(100_000 + i as usize)[3..])
}

fn write(dir: &Path, api: &str, token: &str, with_phoneblock: bool) -> std::io::Result<String> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("password"), format!("{}\n", super::PASSWORD))?;
    std::fs::write(dir.join("token"), token)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("token"), std::fs::Permissions::from_mode(0o600))?;
    }
    let mut cfg = String::from(
        "[fritzbox]\nuser = \"620\"\npassword_file = \"password\"\n[calllog]\ndb = \"calls.db\"\n\
         [numbers]\ncountry = \"DE\"\n\
         [[rule]]\nname = \"premium\"\nnumbers = [\"0900*\"]\naction = \"terminate\"\n",
    );
    if with_phoneblock {
        cfg.push_str(&format!(
            "[phoneblock]\napi = \"{api}\"\ntoken_file = \"token\"\n\
             [[rule]]\nname = \"PhoneBlock\"\nlists = [\"phoneblock:community\"]\naction = \"terminate\"\n"
        ));
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, cfg)?;
    Ok(path.display().to_string())
}

/// Runs a child to its end: exit status, wall time and peak RSS in kB.
/// The peak is the child's own `VmHWM`, read every 5 ms while it runs
/// (wait4's `ru_maxrss` would count the forked image of this process,
/// which holds the emulated million-number list).
fn timed(exe: &Path, args: &[&str]) -> Option<(bool, Duration, u64)> {
    let t = std::time::Instant::now();
    let mut child = Command::new(exe)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut peak = 0;
    loop {
        if let Some(hwm) = proc_status(child.id(), "VmHWM:") {
            peak = peak.max(hwm);
        }
        if let Some(status) = child.try_wait().ok()? {
            return Some((status.success(), t.elapsed(), peak));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// When the line holding `needle` was logged (tracing's RFC 3339 stamp).
fn logged_at(log: &str, needle: &str) -> Option<SystemTime> {
    let line = log.lines().find(|l| l.contains(needle))?;
    let stamp = line.split_whitespace().next()?;
    chrono::DateTime::parse_from_rfc3339(stamp)
        .ok()
        .map(Into::into)
}

pub(super) async fn phoneblock(
    exe: &Path,
    emu: &std::sync::Arc<Emulator>,
    box_addr: &str,
    dir: &Path,
) -> i32 {
    match run(exe, emu, box_addr, dir).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("minisip4fb bench --phoneblock: {e}");
            1
        }
    }
}

async fn run(
    exe: &Path,
    emu: &std::sync::Arc<Emulator>,
    box_addr: &str,
    dir: &Path,
) -> Result<i32, String> {
    let api = PhoneBlockStandIn::start(PhoneBlockConfig {
        community: synthetic_list(NUMBERS),
        ..PhoneBlockConfig::default()
    })
    .await
    .map_err(|e| format!("cannot start the emulated PhoneBlock: {e}"))?;
    let io = |e: std::io::Error| e.to_string();
    let pdir = dir.join("phoneblock");
    let with = write(&pdir, &api.url(), &api.token(), true).map_err(io)?;
    let without = write(&dir.join("without"), &api.url(), &api.token(), false).map_err(io)?;
    println!(
        "\n## PhoneBlock: {NUMBERS} community numbers (emulated PhoneBlock on loopback)\n\n| | |\n|---|---:|"
    );

    // A full download, as `phoneblock sync` does it the first time.
    // Waited for in the blocking pool: this runtime serves the emulated PhoneBlock.
    let (e, w) = (exe.to_owned(), with.clone());
    let (ok, took, peak) =
        tokio::task::spawn_blocking(move || timed(&e, &["phoneblock", "sync", "--config", &w]))
            .await
            .ok()
            .flatten()
            .ok_or("cannot run phoneblock sync")?;
    if !ok {
        return Err("phoneblock sync failed".into());
    }
    println!(
        "| full sync of {NUMBERS} numbers (`phoneblock sync`, its own process): wall time, peak RSS | {:.2} s, {} |",
        took.as_secs_f64(),
        mb(Some(peak))
    );

    // The daemon's footprint: without PhoneBlock, then with the copy.
    let rss = |log: &Path, cfg: &str| {
        let (log, cfg) = (log.to_owned(), cfg.to_owned());
        async move {
            let spawned = SystemTime::now();
            let phone = start_phone(emu, exe, box_addr, Path::new(&cfg), Some(&log)).await?;
            // Registration comes first; the rules (and the copy) follow.
            for _ in 0..100 {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                if text.contains("rule(s)") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            Ok::<_, String>((proc_status(phone.0.id(), "VmRSS:"), phone, spawned))
        }
    };
    let (base, phone, _) = rss(&dir.join("without.log"), &without).await?;
    drop(phone);
    let log = pdir.join("daemon.log");
    let (loaded, phone, spawned) = rss(&log, &with).await?;
    let quiet = run_calls(emu, CALLS / 2, RATE / 4.0, listed, |_| {}).await;
    drop(phone);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let copy = logged_at(&text, "PhoneBlock copy:");
    println!(
        "| daemon RSS after registering: without PhoneBlock / with the 1M copy (more) | {} / {} (+{}) |",
        mb(base),
        mb(loaded),
        mb(loaded.zip(base).map(|(a, b)| a.saturating_sub(b)))
    );
    println!(
        "| daemon start → the 1M copy loaded from disk | {} |",
        copy.and_then(|c| c.duration_since(spawned).ok())
            .map_or("?".into(), |d| format!("{} ms", d.as_millis()))
    );
    println!(
        "| {} calls from listed numbers at {} calls/s, INVITE → 200 p50 / p99 / max | {} |",
        quiet.reports.len(),
        RATE / 4.0,
        ms(&quiet.latencies(|r| r.answered_after))
    );

    // The list moves on; the copy is two days old, so the daemon syncs
    // at start, while calls come in.
    let version = api.churn(CHANGES);
    let backdated = (|| {
        let mut store = Store::open(&pdir.join("phoneblock.db"))?;
        let (copy, meta) = store.load()?.ok_or_else(|| "no copy".to_owned())?;
        store.save(&copy, meta.synced_at - 2 * 86_400, false)?;
        Ok::<_, Box<dyn std::error::Error>>(())
    })();
    backdated.map_err(|e| format!("cannot backdate the copy: {e}"))?;
    let log = pdir.join("sync.log");
    let phone = start_phone(emu, exe, box_addr, Path::new(&with), Some(&log)).await?;
    let t0 = SystemTime::now();
    let step = run_calls(emu, CALLS, RATE, listed, |_| {}).await;
    drop(phone);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let live = logged_at(&text, "rule(s)");
    let synced = text
        .lines()
        .find(|l| l.contains("incremental sync:") && l.contains(&format!("version {version}")))
        .ok_or("the daemon did not sync at start")?;
    let end = logged_at(synced, "sync").ok_or("no time on the sync's line")?;
    let took: u64 = synced
        .rsplit_once('(')
        .and_then(|(_, t)| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let cpu = synced
        .split_once(" ms, ")
        .and_then(|(_, c)| c.split_whitespace().next())
        .unwrap_or("?");
    println!(
        "| incremental sync of {CHANGES} changes in the running daemon (request, parse, merge, write): wall, CPU | {took} ms, {cpu} ms |"
    );
    let from = end - Duration::from_millis(took);
    let interval = Duration::from_secs_f64(1.0 / RATE);
    let (mut during, mut outside) = (Vec::new(), Vec::new());
    for (i, r) in step.reports.iter().enumerate() {
        let placed = t0 + interval * i as u32;
        if live.is_some_and(|l| placed < l) {
            continue; // before the rules were in: those calls wait for them
        }
        if let Some(d) = r.answered_after {
            let v = d.as_secs_f64() * 1000.0;
            if placed >= from && placed <= end {
                during.push(v);
            } else {
                outside.push(v);
            }
        }
    }
    during.sort_by(f64::total_cmp);
    outside.sort_by(f64::total_cmp);
    println!(
        "| calls placed during that sync ({}), INVITE → 200 p50 / p99 / max | {} |",
        during.len(),
        ms(&during)
    );
    println!(
        "| calls of the same run outside it ({}), INVITE → 200 p50 / p99 / max | {} |",
        outside.len(),
        ms(&outside)
    );
    let failed = quiet.failed() + step.failed();
    println!(
        "\nfailed calls: {failed}; PhoneBlock violations: {:?}",
        api.violations()
    );
    Ok(
        if failed == 0 && api.violations().is_empty() && !during.is_empty() {
            0
        } else {
            1
        },
    )
}
