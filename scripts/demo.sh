#!/usr/bin/env bash
# The demo of the main job: several processes add tokens to one shared token
# cache, encrypted in the Secret Service, then every token is listed
# (fingerprints, never secrets) and checked: none may be lost.
#
# On a desktop the session's own Secret Service is used. On a headless
# machine (no session bus) the demo runs inside a private, throw-away
# gnome-keyring session (scripts/with-secret-service.sh, which installs it
# when missing), so what it shows is the encrypted path; pass --plaintext to
# use a 0600 file instead.
#   bash scripts/demo.sh [msal-cache demo options, e.g. --processes 32]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-toolchain.sh
ensure_cargo
cargo build --release --locked -q -p msal-cache
bus="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/bus"
if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ] && [ ! -S "$bus" ] && [[ " $* " != *" --plaintext "* ]]; then
    echo "demo: no session bus here; running inside a private gnome-keyring Secret Service" >&2
    exec bash scripts/with-secret-service.sh ./target/release/msal-cache demo "$@"
fi
exec ./target/release/msal-cache demo "$@"
