#!/usr/bin/env bash
# Start-up cost of the msal-cache CLI: `msal-cache accounts` (and `tokens
# --json`) on a 1,000-token cache written by the real MSAL Python, against
# `python -c 'import msal_extensions'` (the cost a Python tool pays before
# doing anything), measured the same way in the same run.
#
#   bash scripts/bench-cli.sh [RUNS]      (default 200 runs per command)
#
# Each command is spawned RUNS times (Python: RUNS/10, at least 10) from one
# Python harness timing fork+exec+exit with perf_counter; min/median/p90 in ms.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-200}
. scripts/ensure-toolchain.sh
ensure_cargo
cargo build --release --locked -q -p msal-cache
eval "$(bash scripts/python-peers.sh)"
WORK=$(mktemp -d /tmp/msal-cache-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
"$MSALX_PYTHON" crates/msal-cache/tests/py/write_cache.py many "$WORK/cache.json" 1000
BIN=./target/release/msal-cache
echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) cpus; cache: $(stat -c %s "$WORK/cache.json") bytes, 1000 access tokens"
echo "# command: bash scripts/bench-cli.sh $RUNS"
"$MSALX_PYTHON" - "$RUNS" "$BIN" "$WORK/cache.json" "$MSALX_PYTHON" <<'PY'
import statistics, subprocess, sys, time
runs, bin_, cache, py = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
def bench(name, argv, n):
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    t = []
    for _ in range(n):
        s = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
        t.append((time.perf_counter() - s) * 1000)
    t.sort()
    print("%-48s n=%-4d min %7.2f ms  median %7.2f ms  p90 %7.2f ms"
          % (name, n, t[0], statistics.median(t), t[int(len(t) * 0.9) - 1]))
bench("/bin/true (spawn floor)", ["/bin/true"], runs)
bench("msal-cache --version", [bin_, "--version"], runs)
bench("msal-cache accounts --cache (1000 tokens)", [bin_, "accounts", "--cache", cache], runs)
bench("msal-cache tokens --json --cache (1000 tokens)", [bin_, "tokens", "--json", "--cache", cache], runs)
bench("python -c 'import msal_extensions'", [py, "-c", "import msal_extensions"], max(10, runs // 10))
PY
