//! An IVR of your own: a call from one number is answered with a prompt,
//! its keys read (`1#` switches something), then hung up; every other
//! call rings. Each call runs in a task of its own, so a second call
//! never waits behind the first one's prompt.
//! `MINISIP4FB_PASSWORD=… cargo run --example ivr -- fritz.box 620 [BIND] [prompt.wav]`
use std::sync::Arc;
use std::time::Duration;

use minisip4fb::net::{Announcement, CallError, IncomingCall, Keys};
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
    let prompt = Arc::new(match args.next() {
        Some(wav) => Announcement::load(wav.as_ref(), Duration::from_secs(30))?,
        None => Announcement::builtin(),
    });
    let mut phone = Phone::connect(config).await?;
    loop {
        let call = tokio::select! {
            call = phone.next_call() => match call { Some(c) => c, None => break },
            _ = tokio::signal::ctrl_c() => break,
        };
        let prompt = prompt.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(&call, &prompt).await {
                eprintln!("{}: {e}", call.caller()); // e.g. the caller hung up first
            }
        });
    }
    phone.shutdown().await?;
    Ok(())
}

async fn handle(
    call: &IncomingCall,
    prompt: &Announcement,
) -> Result<(), Box<dyn std::error::Error>> {
    if call.caller().number.as_deref() != Some("01701234567") {
        return Ok(call.ring().await?);
    }
    call.answer_with(Some(prompt)).await?; // 200 OK with audio, then the prompt
    match call.read_digits(Duration::from_secs(10)).await {
        Ok(Keys::Entered(k)) if k == "1" => println!("{}: 1, switching the relay", call.caller()),
        Ok(keys) => println!("{}: {keys:?}, nothing to do", call.caller()),
        Err(CallError::Ended(how)) => println!("{}: {how}", call.caller()), // hung up first
        Err(e) => return Err(e.into()),
    }
    call.hang_up().await?; // a call already over stays so
    Ok(())
}
