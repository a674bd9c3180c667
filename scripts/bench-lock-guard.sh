#!/usr/bin/env bash
# The lock guard's cost (docs/benchmarks.md, "The lock guard's cost"): the
# `lock` benchmark of this tree against the anchor just before the guard
# (commit 87cd4e9, built in a throw-away worktree), ROUNDS rounds alternating
# which goes first (odd rounds the anchor, even rounds this tree), every
# folder on tmpfs (/dev/shm); then the medians the table quotes.
#
#   bash scripts/bench-lock-guard.sh [ROUNDS]          # default 8
#   bash scripts/bench-lock-guard.sh --summarize LOG   # only the medians of a log it wrote
#
# Output: stdout, and the log in target/bench-report/lock-guard-<stamp>.txt
# (docs/bench-logs/lock-guard-tmpfs-20261129.txt is one; `--summarize` on it
# prints the figures of the table).
set -euo pipefail
cd "$(dirname "$0")/.."

# The medians: CrossPlatLock acquire+release per side (median of the rounds'
# medians, with their range), and for every contention row the per-round
# ratio of cycles/s, this tree over the anchor.
summarize() {
    python3 - "$1" <<'EOF'
import re, statistics, sys
from collections import defaultdict

lock = {"base": [], "head": []}
cyc = defaultdict(lambda: defaultdict(dict))  # (section, N) -> round -> who -> cycles/s
rnd = who = section = None
for line in open(sys.argv[1]):
    if m := re.match(r"#+ round (\d+): (base|head)", line):
        rnd, who, section = int(m[1]), m[2], None
    elif who is None:
        continue
    elif m := re.match(r"CrossPlatLock acquire\+release\s+([\d.]+) us", line):
        lock[who].append(float(m[1]))
    elif m := re.match(r"## contention: (.*), \S+$", line):
        section = m[1]
    elif line.startswith("##"):
        section = None
    elif section and (m := re.match(r"\s*(\d+)\s+(\d+)\s+[\d.]+\s+([\d.]+)\s", line)):
        cyc[(section, int(m[1]))][rnd][who] = float(m[3])

rounds = len(lock["base"])
if not rounds or len(lock["head"]) != rounds:
    sys.exit(f"{sys.argv[1]}: no complete rounds (base {len(lock['base'])}, head {len(lock['head'])})")
med = {w: statistics.median(v) for w, v in lock.items()}
print(f"## summary of {sys.argv[1]} ({rounds} rounds)")
for w, name in (("base", "anchor (87cd4e9)"), ("head", "with the guard")):
    print(f"CrossPlatLock acquire+release, {name}: {med[w]:.1f} us ({min(lock[w]):.1f}-{max(lock[w]):.1f})")
diff = med["head"] - med["base"]
slower = sum(h > b for h, b in zip(lock["head"], lock["base"]))
print(f"  difference of the medians: {diff:+.1f} us ({100 * diff / med['base']:+.0f} %); "
      f"the guard slower in {slower} of {rounds} rounds")
print("contention, cycles/s with the guard / anchor, per round:")
medians, singles = [], []
for (section, n), by_round in cyc.items():
    ratios = [r["head"] / r["base"] for r in by_round.values() if "head" in r and "base" in r]
    if not ratios:
        continue
    medians.append(statistics.median(ratios))
    singles += ratios
    print(f"  {section}, N={n}: median {medians[-1]:.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
if medians:
    print(f"  medians {min(medians):.2f}-{max(medians):.2f}, single rounds {min(singles):.2f}-{max(singles):.2f}")
EOF
}

if [ "${1:-}" = --summarize ]; then
    summarize "${2:?usage: $0 --summarize LOG}"
    exit
fi

ROUNDS=${1:-8}
ANCHOR=87cd4e9
. scripts/ensure-toolchain.sh
ensure_cargo
OUT=target/bench-report; mkdir -p "$OUT"
LOG="$OUT/lock-guard-$(date +%Y%m%d-%H%M%S).txt"
WT=$(mktemp -d /tmp/msalx-lock-guard-base.XXXXXX)
SHM=/dev/shm/msalx-gt-$$
cleanup() {
    git worktree remove --force "$WT" 2>/dev/null || rm -rf "$WT"
    rm -rf "$SHM"
}
trap cleanup EXIT

# The path of the `lock` bench binary `cargo bench --no-run` builds in $1.
bench_binary() {
    (cd "$1" && cargo bench --locked --bench lock --no-run --message-format=json 2>/dev/null) |
        python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "lock" and m.get("executable"):
        print(m["executable"])'
}

echo "building the anchor ($ANCHOR) in $WT and this tree (cargo bench --no-run)" >&2
git worktree add --quiet --detach "$WT" "$ANCHOR"
BASE=$(CARGO_TARGET_DIR="$PWD/target/bench-lock-guard-base" bench_binary "$WT")
HEAD=$(bench_binary .)
[ -x "$BASE" ] && [ -x "$HEAD" ] || { echo "could not build the lock benchmark (base '$BASE', head '$HEAD')" >&2; exit 1; }

{
    echo "# $(uname -srm), $(nproc) cpus, /dev/shm: $(findmnt -no FSTYPE -T /dev/shm | head -1); base = $ANCHOR (before the guard), head = this tree ($(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates/msal-extensions || echo ', with uncommitted changes'))"
    echo "# command: bash scripts/bench-lock-guard.sh $ROUNDS"
    for round in $(seq 1 "$ROUNDS"); do
        if [ $((round % 2)) = 1 ]; then order="base head"; else order="head base"; fi
        for who in $order; do
            if [ "$who" = base ]; then bin=$BASE; else bin=$HEAD; fi
            echo "################ round $round: $who ($(date +%T))"
            "$bin" --quick --disk "$SHM/d-$who" --tmpfs "$SHM/$who"
        done
    done
} 2>&1 | tee "$LOG"
echo
summarize "$LOG"
echo "log: $LOG"
