//! `bench --web` (issue 14): the web side's cost. The daemon's RSS without
//! it and with it after every page and API was served once; then calls
//! with the dashboard open (event streams) but idle, against calls while
//! the pages and the API are fetched as fast as two clients can.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::{mb, ms, proc_status, run_step, start_phone, write_config};
use minisip4fb_emulator::Emulator;

const CALLS: u32 = 400;
const RATE: f64 = 100.0;
/// Clients fetching pages without pause, and open event streams.
const CLIENTS: usize = 2;
const STREAMS: usize = 4;
const PAGES: [&str; 10] = [
    "/",
    "/calls",
    "/stats",
    "/rules",
    "/app.js",
    "/api/calls?limit=1000",
    "/api/stats",
    "/api/status",
    "/api/rules",
    "/metrics",
];

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into()
}

/// Fetches `url`, reading the whole answer; whether it was a 200.
fn fetch(agent: &ureq::Agent, url: &str) -> bool {
    match agent.get(url).call() {
        Ok(mut r) => {
            let ok = r.status() == 200;
            let _ = r.body_mut().with_config().limit(8 << 20).read_to_vec();
            ok
        }
        Err(_) => false,
    }
}

pub(super) async fn web(exe: &Path, emu: &Arc<Emulator>, box_addr: &str, dir: &Path) -> i32 {
    match run(exe, emu, box_addr, dir).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("minisip4fb bench --web: {e}");
            1
        }
    }
}

/// The web address the daemon logged (`web: http://127.0.0.1:PORT`).
async fn web_address(log: &Path) -> Result<String, String> {
    for _ in 0..200 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(addr) = text
            .split("web: http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
        {
            return Ok(format!("http://{addr}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "the daemon logged no web address in {}",
        log.display()
    ))
}

async fn run(exe: &Path, emu: &Arc<Emulator>, box_addr: &str, dir: &Path) -> Result<i32, String> {
    let io = |e: std::io::Error| e.to_string();
    let without = write_config(&dir.join("web-without"), false).map_err(io)?;
    let wdir = dir.join("web");
    let with = write_config(&wdir, false).map_err(io)?;
    // Port 0: the daemon takes a free one and logs it (a port picked
    // here and handed over could be taken meanwhile).
    let mut cfg = std::fs::read_to_string(&with).map_err(io)?;
    cfg.push_str("[web]\nlisten = \"127.0.0.1:0\"\n");
    std::fs::write(&with, cfg).map_err(io)?;
    println!("\n## The web side (dashboard, API, metrics)\n\n| | |\n|---|---:|");

    // Each daemon takes 100 calls first (the pages then have something
    // to show); the RSS compared is after those.
    let settle = Duration::from_millis(800);
    let phone = start_phone(emu, exe, box_addr, &without, None).await?;
    let warm_without = run_step(emu, 100, RATE).await;
    tokio::time::sleep(settle).await;
    let rss_without = proc_status(phone.0.id(), "VmRSS:");
    drop(phone);

    let log = wdir.join("daemon.log");
    let phone = start_phone(emu, exe, box_addr, &with, Some(&log)).await?;
    let base = web_address(&log).await?;
    let warm = run_step(emu, 100, RATE).await;
    let b = base.clone();
    let all_ok = tokio::task::spawn_blocking(move || {
        let a = agent();
        PAGES.iter().all(|p| fetch(&a, &format!("{b}{p}")))
    })
    .await
    .unwrap_or(false);
    if !all_ok {
        return Err(format!("a page of {base} did not answer 200"));
    }
    tokio::time::sleep(settle).await;
    let rss_with = proc_status(phone.0.id(), "VmRSS:");
    println!(
        "| daemon RSS after 100 calls: without the web side / with it, every page served once (more) | {} / {} (+{}) |",
        mb(rss_without),
        mb(rss_with),
        mb(rss_with.zip(rss_without).map(|(a, b)| a.saturating_sub(b)))
    );

    // The dashboard open: event streams, read until the bench ends.
    let stop = Arc::new(AtomicBool::new(false));
    let events = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for _ in 0..STREAMS {
        let (url, stop, events) = (format!("{base}/events"), stop.clone(), events.clone());
        threads.push(std::thread::spawn(move || {
            use std::io::BufRead;
            let a: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(60)))
                .build()
                .into();
            let Ok(r) = a.get(&url).call() else { return };
            let reader = std::io::BufReader::new(r.into_body().into_reader());
            for line in reader.lines().map_while(Result::ok) {
                if line.starts_with("event:") {
                    events.fetch_add(1, Ordering::Relaxed);
                }
                if stop.load(Ordering::Relaxed) {
                    return;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = run_step(emu, CALLS, RATE).await;

    // Now the pages and the API as fast as the clients go.
    let served = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let hammer = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (base, hammer, served, failed) =
            (base.clone(), hammer.clone(), served.clone(), failed.clone());
        clients.push(std::thread::spawn(move || {
            // The clients stand for browsers on other machines: they get
            // the CPU after the phone.
            minisip4fb::guard::priority::lower_priority_of_this_thread();
            let a = agent();
            let mut i = c;
            while !hammer.load(Ordering::Relaxed) {
                let ok = fetch(&a, &format!("{base}{}", PAGES[i % PAGES.len()]));
                let n = if ok { &served } else { &failed };
                n.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        }));
    }
    let t = std::time::Instant::now();
    let busy = run_step(emu, CALLS, RATE).await;
    let took = t.elapsed();
    hammer.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.join();
    }
    let cpu_note = format!(
        "{} requests in {:.1} s ({:.0}/s), {} failed",
        served.load(Ordering::Relaxed),
        took.as_secs_f64(),
        served.load(Ordering::Relaxed) as f64 / took.as_secs_f64(),
        failed.load(Ordering::Relaxed)
    );
    // One more call wakes the streams so they see the stop.
    stop.store(true, Ordering::Relaxed);
    let last = run_step(emu, 1, RATE).await;
    drop(phone);
    for t in threads {
        let _ = t.join();
    }
    println!(
        "| {CALLS} calls at {RATE} calls/s, {STREAMS} event streams open, INVITE → 200 p50 / p99 / max | {} |",
        ms(&idle.latencies(|r| r.answered_after))
    );
    println!(
        "| the same while {CLIENTS} clients fetch pages and API without pause ({cpu_note}), INVITE → 200 p50 / p99 / max | {} |",
        ms(&busy.latencies(|r| r.answered_after))
    );
    let streamed = events.load(Ordering::Relaxed);
    println!("| events read by the {STREAMS} streams | {streamed} |");
    let failed_calls =
        warm_without.failed() + warm.failed() + idle.failed() + busy.failed() + last.failed();
    println!("\nfailed calls: {failed_calls}");
    Ok(
        if failed_calls == 0 && failed.load(Ordering::Relaxed) == 0 && streamed > 0 {
            0
        } else {
            1
        },
    )
}
