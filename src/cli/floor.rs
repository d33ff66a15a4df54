//! `minisip4fb bench-floor` (hidden): the floor the call-cycle benchmark
//! measures the phone against. A minimal responder in its own process:
//! it registers once, then answers every INVITE with a 200 built by
//! copying header lines, and answers the ACK with a BYE. No SIP parser,
//! no rules, no log, no timers: what it costs is the network and the
//! kernel, which no phone can beat.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct FloorArgs {
    /// The registrar (the emulated Box).
    #[arg(long)]
    pub registrar: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:0")]
    pub bind: SocketAddr,
    #[arg(long)]
    pub user: String,
    /// Ends by itself after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub lifetime: u64,
}

/// The value of the first header line named `name` (long form only:
/// the emulated Box sends long names).
fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n").skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn register(sock: &UdpSocket, args: &FloorArgs, password: &str) -> Result<(), String> {
    let local = sock.local_addr().map_err(|e| e.to_string())?;
    let domain = args.registrar;
    let request = |cseq: u32, auth: Option<String>| {
        let mut m = format!(
            "REGISTER sip:{domain} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKfloor{cseq}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:{u}@{domain}>;tag=floor\r\nTo: <sip:{u}@{domain}>\r\n\
             Call-ID: floor@{local}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{u}@{local}>\r\nExpires: 300\r\n",
            u = args.user
        );
        if let Some(a) = auth {
            m.push_str(&format!("Authorization: {a}\r\n"));
        }
        m.push_str("Content-Length: 0\r\n\r\n");
        m
    };
    let mut buf = vec![0u8; 65_535];
    let mut auth = None;
    for cseq in 1..=2 {
        sock.send_to(request(cseq, auth.take()).as_bytes(), args.registrar)
            .map_err(|e| e.to_string())?;
        let (n, _) = sock.recv_from(&mut buf).map_err(|e| e.to_string())?;
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if msg.starts_with("SIP/2.0 200") {
            return Ok(());
        }
        let ch = header(&msg, "WWW-Authenticate")
            .ok_or_else(|| format!("registrar answered: {}", msg.lines().next().unwrap_or("")))?;
        let ch = minisip4fb_proto::sip::digest::Challenge::parse(ch).map_err(|e| e.to_string())?;
        auth = Some(minisip4fb_proto::sip::digest::authorization(
            &ch,
            &args.user,
            password,
            "REGISTER",
            &format!("sip:{domain}"),
            1,
            "f100f",
        ));
    }
    Err("not registered after the challenge".into())
}

pub fn floor(args: FloorArgs) -> i32 {
    let password = std::env::var("MINISIP4FB_PASSWORD").unwrap_or_default();
    let sock = match UdpSocket::bind(args.bind) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bench-floor: {e}");
            return 1;
        }
    };
    let _ = sock.set_read_timeout(Some(Duration::from_secs(2)));
    if let Err(e) = register(&sock, &args, &password) {
        eprintln!("bench-floor: {e}");
        return 1;
    }
    let local = sock.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let until = Instant::now() + Duration::from_secs(args.lifetime);
    // Call-ID → (our From, our To, the remote target) for the BYE.
    let mut dialogs: HashMap<String, (String, String, String)> = HashMap::new();
    let mut buf = vec![0u8; 65_535];
    let mut seq = 0u64;
    while Instant::now() < until {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let Ok(msg) = std::str::from_utf8(&buf[..n]) else {
            continue;
        };
        let call_id = header(msg, "Call-ID").unwrap_or("").to_owned();
        if msg.starts_with("INVITE ") {
            let to = format!("{};tag=floor", header(msg, "To").unwrap_or(""));
            let mut r = String::from("SIP/2.0 200 OK\r\n");
            for name in ["Via", "From"] {
                r.push_str(&format!("{name}: {}\r\n", header(msg, name).unwrap_or("")));
            }
            // A fixed PCMA answer, as big as a phone's, so the bytes match.
            let ip = local.rsplit_once(':').map_or("127.0.0.1", |(ip, _)| ip);
            let sdp = format!(
                "v=0\r\no=floor 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
                 m=audio 40000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
                 a=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na=sendrecv\r\n"
            );
            r.push_str(&format!(
                "To: {to}\r\nCall-ID: {call_id}\r\nCSeq: {}\r\nContact: <sip:floor@{local}>\r\n\
                 Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                header(msg, "CSeq").unwrap_or(""),
                sdp.len()
            ));
            let _ = sock.send_to(r.as_bytes(), from);
            let target = header(msg, "Contact")
                .map(|c| c.trim_start_matches('<').split('>').next().unwrap_or(c))
                .unwrap_or("")
                .to_owned();
            let remote = header(msg, "From").unwrap_or("").to_owned();
            dialogs.insert(call_id, (to, remote, target));
        } else if msg.starts_with("ACK ") {
            if let Some((ours, theirs, target)) = dialogs.remove(&call_id) {
                seq += 1;
                let bye = format!(
                    "BYE {target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKfloorbye{seq}\r\n\
                     Max-Forwards: 70\r\nFrom: {ours}\r\nTo: {theirs}\r\nCall-ID: {call_id}\r\n\
                     CSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n"
                );
                let _ = sock.send_to(bye.as_bytes(), from);
            }
        } else if !msg.starts_with("SIP/2.0") {
            // OPTIONS and anything else: a bare 200 keeps the Box content.
            let mut r = String::from("SIP/2.0 200 OK\r\n");
            for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
                r.push_str(&format!("{name}: {}\r\n", header(msg, name).unwrap_or("")));
            }
            r.push_str("Content-Length: 0\r\n\r\n");
            let _ = sock.send_to(r.as_bytes(), from);
        }
    }
    0
}
