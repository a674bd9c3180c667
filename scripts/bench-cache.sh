#!/usr/bin/env bash
# Token cache costs, side by side with the Python reference in the same run:
# the reference's anchor script cache_costs.py, then `cargo bench --bench
# cache_costs`, in folders on the same disk, back to back.
#   bash scripts/bench-cache.sh [ROUNDS]     (default 1)
# With ROUNDS > 1 the pair (reference, then ours) runs that many times and a
# table of same-round ratios closes the report: on a shared machine the noise
# moves between runs, and a ratio is only fair within one round.
# Output: stdout and target/bench-report/cache-<stamp>.txt
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-1}
ROOT=$(pwd)
ANCHOR=${ANCHOR:-$ROOT/../shared/reference/anchor-bench}
[ -f "$ANCHOR/cache_costs.py" ] || { echo "anchor scripts not found in $ANCHOR (set ANCHOR=)" >&2; exit 1; }
. scripts/ensure-toolchain.sh
ensure_cargo
eval "$(bash scripts/python-peers.sh)"
cargo bench --locked -q -p msal-extensions --bench cache_costs --no-run  # build errors show here, not mid-report
mkdir -p target/bench-report
REPORT="target/bench-report/cache-$(date +%Y%m%d-%H%M%S).txt"
REF=/tmp/msalx-bench-cache-ref; RS=/tmp/msalx-bench-cache-rs
{
    echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) cpus, load: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# command: bash scripts/bench-cache.sh $ROUNDS"
    for round in $(seq "$ROUNDS"); do
        echo; echo "################ round $round: Python reference: cache_costs.py"
        "$MSALX_PYTHON" "$ANCHOR/cache_costs.py" --sizes 10 1000 10000 --iters 200 --dir "$REF"
        if [ "$round" = 1 ]; then
            echo; echo "################ Python reference: heap held after json.loads"
            "$MSALX_PYTHON" scripts/bench/pymem.py "$REF"/*.json 2>/dev/null || true
        fi
        echo; echo "################ round $round: Rust: cargo bench --bench cache_costs"
        cargo bench --locked -q -p msal-extensions --bench cache_costs -- --dir "$RS" 2>&1 |
            grep -v '^\s*\(Compiling\|Finished\|Running\)'
    done
} 2>&1 | tee "$REPORT"
rm -rf "$REF" "$RS"
# Same-round ratios of the medians: (a) search unchanged, (b) search after a foreign write.
"$MSALX_PYTHON" - "$REPORT" <<'PY' | tee -a "$REPORT"
import re, sys
rows, side, size, rnd = {}, None, None, 0
for line in open(sys.argv[1]):
    m = re.match(r"#+ round (\d+): (Python|Rust)", line)
    if m:
        rnd, side = int(m.group(1)), m.group(2)
        continue
    m = re.match(r"== (\d+) access tokens", line)
    if m:
        size = int(m.group(1))
        continue
    m = re.search(r"\((a|b)\) (unchanged file, (list\(search\(target\)\)|search by scopes)|after( a)? foreign write[^:]*)\s*:\s+median\s+([\d.]+) us", line)
    if m and side:
        rows.setdefault((size, m.group(1), rnd), {})[side] = float(m.group(5))
print("\nsame-round ratios (reference median / ours):")
for (size, item, rnd), v in sorted(rows.items()):
    if len(v) == 2:
        print(f"  {size:>6} tokens ({item}) round {rnd}: {v['Python']:>10.1f} us / {v['Rust']:>9.1f} us = {v['Python'] / v['Rust']:6.1f}x")
PY
echo "report: $REPORT"
