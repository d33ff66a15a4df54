#!/usr/bin/env bash
# The Debian package on this machine: built by scripts/package, installed
# with dpkg -i, checked (binary, man page, completions, the unit, the user,
# ownership, conffiles, not started), `check` run as the minisip4fb user
# against the emulated Box on loopback, then purged: nothing may be left.
# Needs root; CI runs it (it changes the machine: only for throwaway ones).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "tests/package.sh: needs root (it installs and purges the package)" >&2; exit 2; }
if dpkg -s minisip4fb >/dev/null 2>&1; then
    echo "tests/package.sh: minisip4fb is installed already; not touching it" >&2
    exit 2
fi

work=$(mktemp -d)
emu_pid=
made_run_systemd=
cleanup() {
    [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null || true
    [ -n "$made_run_systemd" ] && rmdir /run/systemd/system 2>/dev/null || true
    dpkg --purge minisip4fb >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

deb=$(scripts/package | tail -n 1)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
echo "built $deb"
dpkg-deb --field "$deb" Package Version Architecture Depends
# The binary's packed relocations need glibc 2.36: the package says so.
dpkg-deb --field "$deb" Depends | grep -q 'libc6 (>= 2.36)' || fail "Depends names glibc 2.36 (DT_RELR)"
dpkg-deb --contents "$deb" | awk '{print $1, $2, $6}'

dpkg -i "$deb" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "dpkg -i"; }
grep -q "sudo minisip4fb setup" "$work/install.log" || fail "postinst did not say the next step"
echo "ok: installed; postinst says: $(grep -m1 'minisip4fb setup' "$work/install.log" | sed 's/^ *//')"

[ "$(minisip4fb --version)" = "minisip4fb $version" ] || fail "minisip4fb --version: $(minisip4fb --version)"
man -w minisip4fb >/dev/null || fail "man -w minisip4fb"
man -w minisip4fb-run >/dev/null || fail "man -w minisip4fb-run"
for f in /usr/share/bash-completion/completions/minisip4fb \
         /usr/share/zsh/vendor-completions/_minisip4fb \
         /usr/share/fish/vendor_completions.d/minisip4fb.fish; do
    [ -s "$f" ] || fail "completion $f"
done
grep -q 'complete -F _minisip4fb' /usr/share/bash-completion/completions/minisip4fb || fail "bash completion"
echo "ok: $(minisip4fb --version), man $(man -w minisip4fb), completions for bash, zsh, fish"

unit=/lib/systemd/system/minisip4fb.service
systemd-analyze verify "$unit" || fail "systemd-analyze verify $unit"
exposure=$(systemd-analyze security --offline=yes "$unit" 2>/dev/null | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p')
case "$exposure" in
    *" OK" | *" SAFE") ;;
    *) fail "systemd-analyze security: exposure $exposure (want OK or better)" ;;
esac
[ ! -e /etc/systemd/system/multi-user.target.wants/minisip4fb.service ] || fail "the unit was enabled on install"
echo "ok: unit verified, exposure $exposure, not enabled"

getent passwd minisip4fb >/dev/null || fail "no user minisip4fb"
[ "$(stat -c '%U:%G %a' /var/lib/minisip4fb)" = "minisip4fb:minisip4fb 750" ] || fail "/var/lib/minisip4fb: $(stat -c '%U:%G %a' /var/lib/minisip4fb)"
for f in /etc/minisip4fb/config.toml /etc/minisip4fb/allow.txt /etc/minisip4fb/block.txt; do
    [ "$(stat -c '%U:%G %a' "$f")" = "root:minisip4fb 640" ] || fail "$f: $(stat -c '%U:%G %a' "$f")"
done
[ "$(stat -c '%U:%G %a' /etc/minisip4fb)" = "root:minisip4fb 750" ] || fail "/etc/minisip4fb: $(stat -c '%U:%G %a' /etc/minisip4fb)"
dpkg-query -W -f='${Conffiles}\n' minisip4fb | grep -q '/etc/minisip4fb/config.toml' || fail "config.toml is not a conffile"
echo "ok: user minisip4fb, /var/lib/minisip4fb minisip4fb:minisip4fb 750, /etc/minisip4fb root:minisip4fb 640, conffiles"

# `check` with the installed config, as the daemon's user, against the
# emulated Box (the example's account 620; the password where setup puts it).
minisip4fb emulate --bind 127.0.0.1:15067 --options 0 >"$work/emulator.log" 2>&1 &
emu_pid=$!
for _ in $(seq 50); do grep -q "listening on" "$work/emulator.log" && break; sleep 0.1; done
printf 'geheim123\n' >/etc/minisip4fb/password
chown root:minisip4fb /etc/minisip4fb/password && chmod 640 /etc/minisip4fb/password
runuser -u minisip4fb -- minisip4fb check --config /etc/minisip4fb/config.toml \
    --fritzbox 127.0.0.1:15067 --bind 127.0.0.1:0 >"$work/check.log" 2>&1 \
    || { cat "$work/check.log" "$work/emulator.log"; fail "check as minisip4fb"; }
grep -q "^registered: " "$work/check.log" || { cat "$work/check.log"; fail "check did not register"; }
# Without --config, root's check reads the same file.
minisip4fb check --fritzbox 127.0.0.1:15067 --bind 127.0.0.1:0 >"$work/check-root.log" 2>&1 \
    || { cat "$work/check-root.log"; fail "check without --config"; }
grep -q "rule(s)" "$work/check-root.log" || { cat "$work/check-root.log"; fail "check without --config did not read the system config"; }
kill "$emu_pid"; wait "$emu_pid" 2>/dev/null || true; emu_pid=
echo "ok: check --config /etc/minisip4fb/config.toml as minisip4fb: $(grep -m1 "^registered: " "$work/check.log")"

# An upgrade (the same package again: dpkg calls postinst with the old
# version) restarts a running daemon. This machine may have no systemd:
# stand-ins record what the maintainer script asks of it.
mkdir -p "$work/stub"
for tool in deb-systemd-invoke systemctl; do
    printf '#!/bin/sh\necho "%s $*" >>%s/asked\n' "$tool" "$work" >"$work/stub/$tool"
    chmod +x "$work/stub/$tool"
done
if [ ! -d /run/systemd/system ]; then mkdir -p /run/systemd/system; made_run_systemd=1; fi
PATH="$work/stub:$PATH" dpkg -i "$deb" >"$work/upgrade.log" 2>&1 || { cat "$work/upgrade.log"; fail "dpkg -i (upgrade)"; }
if [ -n "$made_run_systemd" ]; then rmdir /run/systemd/system; made_run_systemd=; fi
grep -q "try-restart minisip4fb.service" "$work/asked" || { cat "$work/asked"; fail "the upgrade did not restart the daemon"; }
! grep -q "minisip4fb setup" "$work/upgrade.log" || fail "the upgrade printed the first-install steps"
grep -q '^TimeoutStopSec=' "$unit" || fail "the unit has no stop timeout"
echo "ok: an upgrade asks for: $(grep try-restart "$work/asked")"

# Remove keeps what the household made: the config, the user, the call log.
dpkg -r minisip4fb >"$work/remove.log" 2>&1 || { cat "$work/remove.log"; fail "dpkg -r"; }
[ ! -e /usr/bin/minisip4fb ] || fail "dpkg -r left the binary"
[ -f /etc/minisip4fb/config.toml ] && [ -f /etc/minisip4fb/password ] || fail "dpkg -r took the config"
[ -f /var/lib/minisip4fb/calls.db ] || fail "dpkg -r took the call log (or check made none)"
getent passwd minisip4fb >/dev/null || fail "dpkg -r took the user"
echo "ok: removed; the config, the password, the call log and the user are kept"

dpkg --purge minisip4fb >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "dpkg --purge"; }
left=()
for p in /usr/bin/minisip4fb /etc/minisip4fb /var/lib/minisip4fb "$unit" \
         /usr/share/man/man1/minisip4fb.1.gz /usr/share/doc/minisip4fb \
         /usr/share/bash-completion/completions/minisip4fb; do
    [ -e "$p" ] && left+=("$p")
done
getent passwd minisip4fb >/dev/null && left+=("user minisip4fb")
getent group minisip4fb >/dev/null && left+=("group minisip4fb")
dpkg -s minisip4fb >/dev/null 2>&1 && left+=("dpkg still knows minisip4fb")
[ ${#left[@]} -eq 0 ] || fail "after purge: ${left[*]}"
echo "ok: purged, nothing left"
echo "package: 8 passed, 0 failed"
