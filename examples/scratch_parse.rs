use std::hint::black_box;
const INVITE: &[u8] = b"INVITE sip:620@192.168.178.20:5062 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.178.1:5060;branch=z9hG4bK1D2F3A4B5C6D7E8F\r\n\
From: <sip:040855992611@fritz.box>;tag=3E2B0C1D9A8F7E6D\r\n\
To: <sip:620@192.168.178.20:5062>\r\n\
Call-ID: 8A7B6C5D4E3F2A1B@192.168.178.1\r\n\
CSeq: 42 INVITE\r\n\
Contact: <sip:0123456789abcdef0123456789abcdef@192.168.178.1>\r\n\
Max-Forwards: 70\r\n\
P-Called-Party-ID: <sip:0301111111@fritz.box>\r\n\
Supported: 100rel,replaces,timer\r\n\
Session-Expires: 600;refresher=uac\r\n\
Min-SE: 90\r\n\
Expires: 120\r\n\
Allow-Events: telephone-event,refer\r\n\
Allow: INVITE, ACK, OPTIONS, CANCEL, BYE, UPDATE, PRACK, INFO, SUBSCRIBE, NOTIFY, REFER, MESSAGE, PUBLISH\r\n\
User-Agent: AVM FRITZ!Box 7590 154.07.57 (Jun 19 2024)\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 246\r\n\r\n\
v=0\r\no=user 3525 3525 IN IP4 192.168.178.1\r\ns=call\r\nc=IN IP4 192.168.178.1\r\nt=0 0\r\n\
m=audio 7078 RTP/AVP 9 8 0 120 121 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\na=rtpmap:120 PCMA/16000\r\na=rtpmap:121 PCMU/16000\r\na=rtpmap:101 telephone-event/8000\r\n";

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(10000, |a| a.parse().unwrap());
    for _ in 0..n {
        black_box(minisip4fb::sip::parse(black_box(INVITE)).unwrap());
    }
}
