//! The same without async Rust, for a small script: the first N calls
//! (default: for ever), premium numbers terminated, the rest ringing.
//! `MINISIP4FB_PASSWORD=… cargo run --example blocking -- fritz.box 620 [BIND] [N]`
use minisip4fb::net::{PhoneConfig, blocking::Phone};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "fritz.box".into());
    let user = args.next().unwrap_or_else(|| "620".into());
    let mut config = PhoneConfig::new(&host, &user, &std::env::var("MINISIP4FB_PASSWORD")?);
    if let Some(bind) = args.next() {
        config.bind = bind.parse()?;
    }
    let calls: usize = args.next().map_or(Ok(usize::MAX), |n| n.parse())?;
    let mut phone = Phone::connect(config)?;
    for _ in 0..calls {
        let Some(call) = phone.next_call() else { break };
        let done = match call.caller().number.as_deref() {
            Some(n) if n.starts_with("0900") => phone.terminate(&call).map(drop),
            _ => phone.ring(&call),
        };
        match done {
            Ok(()) => println!("{}: done", call.caller()),
            Err(e) => eprintln!("{}: {e}", call.caller()),
        }
    }
    phone.shutdown()?; // unregisters
    Ok(())
}
