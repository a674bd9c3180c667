#!/usr/bin/env bash
# Token cache costs, side by side with the Python reference in the same run:
# the reference's anchor script cache_costs.py, then `cargo bench --bench
# cache_costs`, in folders on the same disk, back to back.
#   bash scripts/bench-cache.sh
# Output: stdout and target/bench-report/cache-<stamp>.txt
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ANCHOR=${ANCHOR:-$ROOT/../shared/reference/anchor-bench}
[ -f "$ANCHOR/cache_costs.py" ] || { echo "anchor scripts not found in $ANCHOR (set ANCHOR=)" >&2; exit 1; }
. scripts/ensure-toolchain.sh
ensure_cargo
eval "$(bash scripts/python-peers.sh)"
mkdir -p target/bench-report
REPORT="target/bench-report/cache-$(date +%Y%m%d-%H%M%S).txt"
REF=/tmp/msalx-bench-cache-ref; RS=/tmp/msalx-bench-cache-rs
{
    echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) cpus, load: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo; echo "################ Python reference: cache_costs.py"
    "$MSALX_PYTHON" "$ANCHOR/cache_costs.py" --sizes 10 1000 10000 --iters 200 --dir "$REF"
    echo; echo "################ Python reference: heap held after json.loads"
    "$MSALX_PYTHON" scripts/bench/pymem.py "$REF"/*.json 2>/dev/null || true
    echo; echo "################ Rust: cargo bench --bench cache_costs"
    cargo bench --locked -q -p msal-extensions --bench cache_costs -- --dir "$RS" 2>&1 |
        grep -v '^\s*\(Compiling\|Finished\|Running\)'
} 2>&1 | tee "$REPORT"
rm -rf "$REF" "$RS"
echo "report: $REPORT"
