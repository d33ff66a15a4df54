//! `minisip4fb bench`: the call-cycle and footprint benchmark. The
//! emulated FRITZ!Box (in this process) rings the phone (this binary's
//! `run --config`, as a child process, call log on) from a blocked number,
//! at a given rate, over loopback only; every run is bounded in calls and
//! time. In the same run and against the same emulator, the floor: a
//! minimal responder in its own process (`bench-floor`) that answers by
//! copying header lines. With `--stress`, the worst INVITE→200 while the
//! phone is under a 1,000,000-entry list reload, a SIGHUP storm, a locked
//! call log and a hook flood; with `--phoneblock`, PhoneBlock with a
//! 1,000,000-number list ([`phoneblock`]); with `--web`, the web side
//! ([`web`]); with `--media`, 50 announcements at once ([`media`]).

mod media;
mod phoneblock;
mod web;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;

use minisip4fb_emulator::{CallOutcome, CallReport, CallSpec, Caller, Emulator, EmulatorConfig};

/// The rate of the memory soak: a spam wave far above real traffic.
const SOAK_RATE: f64 = 200.0;

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Calls per rate step.
    #[arg(long, default_value_t = 500)]
    pub calls: u32,
    /// The rate for the latency table, calls per second.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Step the rate up (doubling from --rate) until a call fails or this cap.
    #[arg(long, default_value_t = 800.0)]
    pub max_rate: f64,
    /// Calls for the memory-growth check (RSS after them vs after 100).
    #[arg(long, default_value_t = 10_000)]
    pub soak: u32,
    /// Seconds to watch the idle phone for CPU time and wake-ups.
    #[arg(long, default_value_t = 60)]
    pub idle: u64,
    /// Also measure under reload, SIGHUP storm, locked log and hook flood.
    #[arg(long)]
    pub stress: bool,
    /// Also measure PhoneBlock with a 1,000,000-number list: full sync, RSS,
    /// load time, and calls during an incremental sync of 10,000 changes.
    #[arg(long)]
    pub phoneblock: bool,
    /// Also measure the web side: RSS with it, and calls while its pages and
    /// API are fetched without pause.
    #[arg(long)]
    pub web: bool,
    /// Also measure announcements: 50 at once, RTP jitter, CPU per stream,
    /// and calls meanwhile.
    #[arg(long)]
    pub media: bool,
    /// Skip the two 42 s waits for settled memory readings (CI: every
    /// path runs, the RSS figures are then unsettled and marked so).
    #[arg(long)]
    pub no_settle: bool,
}

/// Reads a `/proc/PID/status` field in kB (VmRSS) or a count.
fn proc_status(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU time (user + system) in clock ticks from `/proc/PID/stat`.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Context switches (voluntary and not) per thread: a sleeping process
/// makes none.
fn switches(pid: u32) -> Option<std::collections::HashMap<u32, u64>> {
    let mut out = std::collections::HashMap::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let tid: u32 = t.ok()?.file_name().to_str()?.parse().ok()?;
        let s = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).ok()?;
        let mut n = 0;
        for key in ["voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"] {
            n += s
                .lines()
                .find(|l| l.starts_with(key))?
                .split_whitespace()
                .nth(1)?
                .parse::<u64>()
                .ok()?;
        }
        out.insert(tid, n);
    }
    Some(out)
}

/// Wake-ups between two readings: threads alive at the end, counted from
/// the first reading or from their start (a thread that ended between the
/// readings, e.g. an idle blocking-pool thread, takes its count with it).
fn wakeups(
    before: &std::collections::HashMap<u32, u64>,
    after: &std::collections::HashMap<u32, u64>,
) -> u64 {
    after
        .iter()
        .map(|(tid, n)| n.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Latencies (sorted, ms) as `p50 / p99 / max ms`.
fn ms(v: &[f64]) -> String {
    format!(
        "{:.3} / {:.3} / {:.3} ms",
        percentile(v, 0.5),
        percentile(v, 0.99),
        percentile(v, 1.0)
    )
}

/// kB as MB, `?` when unknown.
fn mb(kb: Option<u64>) -> String {
    kb.map_or("?".into(), |k| format!("{:.1} MB", k as f64 / 1024.0))
}

struct Step {
    rate: f64,
    reports: Vec<CallReport>,
}

impl Step {
    fn failed(&self) -> usize {
        self.reports
            .iter()
            .filter(|r| r.outcome != CallOutcome::TerminatedByPhone)
            .count()
    }

    fn latencies(&self, pick: fn(&CallReport) -> Option<Duration>) -> Vec<f64> {
        let mut v: Vec<f64> = self
            .reports
            .iter()
            .filter_map(pick)
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }
}

async fn run_step(emu: &std::sync::Arc<Emulator>, calls: u32, rate: f64) -> Step {
    run_step_during(emu, calls, rate, |_| {}).await
}

/// A step, calling `during(i)` right before call `i` is placed.
async fn run_step_during(
    emu: &std::sync::Arc<Emulator>,
    calls: u32,
    rate: f64,
    during: impl FnMut(u32),
) -> Step {
    // A different number per call, all matching the block pattern.
    run_calls(emu, calls, rate, |i| format!("0900{i:07}"), during).await
}

/// `calls` calls at `rate`, call `i` from `number(i)`, calling `during(i)`
/// right before it is placed.
async fn run_calls(
    emu: &std::sync::Arc<Emulator>,
    calls: u32,
    rate: f64,
    number: impl Fn(u32) -> String,
    mut during: impl FnMut(u32),
) -> Step {
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(calls as usize);
    for i in 0..calls {
        tokio::time::sleep_until(start + interval * i).await;
        during(i);
        let emu = emu.clone();
        let spec = CallSpec::new(Caller::National(number(i))).cancel_after(Duration::from_secs(5));
        tasks.push(tokio::spawn(async move { emu.call(spec).await }));
    }
    let mut reports = Vec::with_capacity(tasks.len());
    for t in tasks {
        reports.push(
            t.await
                .unwrap_or_else(|_| CallReport::new(CallOutcome::NoAnswer)),
        );
    }
    Step { rate, reports }
}

struct PhoneChild(Child);

impl Drop for PhoneChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const PASSWORD: &str = "bench-password";

/// A config for the phone under test: call log on, a block rule, and for
/// the stress run a 1,000,000-entry list and a command hook.
fn write_config(dir: &std::path::Path, stress: bool) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("password"), format!("{PASSWORD}\n"))?;
    let mut cfg = String::from(
        "[fritzbox]\nuser = \"620\"\npassword_file = \"password\"\n[calllog]\ndb = \"calls.db\"\n\
         [[rule]]\nname = \"premium\"\nnumbers = [\"0900*\"]\naction = \"terminate\"\n",
    );
    if stress {
        write_big_list(&dir.join("big.txt"), 1_000_000)?;
        cfg.push_str(
            "[[rule]]\nname = \"big list\"\nlists = [\"big.txt\"]\naction = \"terminate\"\n\
             [[hook]]\nevents = [\"terminated\"]\ncommand = [\"true\"]\n",
        );
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, cfg)?;
    Ok(path)
}

fn write_big_list(path: &std::path::Path, n: usize) -> std::io::Result<()> {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(n * 13);
    for i in 0..n {
        let _ = writeln!(s, "0170{:07}", i * 7 % 10_000_000);
    }
    std::fs::write(path, s)
}

/// Starts `args`; with `log`, its log (level info) goes to that file.
fn spawn(
    exe: &std::path::Path,
    args: &[&str],
    log: Option<&std::path::Path>,
) -> std::io::Result<PhoneChild> {
    let stderr = match log {
        Some(p) => Stdio::from(std::fs::File::create(p)?),
        None => Stdio::null(),
    };
    Command::new(exe)
        .args(args)
        .env("MINISIP4FB_PASSWORD", PASSWORD)
        .env(
            "RUST_LOG",
            if log.is_some() {
                "minisip4fb=info"
            } else {
                "minisip4fb=warn"
            },
        )
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map(PhoneChild)
}

/// Starts `args` and waits for its binding at the emulator; with `log`,
/// its log (level info) goes to that file.
async fn start_registered(
    emu: &Emulator,
    exe: &std::path::Path,
    args: &[&str],
    log: Option<&std::path::Path>,
) -> Result<PhoneChild, String> {
    let known = emu.bindings().await.len();
    let child = spawn(exe, args, log).map_err(|e| format!("cannot start {args:?}: {e}"))?;
    emu.wait_for_new_binding(known, Duration::from_secs(20))
        .await
        .ok_or_else(|| format!("{} did not register", args[0]))?;
    Ok(child)
}

/// `minisip4fb run --config CONFIG` against the emulator, registered.
async fn start_phone(
    emu: &Emulator,
    exe: &std::path::Path,
    box_addr: &str,
    config: &std::path::Path,
    log: Option<&std::path::Path>,
) -> Result<PhoneChild, String> {
    let config = config.display().to_string();
    let args = [
        "run",
        "--config",
        &config,
        "--fritzbox",
        box_addr,
        "--bind",
        "127.0.0.1:0",
    ];
    start_registered(emu, exe, &args, log).await
}

#[cfg(unix)]
fn signal(pid: u32, sig: i32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill(2) on the child this bench started.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

fn table_row(name: &str, v: &[f64]) -> String {
    format!(
        "| {name} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms |",
        percentile(v, 0.5),
        percentile(v, 0.9),
        percentile(v, 0.99),
        percentile(v, 1.0)
    )
}

pub async fn bench(a: BenchArgs) -> i32 {
    let exe: PathBuf = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("minisip4fb bench: {e}");
            return 1;
        }
    };
    let emu = match Emulator::start(EmulatorConfig {
        bind: "127.0.0.1:0".parse().expect("literal"),
        accounts: vec![("620".into(), PASSWORD.into())],
        seed: 1,
        // A 401 to the BYE adds a round trip that is not the phone's
        // speed, and the floor does not answer one.
        challenge_requests: 0.0,
        ..EmulatorConfig::default()
    })
    .await
    {
        Ok(e) => std::sync::Arc::new(e),
        Err(e) => {
            eprintln!("minisip4fb bench: cannot start the emulator: {e}");
            return 1;
        }
    };
    let box_addr = emu.addr().to_string();
    let dir = std::env::temp_dir().join(format!("minisip4fb-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = match write_config(&dir.join("plain"), false) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("minisip4fb bench: cannot write the config: {e}");
            return 1;
        }
    };
    let code = run_bench(&a, &exe, &emu, &box_addr, &config, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    code
}

async fn run_bench(
    a: &BenchArgs,
    exe: &std::path::Path,
    emu: &std::sync::Arc<Emulator>,
    box_addr: &str,
    config: &std::path::Path,
    dir: &std::path::Path,
) -> i32 {
    // The floor first: its binding goes stale once the phone registers,
    // and the emulator rings the newest binding.
    let floor = match start_registered(
        emu,
        exe,
        &[
            "bench-floor",
            "--registrar",
            box_addr,
            "--user",
            "620",
            "--lifetime",
            "600",
        ],
        None,
    )
    .await
    {
        Ok(f) => f,
        Err(e) => {
            eprintln!("minisip4fb bench: {e}");
            return 1;
        }
    };
    let floor_step = run_step(emu, a.calls, a.rate).await;
    drop(floor);

    let started = Instant::now();
    let phone = match start_phone(emu, exe, box_addr, config, None).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("minisip4fb bench: {e}");
            return 1;
        }
    };
    let pid = phone.0.id();
    let registered_ms = started.elapsed().as_secs_f64() * 1000.0;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_registered = proc_status(pid, "VmRSS:");

    // Idle: CPU time and wake-ups with nothing to do but wait for the refresh timer.
    let (t0, w0) = (cpu_ticks(pid), switches(pid));
    tokio::time::sleep(Duration::from_secs(a.idle)).await;
    let (t1, w1) = (cpu_ticks(pid), switches(pid));

    let main = run_step(emu, a.calls, a.rate).await;
    let mut steps = Vec::new();
    let mut rate = a.rate;
    let mut best = if main.failed() == 0 {
        Some(a.rate)
    } else {
        None
    };
    while best == Some(rate) && rate * 2.0 <= a.max_rate {
        rate *= 2.0;
        let s = run_step(emu, a.calls, rate).await;
        if s.failed() == 0 {
            best = Some(rate);
        }
        steps.push(s);
    }

    // A leak shows as growth between two settled readings: ended calls
    // linger T4 (5 s), answered BYEs are cached 64·T1 (32 s) for stray
    // retransmissions, and the phone releases free memory 10 and 40 quiet
    // seconds after the last call; wait that out each time.
    let linger = if a.no_settle {
        Duration::ZERO
    } else {
        Duration::from_secs(42)
    };
    let warm = run_step(emu, 100.min(a.soak), SOAK_RATE).await;
    tokio::time::sleep(linger).await;
    let rss_100 = proc_status(pid, "VmRSS:");
    let soak = run_step(emu, a.soak.saturating_sub(100), SOAK_RATE).await;
    let rss_soak = proc_status(pid, "VmRSS:");
    tokio::time::sleep(linger).await;
    let rss_settled = proc_status(pid, "VmRSS:");

    let peak = proc_status(pid, "VmHWM:");
    drop(phone);
    let size = std::fs::metadata(exe).map(|m| m.len()).unwrap_or(0);
    let stripped = stripped_size(exe);
    let kb = |v: Option<u64>| v.map_or("?".into(), |k| format!("{:.1} MB", k as f64 / 1024.0));

    println!(
        "## Call cycle (blocked number → answered and hung up), loopback, {} calls at {} calls/s, call log on\n",
        a.calls, a.rate
    );
    println!("| | p50 | p90 | p99 | max |\n|---|---:|---:|---:|---:|");
    let first = |r: &CallReport| r.first_response;
    let answered = |r: &CallReport| r.answered_after;
    let bye = |r: &CallReport| r.bye_after;
    for (name, pick) in [
        (
            "INVITE → first response",
            first as fn(&CallReport) -> Option<Duration>,
        ),
        ("INVITE → 200 OK", answered),
        ("INVITE → BYE", bye),
    ] {
        println!(
            "{}",
            table_row(&format!("minisip4fb: {name}"), &main.latencies(pick))
        );
        println!(
            "{}",
            table_row(&format!("floor: {name}"), &floor_step.latencies(pick))
        );
    }
    let med =
        |s: &Step, pick: fn(&CallReport) -> Option<Duration>| percentile(&s.latencies(pick), 0.5);
    println!(
        "\nagainst the floor (a minimal responder in its own process, same run): INVITE → 200 OK median {:+.3} ms, INVITE → BYE median ×{:.2}",
        med(&main, answered) - med(&floor_step, answered),
        med(&main, bye) / med(&floor_step, bye)
    );
    println!(
        "floor failed calls: {} of {}",
        floor_step.failed(),
        floor_step.reports.len()
    );
    println!(
        "\nfailed calls: {} of {}\n",
        main.failed(),
        main.reports.len()
    );
    println!(
        "## Rate steps ({} calls each)\n\n| calls/s | failed | INVITE → BYE p50 | p99 |\n|---:|---:|---:|---:|",
        a.calls
    );
    for s in std::iter::once(&main).chain(&steps) {
        let v = s.latencies(|r| r.bye_after);
        println!(
            "| {} | {} | {:.2} ms | {:.2} ms |",
            s.rate,
            s.failed(),
            percentile(&v, 0.5),
            percentile(&v, 0.99)
        );
    }
    match best {
        Some(r) => println!(
            "\nhighest rate with zero failed calls: {r} calls/s (cap {})",
            a.max_rate
        ),
        None => println!("\nfailures already at {} calls/s", a.rate),
    }
    let ticks = t0.zip(t1).map(|(a, b)| b - a);
    let hz = 100.0; // USER_HZ on Linux
    println!("\n## Footprint\n\n| | |\n|---|---:|");
    println!(
        "| binary (as built / stripped) | {:.1} MB / {} |",
        size as f64 / 1e6,
        stripped.map_or("?".into(), |s| format!("{:.2} MB", s as f64 / 1e6))
    );
    println!("| start → registered | {registered_ms:.1} ms |");
    println!("| RSS after registering | {} |", kb(rss_registered));
    println!(
        "| RSS after 100 calls / right after {} calls at {SOAK_RATE} calls/s / {} later | {} / {} / {} |",
        a.soak,
        if a.no_settle {
            "0 s (--no-settle: not settled)"
        } else {
            "42 s"
        },
        kb(rss_100),
        kb(rss_soak),
        kb(rss_settled)
    );
    println!("| peak RSS (VmHWM) | {} |", kb(peak));
    println!(
        "| idle {} s: CPU time, wake-ups | {} ms, {} |",
        a.idle,
        ticks.map_or("?".into(), |t| format!("{:.0}", t as f64 * 1000.0 / hz)),
        w0.zip(w1)
            .map_or("?".into(), |(a, b)| wakeups(&a, &b).to_string())
    );
    println!("\nsoak failures: {}", warm.failed() + soak.failed());
    // A failed call is a failed benchmark (the rate steps above the first
    // one look for the rate where calls start to fail: those are not).
    let failed = main.failed() + floor_step.failed() + warm.failed() + soak.failed();
    let code = if failed > 0 {
        eprintln!("minisip4fb bench: FAILED: {failed} call(s) at the tested rates failed");
        1
    } else {
        0
    };
    let code = if a.stress {
        stress(exe, emu, box_addr, dir).await.max(code)
    } else {
        code
    };
    let code = if a.web {
        web::web(exe, emu, box_addr, dir).await.max(code)
    } else {
        code
    };
    let code = if a.media {
        media::media(exe, emu, box_addr, dir).await.max(code)
    } else {
        code
    };
    if a.phoneblock {
        return phoneblock::phoneblock(exe, emu, box_addr, dir)
            .await
            .max(code);
    }
    code
}

/// The worst INVITE→200 while the phone is busy with something slow.
async fn stress(
    exe: &std::path::Path,
    emu: &std::sync::Arc<Emulator>,
    box_addr: &str,
    dir: &std::path::Path,
) -> i32 {
    let sdir = dir.join("stress");
    let config = match write_config(&sdir, true) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("minisip4fb bench: {e}");
            return 1;
        }
    };
    let phone = match start_phone(emu, exe, box_addr, &config, None).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("minisip4fb bench: {e}");
            return 1;
        }
    };
    let pid = phone.0.id();
    // Let the first compile of the 1M list finish (calls before it wait for it).
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!(
        "\n## Under stress (1,000,000-entry list rule, a command hook on every terminated call, call log on)\n"
    );
    println!(
        "| situation | calls | failed | INVITE → 200 p50 | p99 | max |\n|---|---:|---:|---:|---:|---:|"
    );
    // The bound the issue states: every call answered, each within 100 ms.
    let mut missed = Vec::new();
    let mut row = |name: &str, s: &Step| {
        let v = s.latencies(|r| r.answered_after);
        let max = percentile(&v, 1.0);
        println!(
            "| {name} | {} | {} | {:.3} ms | {:.3} ms | {max:.3} ms |",
            s.reports.len(),
            s.failed(),
            percentile(&v, 0.5),
            percentile(&v, 0.99),
        );
        if s.failed() > 0 || max > STRESS_BOUND_MS {
            missed.push(name.to_owned());
        }
    };
    let quiet = run_step(emu, 200, 50.0).await;
    row("quiet (hook on each call)", &quiet);
    // The list changes twice a second: every change is a 1M-entry compile.
    let list = sdir.join("big.txt");
    let reload = run_step_during(emu, 300, 50.0, |i| {
        if i % 25 == 0 {
            use std::io::Write as _;
            if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(&list) {
                let _ = writeln!(f, "0171{i:07}");
            }
        }
    })
    .await;
    row("1,000,000-entry list changed every 0.5 s", &reload);
    tokio::time::sleep(Duration::from_secs(3)).await;
    #[cfg(unix)]
    {
        let storm = run_step_during(emu, 300, 50.0, |_| {
            for _ in 0..10 {
                signal(pid, libc::SIGHUP);
            }
        })
        .await;
        row("SIGHUP storm (500 a second)", &storm);
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    match rusqlite::Connection::open(sdir.join("calls.db"))
        .and_then(|db| db.execute_batch("BEGIN EXCLUSIVE").map(|()| db))
    {
        Ok(db) => {
            let locked = run_step(emu, 300, 50.0).await;
            let _ = db.execute_batch("COMMIT");
            row("call log locked by another process", &locked);
        }
        Err(e) => eprintln!("minisip4fb bench: cannot lock the call log: {e}"),
    }
    let flood = run_step(emu, 1000, 500.0).await;
    row("hook flood: 1,000 calls at 500 calls/s", &flood);
    drop(phone);
    if missed.is_empty() {
        return 0;
    }
    eprintln!(
        "minisip4fb bench: FAILED: a call failed or took over {STRESS_BOUND_MS} ms to answer in: {}",
        missed.join("; ")
    );
    1
}

/// Under stress every blocked call is still answered within this (issue 10).
const STRESS_BOUND_MS: f64 = 100.0;

/// Size of a stripped copy, via `strip` if it is installed.
fn stripped_size(exe: &std::path::Path) -> Option<u64> {
    let tmp = std::env::temp_dir().join(format!("minisip4fb-stripped-{}", std::process::id()));
    let ok = Command::new("strip")
        .arg("-o")
        .arg(&tmp)
        .arg(exe)
        .status()
        .ok()?
        .success();
    let size = ok
        .then(|| std::fs::metadata(&tmp).ok().map(|m| m.len()))
        .flatten();
    let _ = std::fs::remove_file(&tmp);
    size
}
