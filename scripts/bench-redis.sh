#!/usr/bin/env bash
# The distributed token cache against its anchor, MSAL Node's
# DistributedCachePlugin on the `redis` npm client, on the same Redis server
# (the single node of scripts/redis-servers.sh, AOF with appendfsync always),
# side by side in one run:
#   - lookup latency, p50/p99: a cached token in a 100-token app partition
#     (ours: answered by L1, and read from Redis with L1 off; the anchor reads
#     the partition's blob on every lookup: it has no L1), and in a
#     100,000-token partition;
#   - update throughput: 4 processes x 16 workers acquiring new tokens into
#     one app partition for SECONDS, and how many of the acknowledged tokens
#     are missing afterwards (lost updates).
#   bash scripts/bench-redis.sh [ROUNDS] [SECONDS]   (default 1 round, 5 s)
# Not part of CI. Output: stdout and target/bench-report/redis-<stamp>.txt
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
. scripts/ensure-toolchain.sh
ensure_cargo

if [ -z "${MSALX_BENCH_INSIDE:-}" ]; then
    ROUNDS=${1:-1}
    SECONDS_RUN=${2:-5}
    # The anchor, pinned (bench/redis-anchor/package.json), installed under target/.
    ANCHOR="$ROOT/target/bench-redis-anchor"
    mkdir -p "$ANCHOR"
    cp bench/redis-anchor/package.json bench/redis-anchor/anchor.mjs "$ANCHOR/"
    (cd "$ANCHOR" && timeout 300 npm install --no-audit --no-fund --loglevel=error >&2)
    # Build errors show here, not mid-report.
    BIN=$(cargo bench --locked -q -p msal-extensions --features redis --bench distributed --no-run \
        --message-format=json 2>/dev/null | grep -o '"executable":"[^"]*"' | tail -1 | cut -d'"' -f4)
    [ -x "$BIN" ] || { echo "could not build benches/distributed.rs" >&2; exit 1; }
    export ANCHOR BIN ROUNDS SECONDS_RUN MSALX_BENCH_INSIDE=1
    exec bash scripts/redis-servers.sh bash "$0"
fi

mkdir -p target/bench-report
REPORT="target/bench-report/redis-$(date +%Y%m%d-%H%M%S).txt"
URL=$MSALX_REDIS_URL
node_anchor() { node "$ANCHOR/anchor.mjs" "$@"; }
ours() { "$BIN" "$@"; }
result() { grep '^RESULT' | sed 's/^RESULT //'; }
field() { tr ' ' '\n' | grep "^$1=" | cut -d= -f2; }

# 4 processes x 16 workers of one side; prints "updates=N per_s=X lost=L".
fleet() {
    local side=$1 prefix=$2 pids=() files=() ok=0 f n
    for p in 0 1 2 3; do
        f=$(mktemp)
        files+=("$f")
        if [ "$side" = anchor ]; then
            node_anchor update "$URL" "$prefix" "$p" 16 "$SECONDS_RUN" >"$f" &
        else
            ours update "$URL" "$prefix" "$p" 16 "$SECONDS_RUN" >"$f" &
        fi
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    for f in "${files[@]}"; do
        n=$(result <"$f" | field ok)
        ok=$((ok + n))
        rm -f "$f"
    done
    if [ "$side" = anchor ]; then
        n=$(node_anchor count "$URL" "$prefix" | result | field tokens)
    else
        n=$(ours count "$URL" "$prefix" | result | field tokens)
    fi
    echo "updates=$ok per_s=$(python3 -c "print(round($ok / $SECONDS_RUN))") stored=$n lost=$((ok - n))"
}

{
    echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) cpus, load: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# $(redis-server --version | grep -o 'v=[0-9.]*'), AOF appendfsync always; node $(node --version); msal-node 7.2.1, redis (npm) 6.3.1"
    echo "# command: bash scripts/bench-redis.sh $ROUNDS $SECONDS_RUN"
    for round in $(seq "$ROUNDS"); do
        echo
        echo "################ round $round"
        echo "lookup, 100-token partition"
        echo "  anchor (reads the blob): $(node_anchor lookup "$URL" a-l-$round 2000 100 | result)"
        echo "  ours, L1 hit: $(ours lookup-l1 "$URL" o-l1-$round 100000 100 | result)"
        echo "  ours, L2 hit (L1 off): $(ours lookup-l2 "$URL" o-l2-$round 5000 100 | result)"
        echo "lookup, 100,000-token partition"
        echo "  anchor (reads the blob): $(node_anchor large "$URL" a-b-$round 20 100000 | result)"
        echo "  ours, L1 hit: $(ours large-l1 "$URL" o-b1-$round 100000 100000 | result)"
        echo "  ours, L2 hit (L1 off): $(ours large-l2 "$URL" o-b2-$round 5000 100000 | result)"
        echo "update, 4 processes x 16 workers, ${SECONDS_RUN} s, one app partition"
        echo "  anchor: $(fleet anchor a-u-$round)"
        echo "  ours: $(fleet ours o-u-$round)"
    done
} 2>&1 | tee "$REPORT"

python3 - "$REPORT" <<'PY' | tee -a "$REPORT"
import re, sys
rounds, section = [], None
for line in open(sys.argv[1]):
    if line.startswith("################ round"):
        rounds.append({})
    elif rounds and re.match(r"\S", line):
        section = line.split(",")[0].strip() + ("" if "100,000" not in line else " large")
    elif rounds and (m := re.match(r"\s+(.+?): (\S+=.*)$", line)):
        rounds[-1][(section, m.group(1))] = dict(kv.split("=", 1) for kv in m.group(2).split())
print("\nsame-round summary:")
for i, r in enumerate(rounds, 1):
    a, o = r.get(("update", "anchor")), r.get(("update", "ours"))
    if a and o:
        print(f"  round {i}: update throughput ours/anchor = {int(o['per_s']) / max(1, int(a['per_s'])):.1f}x "
              f"({o['per_s']}/s vs {a['per_s']}/s); lost: anchor {a['lost']} of {a['updates']}, ours {o['lost']} of {o['updates']}")
    for sec, name in (("lookup", "100 tokens"), ("lookup large", "100,000 tokens")):
        an, l1, l2 = (r.get((sec, k)) for k in ("anchor (reads the blob)", "ours, L1 hit", "ours, L2 hit (L1 off)"))
        if an and l1 and l2:
            print(f"  round {i}: lookup p99, {name}: anchor {an['p99_us']} us; ours L2 {l2['p99_us']} us "
                  f"({float(an['p99_us']) / float(l2['p99_us']):.0f}x), L1 {l1['p99_us']} us")
PY
echo "report: $REPORT"
