#!/usr/bin/env bash
# Short fuzzing runs of every cargo-fuzz target (cache loader, lockfile
# content, JWT/client_info readers), seeded with the committed corpus.
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 20)
# Needs the nightly toolchain (rustup) and cargo-fuzz, which is installed from
# crates.io when missing. With CI=true a missing nightly is a failure.
# New interesting inputs go to target/fuzz-corpus/, never into the committed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-20}
if ! cargo +nightly --version >/dev/null 2>&1; then
    msg="the nightly toolchain is not installed (rustup toolchain install nightly)"
    [ "${CI:-}" = true ] && { echo "fuzz.sh: $msg" >&2; exit 1; }
    echo "!!!!!!!! fuzz.sh: SKIPPED: $msg !!!!!!!!" >&2; exit 0
fi
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked -q cargo-fuzz
cd fuzz
for t in $(cargo +nightly fuzz list); do
    work="../target/fuzz-corpus/$t"; mkdir -p "$work"
    echo "== fuzz $t for ${SECS}s" >&2
    cargo +nightly fuzz run "$t" "$work" "corpus/$t" -- -max_total_time="$SECS" -print_final_stats=1 2>&1 |
        grep -E '^(Done|stat::number_of_executed_units|==[0-9]+==|SUMMARY)|panicked' || true
    # cargo fuzz exits non-zero on a crash; the pipeline above hides that, so check for artifacts.
    if ls "artifacts/$t"/crash-* "artifacts/$t"/leak-* "artifacts/$t"/timeout-* >/dev/null 2>&1; then
        echo "fuzz.sh: $t found a failing input (fuzz/artifacts/$t)" >&2; exit 1
    fi
done
