#!/usr/bin/env bash
# with-secret-service.sh CMD [ARGS...]
#
# Runs CMD inside a private D-Bus session bus on which gnome-keyring-daemon
# (secrets component only) provides the freedesktop Secret Service, with its
# default collection created and UNLOCKED, so the Secret Service tests and
# benchmarks run against a real daemon: headless, no TTY, no stdin, as root or
# a user, locally or in CI. Nothing outside the private bus is touched: the
# keyring lives in a fresh temporary folder removed on exit.
#
# First use installs the Debian packages it needs (dbus, dbus-bin,
# gnome-keyring, libsecret-tools) with apt, as root (or through sudo), under
# `flock /tmp/apt-install.lock` so parallel installers on one machine wait for
# each other.
#
# CMD sees: DBUS_SESSION_BUS_ADDRESS (the private bus), WITH_SECRET_SERVICE=1.
# Exit status: CMD's; 2 = usage error; 3 = the Secret Service could not be set up
# (so CI fails loudly instead of skipping the tests).
# Env: MSALX_KEYRING_PASSWORD (default: a fixed test password),
#      MSALX_WSS_QUIET=1 to silence progress lines.
set -euo pipefail

say() { [ "${MSALX_WSS_QUIET:-0}" = 1 ] || echo "with-secret-service: $*" >&2; }
die() { echo "with-secret-service: $*" >&2; exit 3; }

[ "$#" -gt 0 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }

install_missing() {
    . "$(dirname "$(readlink -f "$0")")/apt.sh"
    apt_install dbus dbus-daemon dbus-bin gnome-keyring libsecret-tools || die "could not install the D-Bus / gnome-keyring packages"
}

# Step 1 (outside the bus): install, then re-run this script under
# dbus-run-session, which owns the bus and tears it down when we return.
if [ "${MSALX_WSS_STAGE:-}" != inside ]; then
    install_missing
    export MSALX_WSS_STAGE=inside
    exec dbus-run-session -- bash "$(readlink -f "$0")" "$@" </dev/null
fi
unset MSALX_WSS_STAGE

# Step 2 (inside the private bus).
[ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ] || die "dbus-run-session did not provide a bus"
work=$(mktemp -d /tmp/msalx-keyring.XXXXXX)
chmod 700 "$work"
mkdir -m 700 -p "$work/data/keyrings" "$work/run"
daemon=""
stop() {
    if [ -n "$daemon" ]; then
        kill "$daemon" 2>/dev/null || true
        wait "$daemon" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap stop EXIT

# The daemon keeps keyrings under $XDG_DATA_HOME and its control socket under
# $XDG_RUNTIME_DIR: both point into our temp folder, for the daemon only.
# --unlock reads the password on stdin and creates (then unlocks) the "login"
# keyring, which the daemon makes the "default" alias. --foreground keeps it
# our child so we stop it by pid.
printf '%s' "${MSALX_KEYRING_PASSWORD:-msalx-test-keyring}" |
    XDG_DATA_HOME="$work/data" XDG_RUNTIME_DIR="$work/run" \
        gnome-keyring-daemon --foreground --unlock --components=secrets >"$work/daemon.log" 2>&1 &
daemon=$!

bus_has_owner() {
    dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'
}
default_unlocked() {
    dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets/aliases/default \
        org.freedesktop.DBus.Properties.Get string:org.freedesktop.Secret.Collection string:Locked \
        2>/dev/null | grep -q 'boolean false'
}

# Ask the BUS whether the name is owned: a call addressed to
# org.freedesktop.secrets before our daemon owns it would make the bus
# auto-activate a second gnome-keyring-daemon with the user's real keyrings.
for _ in $(seq 200); do
    bus_has_owner && break
    kill -0 "$daemon" 2>/dev/null || break
    sleep 0.05
done
bus_has_owner || { cat "$work/daemon.log" >&2; die "gnome-keyring-daemon never took org.freedesktop.secrets"; }

for _ in $(seq 100); do
    default_unlocked && break
    sleep 0.1
done
default_unlocked || { cat "$work/daemon.log" >&2; die "the default collection is missing or locked"; }

# Self-check through libsecret (the same library the Python reference uses).
probe="msalx-wss-$$"
printf 'ok' | secret-tool store --label='with-secret-service probe' msalx-wss-probe "$probe" \
    || die "secret-tool store failed"
[ "$(secret-tool lookup msalx-wss-probe "$probe" </dev/null)" = ok ] || die "secret-tool lookup failed"
secret-tool clear msalx-wss-probe "$probe" </dev/null
say "Secret Service ready on $DBUS_SESSION_BUS_ADDRESS (default collection unlocked)"

# Not exec: the EXIT trap must still stop the daemon and remove the keyring.
set +e
WITH_SECRET_SERVICE=1 "$@"
status=$?
exit "$status"
