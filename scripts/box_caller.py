"""The Box's caller for the scripts that look at one turn at a time
(turn-footprint, turn-pages): blocked calls to a phone on loopback, one
step at a time (INVITE, ACK once the 200 came, the 200 to the BYE), each
datagram after a pause, so that the turns do not mix."""

import re
import socket
import time

SDP = ("v=0\r\no=user 1 1 IN IP4 127.0.0.1\r\ns=call\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 9 8 0 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:8 PCMA/8000\r\n"
       "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")


def header(msg, name):
    return re.search(rb"\r\n" + name.encode() + rb":\s*([^\r\n]*)", msg, re.I).group(1).decode()


def calls(phone_port, own_port, count, turn=None, pause=0.2, rest=0.5):
    """Makes `count` blocked calls. `turn(step, send)` runs each of the
    phone's turns ("INVITE", "ACK"): `send()` sends the datagram and
    returns the phone's answer; by default it is just sent. `pause` after
    each answer, `rest` after each call."""
    turn = turn or (lambda step, send: send())
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", own_port))
    s.settimeout(20)
    phone = ("127.0.0.1", phone_port)

    def exchange(data, answer):
        def send():
            s.sendto(data, phone)
            while True:
                m, _ = s.recvfrom(65535)
                if m.startswith(answer):
                    return m
        return send

    run = time.time_ns()  # each run's calls their own, even against the same phone
    for i in range(count):
        cid = f"turn-{run}-{i}@127.0.0.1"
        via = f"Via: SIP/2.0/UDP 127.0.0.1:{own_port};branch=z9hG4bK-turn-{run}-{i}"
        frm = f"From: <sip:09005551234@fritz.box>;tag=turn{run}{i}"
        invite = (f"INVITE sip:620@127.0.0.1:{phone_port} SIP/2.0\r\n{via}\r\n{frm}\r\n"
                  f"To: <sip:620@127.0.0.1:{phone_port}>\r\nCall-ID: {cid}\r\nCSeq: 1 INVITE\r\n"
                  f"Contact: <sip:box@127.0.0.1:{own_port}>\r\nMax-Forwards: 70\r\n"
                  "P-Called-Party-ID: <sip:0301111111@fritz.box>\r\nAllow: INVITE, ACK, CANCEL, BYE\r\n"
                  "User-Agent: AVM FRITZ!Box 7590 154.07.57\r\nContent-Type: application/sdp\r\n"
                  f"Content-Length: {len(SDP)}\r\n\r\n{SDP}").encode()
        ok = turn("INVITE", exchange(invite, b"SIP/2.0 200"))
        time.sleep(pause)
        ack = (f"ACK sip:620@127.0.0.1:{phone_port} SIP/2.0\r\n{via}-ack\r\n{frm}\r\n"
               f"To: {header(ok, 'To')}\r\nCall-ID: {cid}\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\n"
               "Content-Length: 0\r\n\r\n").encode()
        bye = turn("ACK", exchange(ack, b"BYE "))
        time.sleep(pause)
        s.sendto(("SIP/2.0 200 OK\r\n"
                  + "".join(f"{h}: {header(bye, h)}\r\n" for h in ("Via", "From", "To", "Call-ID", "CSeq"))
                  + "Content-Length: 0\r\n\r\n").encode(), phone)
        time.sleep(rest)
