#!/usr/bin/env bash
# The Python package msal-extensions-rs side by side with Microsoft's
# msal-extensions 1.3.1, in one run (this machine is noisy: compare ratios):
# lock throughput of N processes on tmpfs, PersistedTokenCache on 10,000
# tokens, start-up time.
#
#   bash scripts/bench-py.sh [--quick]
#
# Builds the release wheel (scripts/py-package.sh with PY_PKG_PROFILE=release,
# in target/py-package-release) into a venv holding the reference as the
# anchor measured it (msal-extensions 1.3.1, portalocker 4.4.2, msal 1.39.0;
# ../shared/reference/reference-figures.md), and runs
# crates/msal-extensions-py/benches/package_bench.py there: MSAL_EXTENSIONS_RS
# picks one package or the other per process.
# Output: stdout, and a copy in target/bench-report/py-<stamp>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=()
[ "${1:-}" = --quick ] && QUICK=(--n 8 --rounds 1 --tokens 2000 --iters 10 --runs 5)
eval "$(PY_PKG_PROFILE=release PY_PKG_DIR="$PWD/target/py-package-release" \
    PY_PKG_PINS="msal==1.39.0 msal-extensions==1.3.1 portalocker==4.4.2" bash scripts/py-package.sh)"
OUT=target/bench-report; mkdir -p "$OUT"
REPORT="$OUT/py-$(date +%Y%m%d-%H%M%S).txt"
{
    echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg);" \
         "/tmp: $(findmnt -no FSTYPE -T /tmp), /dev/shm: $(findmnt -no FSTYPE -T /dev/shm)"
    echo "# wheel: $(basename "$MSALX_PY_WHEEL") (release)"
    echo "+ package_bench.py all ${QUICK[*]}"
    timeout 3600 "$MSALX_PY_PACKAGE_PYTHON" crates/msal-extensions-py/benches/package_bench.py all "${QUICK[@]}"
} 2>&1 | tee "$REPORT"
echo "report: $REPORT"
