#!/usr/bin/env bash
# The demo of the main job: several processes share one cache file under the
# cross-process lock, then the file is checked for lost updates.
#   bash scripts/demo.sh [msal-cache demo options, e.g. --processes 32]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-toolchain.sh
ensure_cargo
cargo build --release --locked -q -p msal-cache
exec ./target/release/msal-cache demo "$@"
