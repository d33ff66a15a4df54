#!/usr/bin/env bash
# Interop against sipp (Debian package sip-tester), a real, independent SIP
# implementation, over loopback only. sipp plays the FRITZ!Box: a registrar
# with a digest challenge and short expiry, and a caller. The phone is the
# release binary, run exactly as a user runs it.
#
# Usage: tests/interop/run.sh   (builds the release binary if needed)
# Prints the measured INVITE->200 and INVITE->BYE times of the blocked call.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${MINISIP4FB_BIN:-$("$root/scripts/target-dir")/release/minisip4fb}
command -v sipp >/dev/null || { echo "sipp is missing: apt-get install -y sip-tester" >&2; exit 2; }
[ -x "$bin" ] || (cd "$root" && cargo build --release --quiet)

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

box=127.0.0.1:15060 phone=127.0.0.1:15070
fail() {
    echo "FAIL: $*" >&2
    for f in "$work"/*.log; do echo "--- $(basename "$f")" >&2; tail -n 40 "$f" >&2; done
    exit 1
}
cd "$work"

# 1. Registrar (runs the whole time; ends after the unregistration).
sipp -sf "$here/registrar.xml" -i 127.0.0.1 -p 15060 -m 1 -timeout 60 -timeout_error \
    -nostdin -trace_err -error_file registrar_err.log >registrar.log 2>&1 &
reg_pid=$!; pids+=("$reg_pid")

# 2. The phone, as a user runs it.
MINISIP4FB_PASSWORD=geheim123 "$bin" run --fritzbox "$box" --user 620 --bind "$phone" \
    --block '0900*' --block anonymous >phone.log 2>&1 &
phone_pid=$!; pids+=("$phone_pid")
for _ in $(seq 50); do grep -q "registered at the FRITZ!Box" phone.log && break; sleep 0.1; done
grep -q "registered at the FRITZ!Box" phone.log || fail "the phone did not register"
echo "ok: registered through the 401 challenge"

# 3. A blocked caller: answered and hung up at once.
sipp -sf "$here/blocked_call.xml" -key caller 09005551234 -i 127.0.0.1 -p 15080 -m 1 -timeout 20 -timeout_error -nostdin \
    -trace_rtt -rtt_freq 1 -trace_err -error_file blocked_err.log "$phone" >blocked.log 2>&1 \
    || fail "blocked call scenario"
echo "ok: blocked call answered (PCMA) and hung up with BYE"

# 4. An allowed caller: rings until the caller cancels.
sipp -sf "$here/allowed_call.xml" -i 127.0.0.1 -p 15081 -m 1 -timeout 20 -timeout_error -nostdin \
    -trace_err -error_file allowed_err.log "$phone" >allowed.log 2>&1 \
    || fail "allowed call scenario"
echo "ok: allowed call rang, CANCEL answered 200 + 487"

# 5. SIGTERM: the phone unregisters (Expires: 0, challenged) and exits 0;
#    the registrar scenario, which also checked the challenged refresh after
#    the 2 s grant, completes.
sleep 1.5
kill -TERM "$phone_pid"
wait "$phone_pid" || fail "the phone exited non-zero on SIGTERM"
wait "$reg_pid" || fail "registrar scenario (refresh or unregister missing)"
echo "ok: refreshed after the 2 s grant, unregistered on SIGTERM, exit 0"
grep -q "rule 1 \"--block\": +499005551234 matches +49900\*" phone.log || fail "no log line for the blocked call"

# 6. Wrong password on the first registration: one clear line, non-zero exit.
sipp -sf "$here/registrar.xml" -i 127.0.0.1 -p 15061 -m 1 -timeout 15 -nostdin >badauth_registrar.log 2>&1 &
pids+=("$!")
set +e
MINISIP4FB_PASSWORD=wrong timeout 15 "$bin" run --fritzbox 127.0.0.1:15061 --user 620 --bind 127.0.0.1:15071 \
    >badauth.log 2>&1
code=$?
set -e
[ "$code" -ne 0 ] && [ "$code" -ne 124 ] || fail "wrong password: exit code $code"
grep -q "wrong user name or password" badauth.log || fail "wrong password: no clear error"
echo "ok: wrong password -> $(grep -m1 'wrong user' badauth.log | sed 's/.*minisip4fb: //') (exit $code)"

# 7. The emulator itself against sipp: sipp registers as an IP phone, then
#    answers the emulated Box's call and hangs up; the emulator must see the
#    call through and report no protocol violation. No 401 to sipp's BYE:
#    its [authentication] puts "sip::5060" as the digest uri of an in-dialog
#    request, which the emulator rightly refuses (the Rust tests cover it).
"$bin" emulate --bind 127.0.0.1:15062 --call 0301234567@0.5 --ring 5 --challenge-requests 0 --script /dev/stdin >emulator.log 2>&1 <<'SCRIPT' &
4 exit
SCRIPT
emu_pid=$!; pids+=("$emu_pid")
sleep 0.3
sipp -sf "$here/sipp_phone_register.xml" -i 127.0.0.1 -p 15090 -m 1 -timeout 10 -timeout_error -nostdin \
    -trace_err -error_file phone_register_err.log 127.0.0.1:15062 >phone_register.log 2>&1 \
    || fail "sipp could not register at the emulator"
sipp -sf "$here/sipp_phone_answer.xml" -i 127.0.0.1 -p 15090 -m 1 -timeout 10 -timeout_error -nostdin \
    -trace_err -error_file phone_answer_err.log >phone_answer.log 2>&1 \
    || fail "sipp as the phone did not see the emulator's call through"
wait "$emu_pid" || fail "emulator exited non-zero (3: protocol violations, listed in emulator.log)"
grep -q "call 1: answered after" emulator.log || fail "emulator did not report the answered call"
grep -q " 0 protocol violation" emulator.log || fail "emulator saw violations from sipp"
echo "ok: the emulator's registrar and caller interoperate with sipp"

# 8. PhoneBlock: the copy synced from the emulated PhoneBlock (minisip4fb
#    emulate --phoneblock), sipp as the Box calls from a number with 50
#    community votes: terminated from the copy and reported (report-call
#    with the token) in the background.
"$bin" emulate --bind 127.0.0.1:15063 --phoneblock 127.0.0.1:15098 --options 0 >pb_emulator.log 2>&1 &
pb_pid=$!; pids+=("$pb_pid")
for _ in $(seq 50); do grep -q "emulated PhoneBlock at" pb_emulator.log && break; sleep 0.1; done
grep -q "emulated PhoneBlock at" pb_emulator.log || fail "the emulated PhoneBlock did not start"
printf 'emulated-phoneblock-token\n' >pb-token && chmod 600 pb-token
printf 'geheim123\n' >pb-password && chmod 600 pb-password
cat >pb.toml <<CONFIG
[fritzbox]
host = "127.0.0.1:15064"
user = "620"
password_file = "pb-password"
bind = "127.0.0.1:15072"
[numbers]
country = "DE"
area_code = "030"
[phoneblock]
api = "http://127.0.0.1:15098/phoneblock/api"
token_file = "pb-token"
[[rule]]
name = "PhoneBlock"
lists = ["phoneblock:blacklist", "phoneblock:community"]
action = "terminate"
CONFIG
"$bin" phoneblock sync --config pb.toml >pb_sync.log 2>&1 || fail "phoneblock sync"
grep -q "full sync: 3 added" pb_sync.log || fail "phoneblock sync did not download the list"
"$bin" lookup 04055512345 --json --config pb.toml >pb_lookup.log 2>&1 || fail "lookup"
grep -q '"decision":"terminate"' pb_lookup.log && grep -q '"votes":50' pb_lookup.log \
    || fail "lookup of a listed number"
sipp -sf "$here/registrar.xml" -i 127.0.0.1 -p 15064 -m 1 -timeout 60 -timeout_error \
    -nostdin -trace_err -error_file pb_registrar_err.log >pb_registrar.log 2>&1 &
pbreg_pid=$!; pids+=("$pbreg_pid")
"$bin" run --config pb.toml >pb_phone.log 2>&1 &
pbphone_pid=$!; pids+=("$pbphone_pid")
for _ in $(seq 50); do grep -q "registered at the FRITZ!Box" pb_phone.log && grep -q "rule(s)" pb_phone.log && break; sleep 0.1; done
grep -q "registered at the FRITZ!Box" pb_phone.log || fail "the PhoneBlock phone did not register"
sipp -sf "$here/blocked_call.xml" -key caller 04055512345 -i 127.0.0.1 -p 15082 -m 1 -timeout 20 -timeout_error \
    -nostdin -trace_err -error_file pb_call_err.log 127.0.0.1:15072 >pb_call.log 2>&1 \
    || fail "a number with 50 PhoneBlock votes was not terminated"
for _ in $(seq 50); do grep -q "reported +494055512345 to PhoneBlock" pb_phone.log && break; sleep 0.1; done
grep -q "reported +494055512345 to PhoneBlock" pb_phone.log || fail "the blocked number was not reported"
grep -q 'has 50 PhoneBlock votes (E_ADVERTISING)' pb_phone.log || fail "no PhoneBlock reason in the log"
sleep 1.5
kill -TERM "$pbphone_pid"
wait "$pbphone_pid" || fail "the PhoneBlock phone exited non-zero on SIGTERM"
wait "$pbreg_pid" || fail "registrar scenario of the PhoneBlock phone"
kill -INT "$pb_pid"
wait "$pb_pid" || fail "the emulated PhoneBlock saw violations (pb_emulator.log)"
grep -q "PhoneBlock heard of a call from 00494055512345" pb_emulator.log || fail "PhoneBlock did not hear of the call"
echo "ok: PhoneBlock: a number with 50 votes terminated from the local copy and reported"

# 9. Announcements and keys: sipp as the Box offers audio at the port of
#    the test's own RTP end (rtp_peer.py: decodes A-law and sends RFC 4733
#    itself, no minisip4fb code). A blocked number hears a WAV file (16 kHz
#    stereo, made here) and is hung up after it; an allowed one is answered
#    with a prompt, presses 1234# and the daemon says dtmf 1234.
python3 - <<'PY'
import math, struct, wave
w = wave.open("spam.wav", "wb")
w.setnchannels(2); w.setsampwidth(2); w.setframerate(16000)
w.writeframes(b"".join(struct.pack("<hh", s, s) for s in
    (int(9000 * math.sin(2 * math.pi * 440 * i / 16000)) for i in range(16000))))
w.close()
PY
cat >media.toml <<CONFIG
[fritzbox]
host = "127.0.0.1:15065"
user = "620"
password_file = "pb-password"
bind = "127.0.0.1:15073"
[numbers]
country = "DE"
area_code = "030"
[[rule]]
name = "door"
numbers = ["0301234567"]
action = "answer"
announcement = "spam.wav"
max_announcement = "500ms"
dtmf_timeout = "3s"
[[rule]]
name = "spam"
numbers = ["0900*"]
action = "terminate"
announcement = "spam.wav"
CONFIG
sipp -sf "$here/registrar.xml" -i 127.0.0.1 -p 15065 -m 1 -timeout 60 -timeout_error \
    -nostdin -trace_err -error_file media_registrar_err.log >media_registrar.log 2>&1 &
mreg_pid=$!; pids+=("$mreg_pid")
"$bin" run --config media.toml --events json >media_events.log 2>media_phone.log &
mphone_pid=$!; pids+=("$mphone_pid")
for _ in $(seq 50); do grep -q "registered at the FRITZ!Box" media_phone.log && grep -q "rule(s)" media_phone.log && break; sleep 0.1; done
grep -q "rule(s)" media_phone.log || fail "the announcing phone did not start"
# audio_call NAME CALLER RTP_PORT SIPP_PORT SECONDS [KEYS]: the RTP end on
# RTP_PORT (ready before sipp calls), sipp's announced call from CALLER.
audio_call() {
    python3 "$here/rtp_peer.py" "$3" "$5" "${6:-}" >"peer_$1.json" 2>"peer_$1.err" &
    local peer=$!; pids+=("$peer")
    for _ in $(seq 50); do grep -q listening "peer_$1.err" && break; sleep 0.1; done
    sipp -sf "$here/announced_call.xml" -key caller "$2" -key rtp_port "$3" -i 127.0.0.1 -p "$4" -m 1 \
        -timeout 20 -timeout_error -nostdin -trace_err -error_file "$1_err.log" 127.0.0.1:15073 >"$1.log" 2>&1 \
        || fail "the $1 call (PCMA sendrecv, ptime 20, BYE after it)"
    wait "$peer" || fail "rtp_peer.py for the $1 call"
}
audio_call spam 09005551234 15500 15083 4
python3 - peer_spam.json <<'PY' || fail "the announcement as the RTP end heard it: $(cat peer_spam.json)"
import json, sys
r = json.load(open(sys.argv[1]))
ok = (r["packets"] == 50 and r["payload_types"] == [8] and r["ssrcs"] == 1 and r["sources"] == 1
      and r["marker_first"] and r["seq_steps_ok"] and r["ts_steps_ok"] and r["payload_sizes"] == [160]
      and 19 < r["mean_gap_ms"] < 21.5 and r["jitter_p99_ms"] < 12 and r["rms"] > 3000)
sys.exit(0 if ok else 1)
PY
echo "ok: announcement: $(cat peer_spam.json)"
audio_call door 0301234567 15501 15084 6 '1234#'
grep -q '"packets": 25' peer_door.json || fail "the prompt (500 ms, 25 packets): $(cat peer_door.json)"
for _ in $(seq 30); do grep -q '"event":"dtmf"' media_events.log && break; sleep 0.1; done
grep '"event":"dtmf"' media_events.log | grep -q '"digits":"1234"' || fail "no dtmf event with 1234: $(cat media_events.log)"
echo "ok: answer: prompt heard, RFC 4733 keys 1234# -> $(grep -o '"event":"dtmf".*' media_events.log)"
sleep 1.5
kill -TERM "$mphone_pid"
wait "$mphone_pid" || fail "the announcing phone exited non-zero on SIGTERM"
wait "$mreg_pid" || fail "registrar scenario of the announcing phone"

rtt=$(ls ./*_rtt.csv 2>/dev/null | head -n 1)
if [ -n "$rtt" ]; then
    echo "blocked call timings (sipp; its clock has 1 ms resolution, so 0 means < 1 ms):"
    awk -F';' 'NR > 1 { printf "  %s: %s ms\n", ($3 == "1" ? "INVITE -> 200 OK" : "ACK -> BYE      "), $2 }' "$rtt"
fi
echo "interop: 9 passed, 0 failed"
