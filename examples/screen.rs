//! Screen calls yourself: terminate premium numbers, turn one number
//! away the way the FRITZ!Box wants it, let everything else ring.
//! `MINISIP4FB_PASSWORD=… cargo run --example screen -- fritz.box 620`
use minisip4fb::{Phone, PhoneConfig, Reject};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "fritz.box".into());
    let user = args.next().unwrap_or_else(|| "620".into());
    let mut config = PhoneConfig::new(&host, &user, &std::env::var("MINISIP4FB_PASSWORD")?);
    if let Some(bind) = args.next() {
        config.bind = bind.parse()?; // default 0.0.0.0:5062
    }
    let mut phone = Phone::connect(config).await?;
    loop {
        let call = tokio::select! {
            call = phone.next_call() => match call { Some(c) => c, None => break },
            _ = tokio::signal::ctrl_c() => break,
        };
        let done = match call.caller().number.as_deref() {
            Some(n) if n.starts_with("0900") => call.terminate().await.map(drop), // answer + hang up
            // Rings ~3 s, then 480: what the Box wants (others keep ringing).
            Some("01701234567") => call.reject(Reject::Unavailable).await,
            _ => call.ring().await, // e.g. switch a relay here
        };
        // A caller may hang up before we act: an error of that call only.
        match done {
            Ok(()) => println!("{}: done", call.caller()),
            Err(e) => eprintln!("{}: {e}", call.caller()),
        }
    }
    phone.shutdown().await?; // ends calls in progress, unregisters
    Ok(())
}
