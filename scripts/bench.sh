#!/usr/bin/env bash
# Lock and file benchmarks, side by side with the Python reference in the same
# run (this machine is noisy: compare ratios, not absolute figures).
#
#   bash scripts/bench.sh [--quick]
#
# Rust: `cargo bench --bench lock`. Python: the anchor scripts of
# ../shared/reference/anchor-bench (override with ANCHOR=dir), run with the
# real msal-extensions 1.3.1 + portalocker from scripts/python-peers.sh.
# Output: stdout, and a copy in target/bench-report/lock-<stamp>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ANCHOR=${ANCHOR:-$ROOT/../shared/reference/anchor-bench}
QUICK=${1:-}
NS=(2 8 32 64); TRIALS=200
[ "$QUICK" = --quick ] && { NS=(2 8); TRIALS=40; }
[ -f "$ANCHOR/lock_contention.py" ] || { echo "anchor scripts not found in $ANCHOR (set ANCHOR=)" >&2; exit 1; }
. scripts/ensure-toolchain.sh
ensure_cargo
eval "$(bash scripts/python-peers.sh)"
OUT=target/bench-report; mkdir -p "$OUT"
REPORT="$OUT/lock-$(date +%Y%m%d-%H%M%S).txt"
DISK=/tmp/msalx-bench-py; TMPFS=/dev/shm/msalx-bench-py
export PYTHONDONTWRITEBYTECODE=1
{
    echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) cpus; disk: $(findmnt -no FSTYPE -T /tmp), tmpfs: $(findmnt -no FSTYPE -T /dev/shm)"
    echo; echo "################ Rust: cargo bench --bench lock -- $QUICK"
    cargo bench --locked -q --bench lock -- $QUICK 2>&1 | grep -v '^\s*\(Compiling\|Finished\|Running\)'
    echo; echo "################ Python reference: lock_contention.py (disk)"
    "$MSALX_PYTHON" "$ANCHOR/lock_contention.py" --n "${NS[@]}" --k 50 --dir "$DISK"
    echo; echo "################ Python reference: lock_contention.py (tmpfs)"
    "$MSALX_PYTHON" "$ANCHOR/lock_contention.py" --n "${NS[@]}" --k 50 --dir "$TMPFS"
    echo; echo "################ Python reference: stale_lock.py"
    "$MSALX_PYTHON" "$ANCHOR/stale_lock.py" --repeat 3 --dir "$DISK/stale"
    echo; echo "################ Python reference: crash_safety.py"
    "$MSALX_PYTHON" "$ANCHOR/crash_safety.py" --trials "$TRIALS" --gap-ms 0 --dir "$DISK/crash"
    echo; echo "################ Python reference: fs_floor.py"
    "$MSALX_PYTHON" "$ANCHOR/fs_floor.py" --iters 200 --dir "$DISK/floor"
} 2>&1 | tee "$REPORT"
rm -rf "$DISK" "$TMPFS"
echo "report: $REPORT"
