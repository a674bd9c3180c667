#!/usr/bin/env bash
# Change-notification benchmarks: event latency after a peer process's write
# (with a 1 s change-token poller as the anchor, on the same writes), idle
# wake-ups of the watcher threads (anchor: the same poller), thread counts.
#
#   bash scripts/bench-watch.sh [--quick]
#
# Output: stdout, and a copy in target/bench-report/watch-<stamp>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-toolchain.sh
ensure_cargo
OUT=target/bench-report; mkdir -p "$OUT"
REPORT="$OUT/watch-$(date +%Y%m%d-%H%M%S).txt"
{
    echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) cpus; /tmp: $(findmnt -no FSTYPE -T /tmp)"
    echo "################ cargo bench --bench watch -- ${1:-}"
    cargo bench --locked -q -p msal-extensions --bench watch -- "$@" 2>&1 | grep -v '^\s*\(Compiling\|Finished\|Running\)'
} 2>&1 | tee "$REPORT"
echo "report: $REPORT"
