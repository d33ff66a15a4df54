#!/usr/bin/env python3
"""The interop test's RTP end (the FRITZ!Box's side of the audio), written
apart from minisip4fb's code: receives the phone's RTP on PORT for at most
SECONDS, decodes A-law itself, and, with KEYS, presses them as RFC 4733
events (payload type 101) to the port the phone sends from, half a second
after its first packet. Says "listening" on stderr once bound; prints one JSON line with
what it heard.

Usage: rtp_peer.py PORT SECONDS [KEYS]   (loopback only)"""
import json
import math
import socket
import struct
import sys
import time


def alaw(a):
    a ^= 0x55
    seg = (a & 0x70) >> 4
    t = ((a & 0x0F) << 4) + (8 if seg == 0 else 0x108)
    if seg > 1:
        t <<= seg - 1
    return t if a & 0x80 else -t


def press(sock, to, keys):
    codes = {str(d): d for d in range(10)}
    codes.update({"*": 10, "#": 11})
    seq, ts = 4000, 160000
    for k in keys:
        for step in range(6):
            end = step >= 3
            head = struct.pack("!BBHII", 0x80, (0x80 if step == 0 else 0) | 101, seq, ts, 0x7E57)
            sock.sendto(head + struct.pack("!BBH", codes[k], (0x80 if end else 0) | 10, 400 * min(step + 1, 4)), to)
            seq += 1
            time.sleep(0.005 if end else 0.05)
        ts += 2400
        time.sleep(0.1)


def main():
    port, seconds = int(sys.argv[1]), float(sys.argv[2])
    keys = sys.argv[3] if len(sys.argv) > 3 else ""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    sock.settimeout(0.02)
    print("listening", file=sys.stderr, flush=True)
    packets, samples, keys_at, src = [], [], None, None
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data, addr = sock.recvfrom(2048)
        except socket.timeout:
            data = None
        now = time.monotonic()
        if data and len(data) >= 12 and data[0] >> 6 == 2:
            seq, ts, ssrc = struct.unpack("!HII", data[2:12])
            packets.append((now, data[1] & 0x7F, data[1] >> 7, seq, ts, ssrc, len(data) - 12, addr))
            if data[1] & 0x7F == 8:
                samples.extend(alaw(b) for b in data[12:])
            src = src or addr
            if keys and keys_at is None:
                keys_at = now + 0.5
        if keys_at is not None and now >= keys_at:
            press(sock, src, keys)
            keys_at, keys = None, ""
    gaps = [(b[0] - a[0]) * 1000 for a, b in zip(packets, packets[1:])]
    jitter = sorted(abs(g - 20) for g in gaps)
    print(json.dumps({
        "packets": len(packets),
        "payload_types": sorted({p[1] for p in packets}),
        "ssrcs": len({p[5] for p in packets}),
        "sources": len({p[7] for p in packets}),
        "marker_first": bool(packets) and packets[0][2] == 1 and all(p[2] == 0 for p in packets[1:]),
        "seq_steps_ok": all(b[3] == (a[3] + 1) % 65536 for a, b in zip(packets, packets[1:])),
        "ts_steps_ok": all(b[4] == (a[4] + 160) % 2**32 for a, b in zip(packets, packets[1:])),
        "payload_sizes": sorted({p[6] for p in packets}),
        "mean_gap_ms": round(sum(gaps) / len(gaps), 3) if gaps else None,
        "jitter_p99_ms": round(jitter[int(len(jitter) * 0.99)], 3) if jitter else None,
        "rms": round(math.sqrt(sum(s * s for s in samples) / len(samples)), 1) if samples else 0,
    }))


main()
