//! `minisip4fb emulate`: an emulated FRITZ!Box on its own, printing what it
//! sees, to try a phone configuration (ours or another SIP phone's)
//! without touching the real Box.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;

use minisip4fb_emulator::tr064::Tr064Config;
use minisip4fb_emulator::{CallSpec, Caller, Emulator, EmulatorConfig};

#[derive(Args, Debug, Clone)]
pub struct EmulateArgs {
    /// Where the emulated registrar listens.
    #[arg(long, default_value = "127.0.0.1:5060")]
    pub bind: SocketAddr,
    /// The IP phone's user name.
    #[arg(long, default_value = "620")]
    pub user: String,
    /// The IP phone's password.
    #[arg(long, default_value = "geheim123")]
    pub password: String,
    /// Registration lifetime the Box grants, in seconds.
    #[arg(long, default_value_t = 300)]
    pub expires: u32,
    /// Challenge with qop=auth instead of the FRITZ!Box's plain digest.
    #[arg(long)]
    pub qop: bool,
    /// Ring the phone from NUMBER, SECONDS after it registered: anonymous
    /// (`<sip:fritz.box>`), anonymous-user (`<sip:anonymous@fritz.box>`),
    /// **622, 0049…, 0301234567 (Oma in the Box's phonebook).
    #[arg(long = "call", value_name = "NUMBER[@SECONDS]")]
    pub calls: Vec<String>,
    /// A script of timed actions; see `minisip4fb emulate --help`.
    #[arg(
        long,
        value_name = "FILE",
        long_help = "A script: one action a line, SECONDS after the first registration:\n  2 call 09005551234 [ring=SECONDS] [hangup=SECONDS]\n  5 reboot 10      (forget bindings, silent for 10 s)\n  9 loss 20        (drop 20 % of packets)\n  9 delay 200      (delay every answer by 200 ms)\n 30 exit\n'#' starts a comment."
    )]
    pub script: Option<PathBuf>,
    /// How long a call rings before the caller gives up, in seconds.
    #[arg(long, default_value_t = 20.0)]
    pub ring: f64,
    /// Send OPTIONS keepalives this often, in seconds (0: never); one left
    /// unanswered until the next costs the phone its binding, as at the Box.
    #[arg(long, default_value_t = 60.0)]
    pub options: f64,
    /// How often (0–1) the phone's BYE is challenged with 401, as the Box
    /// may challenge any request a phone sends.
    #[arg(long, default_value_t = 0.3)]
    pub challenge_requests: f64,
    /// Also emulate PhoneBlock's API here (a loopback IP:PORT), with a few
    /// community numbers; point `[phoneblock] api` at the URL it prints.
    #[arg(long, value_name = "IP:PORT")]
    pub phoneblock: Option<SocketAddr>,
    /// Also serve the Box's TR-064 side here (a loopback IP:PORT): `setup`,
    /// `barring`, `phonebooks` and the dashboard's Box actions can be tried
    /// against the URL it prints.
    #[arg(long, value_name = "IP:PORT")]
    pub tr064: Option<SocketAddr>,
    /// Also serve the Box's call monitor here (a loopback IP:PORT, the
    /// Box's is port 1012): a line per call it sees.
    #[arg(long, value_name = "IP:PORT")]
    pub call_monitor: Option<SocketAddr>,
    /// The Box user TR-064 takes (with the right "Telefonie").
    #[arg(long, value_name = "NAME", default_value = "admin")]
    pub admin_user: String,
    /// Its password; a wrong one is refused as by the Box (ten in a row
    /// lock TR-064 for a minute).
    #[arg(long, value_name = "PASSWORD", default_value = "fritz-admin-pw")]
    pub admin_password: String,
    /// Add this many synthetic numbers (+49170…, 10 votes) to the emulated
    /// community list, e.g. 1000000 to try a list of that size.
    #[arg(long, value_name = "N", default_value_t = 0, requires = "phoneblock")]
    pub phoneblock_numbers: usize,
}

/// The emulated PhoneBlock of `emulate --phoneblock`: a few numbers the
/// community rated, and one on each of the user's own lists.
async fn start_phoneblock(
    bind: SocketAddr,
    synthetic: usize,
) -> std::io::Result<minisip4fb_emulator::phoneblock::PhoneBlockStandIn> {
    use minisip4fb_emulator::phoneblock::{PhoneBlockConfig, PhoneBlockStandIn, synthetic_list};
    let mut community = synthetic_list(synthetic.min(minisip4fb::phoneblock::MAX_ENTRIES));
    for (phone, votes, rating) in [
        ("+494055512345", 50, "E_ADVERTISING"),
        ("+4915112345678", 10, "G_FRAUD"),
        ("+493012345999", 2, "C_PING"),
    ] {
        community.push((phone.into(), votes, rating.into()));
    }
    PhoneBlockStandIn::start(PhoneBlockConfig {
        bind,
        community,
        blacklist: vec![("+4989998877".into(), "Gewinnspiel".into())],
        whitelist: vec![("+4930555000".into(), "Praxis".into())],
        ..PhoneBlockConfig::default()
    })
    .await
}

#[derive(Debug, Clone, PartialEq)]
enum Action {
    Call(CallSpec),
    Reboot(Duration),
    Loss(f64),
    Delay(Duration),
    Exit,
}

fn caller_of(number: &str) -> Caller {
    if number.eq_ignore_ascii_case("anonymous") {
        Caller::Anonymous
    } else if number.eq_ignore_ascii_case("anonymous-user") {
        Caller::AnonymousUser
    } else if let Some(ext) = number.strip_prefix("**") {
        Caller::Internal {
            number: number.to_owned(),
            name: format!("Telefon {ext}"),
        }
    } else if number.starts_with("00") || number.starts_with('+') {
        Caller::International(number.to_owned())
    } else {
        Caller::National(number.to_owned())
    }
}

fn secs(s: &str, what: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0 && *v < 1e7)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{what}: {s:?} is not a number of seconds"))
}

fn parse_script(text: &str, ring: Duration) -> Result<Vec<(Duration, Action)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = |e: String| format!("line {}: {e}", i + 1);
        let words: Vec<&str> = line.split_whitespace().collect();
        let t = secs(words[0], "time").map_err(at)?;
        let action = match (words.get(1).copied(), words.get(2).copied()) {
            (Some("call"), Some(n)) => {
                let mut spec = CallSpec::new(caller_of(n)).cancel_after(ring);
                for opt in &words[3..] {
                    match opt.split_once('=') {
                        Some(("ring", v)) => spec.cancel_after = secs(v, "ring").map_err(at)?,
                        Some(("hangup", v)) => {
                            spec.hang_up_after = Some(secs(v, "hangup").map_err(at)?)
                        }
                        _ => {
                            return Err(at(format!(
                                "unknown call option {opt:?} (ring=S, hangup=S)"
                            )));
                        }
                    }
                }
                Action::Call(spec)
            }
            (Some("reboot"), Some(s)) => Action::Reboot(secs(s, "reboot").map_err(at)?),
            (Some("loss"), Some(p)) => match p.parse::<f64>() {
                Ok(v) if (0.0..=100.0).contains(&v) => Action::Loss(v / 100.0),
                _ => return Err(at(format!("loss: {p:?} is not a percentage"))),
            },
            (Some("delay"), Some(ms)) => Action::Delay(secs(ms, "delay").map_err(at)? / 1000),
            (Some("exit"), None) => Action::Exit,
            _ => {
                return Err(at(format!(
                    "unknown action {line:?} (call, reboot, loss, delay, exit)"
                )));
            }
        };
        out.push((t, action));
    }
    Ok(out)
}

pub async fn emulate(args: EmulateArgs) -> i32 {
    let ring = Duration::from_secs_f64(args.ring.clamp(0.0, 3600.0));
    let mut actions = Vec::new();
    for c in &args.calls {
        let (number, at) = c.split_once('@').unwrap_or((c, "0"));
        match secs(at, "--call") {
            Ok(t) => actions.push((
                t,
                Action::Call(CallSpec::new(caller_of(number)).cancel_after(ring)),
            )),
            Err(e) => {
                eprintln!("minisip4fb emulate: {e}");
                return 2;
            }
        }
    }
    if let Some(path) = &args.script {
        let parsed = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|t| parse_script(&t, ring).map_err(|e| format!("{}: {e}", path.display())));
        match parsed {
            Ok(a) => actions.extend(a),
            Err(e) => {
                eprintln!("minisip4fb emulate: {e}");
                return 2;
            }
        }
    }
    actions.sort_by_key(|(t, _)| *t);
    let cfg = EmulatorConfig {
        bind: args.bind,
        accounts: vec![(args.user.clone(), args.password.clone())],
        expires: args.expires,
        qop: args.qop,
        options_interval: (args.options > 0.0)
            .then(|| Duration::from_secs_f64(args.options.clamp(0.1, 3600.0))),
        challenge_requests: args.challenge_requests.clamp(0.0, 1.0),
        tr064: args.tr064.map(|bind| Tr064Config {
            bind,
            admin_user: args.admin_user.clone(),
            admin_password: args.admin_password.clone(),
            ..Tr064Config::default()
        }),
        call_monitor: args.call_monitor,
        ..EmulatorConfig::default()
    };
    let emulator = match Emulator::start(cfg).await {
        Ok(e) => std::sync::Arc::new(e),
        Err(e) => {
            eprintln!("minisip4fb emulate: cannot listen on {}: {e}", args.bind);
            return 1;
        }
    };
    let started = Instant::now();
    println!(
        "emulated FRITZ!Box listening on {} (UDP); IP phone user {:?}, password {:?}, grants {} s",
        emulator.addr(),
        args.user,
        args.password,
        args.expires
    );
    if let Some(url) = emulator.tr064_url() {
        println!(
            "emulated TR-064 at {url} (admin user {:?}, password {:?})",
            args.admin_user, args.admin_password
        );
    }
    if let Some(at) = emulator.call_monitor() {
        println!(
            "emulated call monitor at {at} (TCP; [fritzbox] call_monitor = true, call_monitor_address = \"{at}\")"
        );
    }
    let phoneblock = match args.phoneblock {
        Some(bind) => match start_phoneblock(bind, args.phoneblock_numbers).await {
            Ok(p) => {
                println!("emulated PhoneBlock at {} (token {:?})", p.url(), p.token());
                Some(p)
            }
            Err(e) => {
                eprintln!("minisip4fb emulate: cannot listen on {bind} for PhoneBlock: {e}");
                return 1;
            }
        },
        None => None,
    };
    let mut reports = emulator.reports();
    tokio::spawn(async move {
        while let Ok(r) = reports.recv().await {
            println!("[{:8.3}s] {r}", started.elapsed().as_secs_f64());
        }
    });
    let script = {
        let emulator = emulator.clone();
        async move {
            if actions.is_empty() {
                return std::future::pending().await;
            }
            if emulator
                .wait_for_binding(Duration::from_secs(3600))
                .await
                .is_none()
            {
                return;
            }
            let t0 = tokio::time::Instant::now();
            for (at, action) in actions {
                tokio::time::sleep_until(t0 + at).await;
                match action {
                    Action::Call(spec) => {
                        let e = emulator.clone();
                        tokio::spawn(async move { e.call(spec).await });
                    }
                    Action::Reboot(d) => emulator.reboot(d),
                    Action::Loss(f) => emulator.set_loss(f),
                    Action::Delay(d) => emulator.set_delay(d),
                    Action::Exit => return,
                }
            }
            std::future::pending::<()>().await
        }
    };
    tokio::select! {
        _ = script => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut violations = emulator.violations().await;
    if let Some(p) = &phoneblock {
        for r in p.reported() {
            println!("  PhoneBlock heard of a call from {r}");
        }
        violations.extend(
            p.violations()
                .into_iter()
                .map(|v| format!("PhoneBlock: {v}")),
        );
    }
    println!(
        "[{:8.3}s] stopping; {} protocol violation(s) seen",
        started.elapsed().as_secs_f64(),
        violations.len()
    );
    for v in &violations {
        println!("  violation: {v}");
    }
    // A phone under test that broke the protocol fails the run.
    if violations.is_empty() { 0 } else { 3 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_parses_and_errors_name_the_line() {
        let s = parse_script(
            "# demo\n1 call 0900123 ring=2\n2.5 reboot 3\n3 loss 20\n4 delay 200\n9 exit\n",
            Duration::from_secs(20),
        )
        .unwrap();
        assert_eq!(s.len(), 5);
        assert_eq!(
            s[1],
            (
                Duration::from_millis(2500),
                Action::Reboot(Duration::from_secs(3))
            )
        );
        assert_eq!(s[3].1, Action::Delay(Duration::from_millis(200)));
        let e = parse_script("1 call 0900\n2 dance\n", Duration::from_secs(1)).unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
        assert!(parse_script("x call 1\n", Duration::from_secs(1)).is_err());
        assert_eq!(
            caller_of("**622"),
            Caller::Internal {
                number: "**622".into(),
                name: "Telefon 622".into()
            }
        );
        assert_eq!(caller_of("anonymous"), Caller::Anonymous);
        assert_eq!(caller_of("Anonymous-User"), Caller::AnonymousUser);
    }
}
