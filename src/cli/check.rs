//! `minisip4fb check`: validate the config and lists, register once at the
//! Box, say what it granted and where it will call us, unregister.

use std::io::ErrorKind;
use std::time::Duration;

use super::run::{Checked, PhoneArgs, RunArgs, print_problems, validate};
use minisip4fb::net::{Phone, PhoneError, Registration};

pub async fn check(phone: PhoneArgs) -> i32 {
    let args = RunArgs {
        phone,
        ..RunArgs::default()
    };
    match &args.phone.config {
        Some(p) => println!("config file: {}", p.display()),
        None => println!("config file: none (flags only)"),
    }
    // The same checks as `run` (one function), then the rules, as `run`
    // compiles them.
    let (settings, tr064) = match validate(&args) {
        Ok(Checked {
            settings, tr064, ..
        }) => (settings, tr064),
        Err(problems) => {
            print_problems("config: ", &problems);
            return 2;
        }
    };
    match settings.source.compile() {
        Ok(rules) => println!("config: ok, {} rule(s)", rules.len()),
        Err(e) => {
            print_problems("config: ", &e.problems());
            return 2;
        }
    }
    if let Some(db) = &settings.db {
        match minisip4fb::calllog::CallLog::open(db) {
            Ok(_) => println!("call log: {} ok", db.display()),
            Err(e) => {
                eprintln!("call log: {e}");
                return 2;
            }
        }
    }
    if let Some(pb) = settings.source.config.phoneblock.clone() {
        let cfg = settings.source.config.clone();
        // PhoneBlock's client blocks: off the runtime's one thread.
        let checked = tokio::task::spawn_blocking(move || match super::phoneblock::open(&pb) {
            Ok((api, from, store)) => {
                print!("PhoneBlock ");
                super::phoneblock::status(
                    &cfg,
                    &pb,
                    &store,
                    &api,
                    &from,
                    chrono::Utc::now().timestamp(),
                )
            }
            Err((code, e)) => {
                eprintln!("PhoneBlock: {e}");
                code
            }
        })
        .await;
        match checked {
            Ok(0) => {}
            Ok(code) => return code,
            Err(e) => {
                eprintln!("PhoneBlock: {e}");
                return 1;
            }
        }
    }
    if let Some(link) = tr064 {
        let url = settings
            .source
            .config
            .fritzbox
            .tr064
            .clone()
            .unwrap_or_default();
        let status = link
            .with(|c| c.ip_phones())
            .await
            .map_err(|e| e.to_string());
        match status {
            Ok(p) => println!("TR-064 at {url}: ok, {} IP phone(s) set up", p.len()),
            Err(e) => {
                eprintln!("TR-064 at {url}: {e}");
                return 1;
            }
        }
    }
    // Every account registers once and unregisters; all are tried.
    let several = settings.accounts.len() > 1;
    let mut code = 0;
    for account in &settings.accounts {
        if several {
            println!("account {}:", account.name);
        }
        let c = register_once(&account.phone).await;
        if c == 0 {
            println!("unregistered again: all good");
        }
        code = code.max(c);
        if let Some((at, _)) = &account.call_monitor {
            code = code.max(reach_call_monitor(at).await);
        }
    }
    code
}

/// Connects to the Box's call monitor once; the exit code.
async fn reach_call_monitor(at: &str) -> i32 {
    let connect = tokio::net::TcpStream::connect(at);
    match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(_)) => {
            println!("call monitor at {at}: reachable");
            0
        }
        Ok(Err(e)) => {
            eprintln!(
                "call monitor at {at}: {e} (switch it on by dialling #96*5* on a phone of the Box)"
            );
            1
        }
        Err(_) => {
            eprintln!("call monitor at {at}: no answer within 5 s (is the address right?)");
            1
        }
    }
}

/// Registers `config`'s phone once and unregisters; the exit code.
async fn register_once(config: &minisip4fb::net::PhoneConfig) -> i32 {
    let phone = match Phone::start(config.clone()).await {
        Ok(p) => p,
        // The running daemon holds the port: check from a port of its own
        // (the Box sees a second binding of the account for a moment).
        Err(PhoneError::Bind { addr, source }) if source.kind() == ErrorKind::AddrInUse => {
            println!("{addr} is in use (by the running daemon?): checking from another port");
            let mut beside = config.clone();
            beside.bind.set_port(0);
            match Phone::start(beside).await {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("phone: {e}");
                    return 1;
                }
            }
        }
        Err(e) => {
            eprintln!("phone: {e}");
            return 1;
        }
    };
    println!(
        "registering {} at {} ({}) from {} …",
        config.user,
        config.fritzbox,
        phone.registrar(),
        phone.contact()
    );
    let port_hint = || {
        format!(
            "Is {} the FRITZ!Box, is the IP phone set up there, and does no firewall block UDP {}?",
            config.fritzbox,
            phone.registrar().port()
        )
    };
    let code = match tokio::time::timeout(Duration::from_secs(15), phone.first_registration()).await
    {
        Ok(Ok(expires)) => {
            println!(
                "registered: the Box granted {} s and will call sip:{}@{}",
                expires.as_secs(),
                config.user,
                phone.contact()
            );
            0
        }
        Ok(Err(e)) if matches!(phone.registration(), Registration::NoAnswer { .. }) => {
            eprintln!("registration: {e}. {}", port_hint());
            1
        }
        Ok(Err(e)) => {
            eprintln!("registration: {e}");
            1
        }
        Err(_) => {
            eprintln!("registration: no success within 15 s. {}", port_hint());
            1
        }
    };
    let _ = phone.shutdown().await;
    code
}
