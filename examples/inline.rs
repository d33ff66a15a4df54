//! Decide on the phone's own thread, the moment an INVITE is parsed (as
//! the daemon does: no 100 Trying, the 200 OK leaves in the same
//! wake-up). The screen must not block; what it defers, `next_call` gets.
//! `MINISIP4FB_PASSWORD=… cargo run --example inline -- fritz.box 620`
use minisip4fb::net::{CallerId, Verdict};
use minisip4fb::{Phone, PhoneConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "fritz.box".into());
    let user = args.next().unwrap_or_else(|| "620".into());
    let mut config = PhoneConfig::new(&host, &user, &std::env::var("MINISIP4FB_PASSWORD")?);
    if let Some(bind) = args.next() {
        config.bind = bind.parse()?;
    }
    let screen = |caller: &CallerId| match caller.number.as_deref() {
        Some(n) if n.starts_with("0900") => Verdict::Terminate,
        None => Verdict::Terminate, // withheld
        _ => Verdict::Defer,        // next_call() decides
    };
    let mut phone = Phone::start_with(config, screen).await?;
    phone.wait_registered().await?;
    loop {
        let call = tokio::select! {
            call = phone.next_call() => match call { Some(c) => c, None => break },
            _ = tokio::signal::ctrl_c() => break,
        };
        if let Err(e) = call.ring().await {
            eprintln!("{}: {e}", call.caller());
        }
    }
    phone.shutdown().await?;
    Ok(())
}
