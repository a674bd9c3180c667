#!/usr/bin/env bash
# Start-up cost of the msal-cache CLI: `msal-cache accounts` (and `tokens
# --json`) on a 1,000-token cache written by the real MSAL Python, against
# `python -c 'import msal_extensions'` (the cost a Python tool pays before
# doing anything), measured the same way in the same run.
#
#   bash scripts/bench-cli.sh [RUNS]      (default 200 runs per command)
#
# Each command is spawned RUNS times (Python: RUNS/10, at least 10) from one
# Python harness: wall time of fork+exec+exit (perf_counter; min/median/p90)
# and the child's CPU time (user+sys from wait4), which a loaded machine
# disturbs far less than wall time.
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
"$MSALX_PYTHON" crates/msal-cache/tests/py/write_cache.py users "$WORK/users500.json" 500
"$MSALX_PYTHON" crates/msal-cache/tests/py/write_cache.py users "$WORK/users.json" 1000
BIN=./target/release/msal-cache
echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# app cache: $(stat -c %s "$WORK/cache.json") bytes, 1000 app access tokens"
echo "# users cache, 1,000 tokens: $(stat -c %s "$WORK/users500.json") bytes, 500 access + 500 refresh tokens of 10 accounts (MSAL Python keys refresh tokens by scope) + 10 id tokens"
echo "# users cache, 2,000 tokens: $(stat -c %s "$WORK/users.json") bytes, 1000 access + 1000 refresh tokens of 10 accounts + 10 id tokens"
echo "# command: bash scripts/bench-cli.sh $RUNS"
"$MSALX_PYTHON" - "$RUNS" "$BIN" "$WORK/cache.json" "$MSALX_PYTHON" "$WORK/users.json" "$WORK/users500.json" <<'PY'
import os, statistics, subprocess, sys, time
runs, bin_, cache, py, users, users500 = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
def bench(name, argv, n):
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    wall, cpu = [], []
    for _ in range(n):
        s = time.perf_counter()
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        _, status, ru = os.wait4(p.pid, 0)
        wall.append((time.perf_counter() - s) * 1000)
        cpu.append((ru.ru_utime + ru.ru_stime) * 1000)
        assert status == 0, argv
    wall.sort(); cpu.sort()
    print("%-40s n=%-4d wall min %7.2f  median %7.2f  p90 %7.2f ms | cpu median %7.2f ms"
          % (name, n, wall[0], statistics.median(wall), wall[int(len(wall) * 0.9) - 1], statistics.median(cpu)))
bench("/bin/true (spawn floor)", ["/bin/true"], runs)
bench("msal-cache --version", [bin_, "--version"], runs)
bench("msal-cache accounts, app cache", [bin_, "accounts", "--cache", cache], runs)
bench("msal-cache accounts, users 1,000", [bin_, "accounts", "--cache", users500], runs)
bench("msal-cache accounts, users 2,000", [bin_, "accounts", "--cache", users], runs)
bench("msal-cache tokens --json, app cache", [bin_, "tokens", "--json", "--cache", cache], runs)
bench("msal-cache tokens, users 2,000", [bin_, "tokens", "--cache", users], runs)
bench("python -c 'import msal_extensions'", [py, "-c", "import msal_extensions"], max(10, runs // 10))
PY
