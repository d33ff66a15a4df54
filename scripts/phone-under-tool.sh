# Sourced by the scripts that profile the phone against the emulator
# (sip-thread-instructions, code-order, turn-footprint, turn-pages): a
# work directory, the processes they start (stopped by PID on exit), the
# emulated Box.
# Needs $bin (the minisip4fb binary).
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
export MINISIP4FB_PASSWORD=geheim123

# start_emulator ADDR: the emulated Box there; it ends by itself after 10 minutes.
start_emulator() {
    "$bin" emulate --bind "$1" --script /dev/stdin >emulator.log 2>&1 <<'SCRIPT' &
600 exit
SCRIPT
    pids+=("$!")
}

# wait_registered LOG: until the phone logging to LOG is registered (60 s at most).
wait_registered() {
    for _ in $(seq 300); do grep -q "registered at the FRITZ!Box" "$1" && return 0; sleep 0.2; done
    cat "$1" >&2
    exit 1
}
