#!/usr/bin/env bash
# msal-client's acquisition costs, side by side with MSAL Python 1.39 +
# msal-extensions 1.3.1 in the same run (`cargo bench -p msal-client --bench
# client`, which starts the local identity provider and drives both):
#   - warm acquire_token_silent from a 1,000-token cache (median, p99);
#   - a cold renewal: HTTP requests to an Entra-compatible host;
#   - a herd of 64 processes with one expired token: token requests at the
#     IdP and wall time from release to all served, ours vs Python.
#   bash scripts/bench-client.sh [extra bench args, e.g. --herd 32 --delay-ms 200]
# Output: stdout and target/bench-report/client-<stamp>.txt
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-toolchain.sh
ensure_cargo
eval "$(bash scripts/python-peers.sh)"
export MSALX_PYTHON
cargo bench --locked -q -p msal-client --bench client --no-run  # build errors show here, not mid-report
mkdir -p target/bench-report
REPORT="target/bench-report/client-$(date +%Y%m%d-%H%M%S).txt"
{
    echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) cpus, load: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# command: bash scripts/bench-client.sh $*"
    cargo bench --locked -q -p msal-client --bench client -- "$@" 2>&1 |
        grep -v '^\s*\(Compiling\|Finished\|Running\)'
} 2>&1 | tee "$REPORT"
echo "report: $REPORT"
