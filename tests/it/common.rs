//! What the integration tests share: the binary as a child process, the
//! emulated Box with the usual account, and a fresh directory per test.
//! Each test file uses only part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minisip4fb_emulator::tr064::Tr064Config;
use minisip4fb_emulator::{Emulator, EmulatorConfig};

pub const BIN: &str = env!("CARGO_BIN_EXE_minisip4fb");
/// The IP phone's account on the emulated Box: user 620, this password.
pub const USER: &str = "620";
pub const PASSWORD: &str = "geheim123";

/// Runs `cmd` to its end; it must exit 0 (else its stderr says why).
pub fn succeeded(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// What a finished command printed, stdout then stderr.
pub fn said(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `minisip4fb SUBCOMMAND [ARGS] --config CONFIG --fritzbox BOX --bind
/// 127.0.0.1:0`, the SIP password only from the config (never the
/// caller's environment).
pub fn against_box(
    subcommand: &[&str],
    config: &std::path::Path,
    box_addr: std::net::SocketAddr,
) -> Command {
    let mut c = Command::new(BIN);
    c.args(subcommand)
        .arg("--config")
        .arg(config)
        .args(["--fritzbox", &box_addr.to_string(), "--bind", "127.0.0.1:0"])
        .env_remove("MINISIP4FB_PASSWORD");
    c
}

/// `run --events json` against the Box, and its event lines as they come.
pub fn run_with_events(
    config: &std::path::Path,
    box_addr: std::net::SocketAddr,
) -> (Proc, Arc<Mutex<Vec<String>>>) {
    let mut d = Proc::spawn_logged(
        against_box(&["run", "--events", "json"], config, box_addr)
            .stdout(std::process::Stdio::piped()),
    );
    let lines = d.stdout_lines();
    (d, lines)
}

/// A child process of the test, killed (by its PID) when dropped.
pub struct Proc(pub Child, Option<Arc<Mutex<String>>>);

impl Proc {
    pub fn spawn(cmd: &mut Command) -> Proc {
        Proc(cmd.spawn().expect("start minisip4fb"), None)
    }

    /// Spawns with stderr read as it comes (the pipe never fills), for
    /// [`Proc::wait_for`] and [`Proc::log`].
    pub fn spawn_logged(cmd: &mut Command) -> Proc {
        let mut child = cmd
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start minisip4fb");
        let log = Arc::new(Mutex::new(String::new()));
        if let Some(err) = child.stderr.take() {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in
                    std::io::BufRead::lines(std::io::BufReader::new(err)).map_while(Result::ok)
                {
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        Proc(child, Some(log))
    }

    /// Its piped stdout's lines as they come (`--events json`), read on a
    /// thread of their own so that the pipe never fills.
    pub fn stdout_lines(&mut self) -> Arc<Mutex<Vec<String>>> {
        let lines = Arc::new(Mutex::new(Vec::new()));
        if let Some(out) = self.0.stdout.take() {
            let seen = lines.clone();
            std::thread::spawn(move || {
                for line in
                    std::io::BufRead::lines(std::io::BufReader::new(out)).map_while(Result::ok)
                {
                    seen.lock().unwrap().push(line);
                }
            });
        }
        lines
    }

    /// What a [`Proc::spawn_logged`] process wrote to stderr so far.
    pub fn log(&self) -> String {
        self.1
            .as_ref()
            .map(|l| l.lock().unwrap().clone())
            .unwrap_or_default()
    }

    /// Waits (at most `limit`) until its stderr holds `needle`.
    pub async fn wait_for(&self, needle: &str, limit: Duration) -> bool {
        let until = std::time::Instant::now() + limit;
        while std::time::Instant::now() < until {
            if self.log().contains(needle) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &self.0.id().to_string()])
            .status();
    }

    /// SIGTERM, then the exit status (waiting at most 10 s).
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        self.signal("TERM");
        self.exited_within(Duration::from_secs(10))
    }

    /// The exit status once it ended by itself, waiting at most `limit`.
    pub fn exited_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let until = std::time::Instant::now() + limit;
        while std::time::Instant::now() < until {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn kill9(&mut self) {
        self.signal("KILL");
        let _ = self.0.wait();
    }

    /// Ends the process and returns what it wrote to a piped stderr.
    pub fn stderr(mut self) -> String {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let mut s = String::new();
        if let Some(mut e) = self.0.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut s);
        }
        s
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The emulated Box on loopback, `accounts` as its IP phones, `tr064` if
/// given; everything else as `EmulatorConfig::default()` with `seed`.
pub async fn emulated_box(
    accounts: &[(&str, &str)],
    tr064: Option<Tr064Config>,
    seed: u64,
) -> Emulator {
    Emulator::start(EmulatorConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        accounts: accounts
            .iter()
            .map(|(u, p)| ((*u).into(), (*p).into()))
            .collect(),
        tr064,
        seed,
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator on loopback")
}

/// The emulated Box with the usual account (620 / geheim123) only.
pub async fn usual_box(seed: u64) -> Emulator {
    emulated_box(&[(USER, PASSWORD)], None, seed).await
}

/// Waits (at most 10 s) until the Box holds a binding registered after
/// `since`: a restarted daemon's, not the one it left behind.
pub async fn registered_after(emu: &Emulator, since: std::time::Instant) {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while !emu.bindings().await.iter().any(|b| b.registered_at > since) {
        assert!(
            std::time::Instant::now() < until,
            "no fresh registration within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the emulator reports something `want` accepts, at most `timeout`.
pub async fn wait_report(
    reports: &mut tokio::sync::broadcast::Receiver<minisip4fb_emulator::Report>,
    timeout: Duration,
    want: impl Fn(&minisip4fb_emulator::Report) -> bool,
) -> bool {
    tokio::time::timeout(timeout, async {
        loop {
            match reports.recv().await {
                Ok(r) if want(&r) => return true,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return false,
            }
        }
    })
    .await
    .unwrap_or(false)
}

/// A fresh, empty directory for one test.
pub fn fresh_dir(kind: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("minisip4fb-{kind}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Starts an emulator as configured (its `bind` included).
pub async fn start(cfg: EmulatorConfig) -> Emulator {
    Emulator::start(cfg).await.expect("emulator on loopback")
}

/// A tool on PATH, or in the sbin directories Debian installs daemons
/// to (`/usr/sbin/mosquitto`), which a user's PATH often lacks.
pub fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Whether the part of the suite called `part` may run. Missing what it
/// needs (`missing`, with how to install it), it fails, unless the person
/// running the tests opts out by name: `MINISIP4FB_SKIP=browser,mqtt`.
/// A skip is written past the test harness's capture, so that it shows
/// in the run's output.
pub fn require(part: &str, missing: Option<String>) -> bool {
    let Some(why) = missing else {
        return true;
    };
    let skip = std::env::var("MINISIP4FB_SKIP").unwrap_or_default();
    if skip.split(',').any(|s| s.trim() == part) {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr().lock(),
            "SKIPPED {part} (MINISIP4FB_SKIP): {why}"
        );
        return false;
    }
    panic!("{why}\n(or run without this part: MINISIP4FB_SKIP={part})");
}
