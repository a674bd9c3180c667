#!/usr/bin/env bash
# The demo of the main job: several processes add tokens to one shared token
# cache (encrypted in the Secret Service when one runs, else a plaintext file
# with a warning), then every token is listed (fingerprints, never secrets)
# and checked: none may be lost.
#   bash scripts/demo.sh [msal-cache demo options, e.g. --processes 32]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-toolchain.sh
ensure_cargo
cargo build --release --locked -q -p msal-cache
exec ./target/release/msal-cache demo "$@"
