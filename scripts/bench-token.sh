#!/usr/bin/env bash
# A fresh process printing Azure CLI's cached token, side by side in one run:
# `msal-cache token --preset azure-cli` vs MSAL Python 1.39 + msal-extensions
# 1.3.1 doing the same silent acquisition vs `az account get-access-token`
# (azure-cli 2.91.0 from PyPI, in a benchmark-only venv under target/).
# Everything runs offline: the Azure CLI folder is made by the real `az`
# against the local identity provider (crates/msal-client/benches/token_process.rs).
#
#   bash scripts/bench-token.sh [RUNS]      (default 300; Python RUNS/10, az RUNS/30)
# Output: stdout and target/bench-report/token-<stamp>.txt
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-300}
. scripts/ensure-toolchain.sh
ensure_cargo
. scripts/apt.sh
apt_install python3 python3-venv python3-pip
VENV=target/py-az-bench
PIN=azure-cli==2.91.0
if [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$PIN" ]; then
    echo "bench-token: installing $PIN into $VENV (about 90 s, 730 MB)" >&2
    rm -rf "$VENV"
    /usr/bin/python3 -m venv "$VENV"
    timeout 900 "$VENV/bin/pip" install -q --disable-pip-version-check "$PIN" >&2
    echo "$PIN" > "$VENV/.stamp"
fi
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release --locked -q -p msal-cache
cargo bench --locked -q -p msal-client --bench token_process --no-run  # build errors show here
mkdir -p target/bench-report
REPORT="target/bench-report/token-$(date +%Y%m%d-%H%M%S).txt"
export MSAL_CACHE_BIN="$TARGET/release/msal-cache" MSALX_AZ_PYTHON="$PWD/$VENV/bin/python"
cargo bench --locked -q -p msal-client --bench token_process -- --runs "$RUNS" 2>&1 |
    grep -v '^\s*\(Compiling\|Finished\|Running\)' | tee "$REPORT"
echo "report: $REPORT"
