#!/usr/bin/env bash
# Builds the Python package msal-extensions-rs (crates/msal-extensions-py) into
# a wheel with maturin from PyPI, and prepares what its tests run in:
#
#   $PY_PKG_DIR/wheels/msal_extensions_rs-<v>-cp39-abi3-<platform>.whl
#   $PY_PKG_DIR/venv/       Debian's python3, WITHOUT system site packages (so
#                           no PyGObject): the wheel, plus msal, Microsoft's
#                           msal-extensions beside it (MSAL_EXTENSIONS_RS=off
#                           switches to it), pytest, azure-identity, azure-cli-core
#   $PY_PKG_DIR/upstream/   msal-extensions 1.3.1's sdist, for its tests/
#
# Works on a clean Debian 12 as root with no stdin; idempotent (the venv is
# rebuilt only when the pins change; the wheel is rebuilt incrementally and
# reinstalled every run). Prints shell `export` lines for test.sh to eval:
#   MSALX_PY_PACKAGE_PYTHON  the venv's python
#   MSALX_PY_UPSTREAM_SDIST  the unpacked sdist (its tests/ folder is the suite)
#   MSALX_PY_WHEEL           the wheel
# Env: PY_PKG_DIR (default <repo>/target/py-package);
#      PY_PKG_PROFILE=dev|release (default dev: the dependencies are the very
#      builds `cargo test` makes; release for benchmarks, stripped);
#      PY_PKG_PINS: the venv's packages instead of the test set below
#      (scripts/bench-py.sh gives the reference's anchor set).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY_PKG_DIR=${PY_PKG_DIR:-$ROOT/target/py-package}
PROFILE=${PY_PKG_PROFILE:-dev}
SYS_PY=/usr/bin/python3
MATURIN=maturin==1.16.0
REFERENCE=msal-extensions==1.3.1
# portalocker 2.10.1: what azure-cli-core 2.91.0 resolves to (through
# azure-cli-telemetry), so the reference runs its portalocker lock, as in az.
PINS=(msal==1.39.0 "$REFERENCE" portalocker==2.10.1 pytest==9.2.0
      azure-identity==1.27.0 azure-cli-core==2.91.0)
[ -n "${PY_PKG_PINS:-}" ] && read -r -a PINS <<< "$PY_PKG_PINS"
log() { echo "py-package: $*" >&2; }
pip_q() { timeout 900 "$@" -q --disable-pip-version-check --no-input >&2; }
# venv DIR PACKAGE...: (re)creates DIR with the packages unless its stamp matches.
venv() {
    local dir=$1; shift
    [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$*" ] && return 0
    log "creating $dir ($*)"
    rm -rf "$dir"
    "$SYS_PY" -m venv "$dir"
    pip_q "$dir/bin/pip" install "$@"
    echo "$*" > "$dir/.stamp"
}

. "$ROOT/scripts/apt.sh"
. "$ROOT/scripts/ensure-toolchain.sh"
apt_install python3 python3-venv python3-pip gcc libc6-dev
ensure_cargo
mkdir -p "$PY_PKG_DIR"

# 1. maturin, pinned, in its own venv.
TOOLS=$PY_PKG_DIR/tools
venv "$TOOLS" "$MATURIN"

# 2. The wheel (abi3: one file for CPython >= 3.9).
log "maturin build ($PROFILE)"
rm -rf "$PY_PKG_DIR/wheels"
args=(build --locked -i "$SYS_PY" -o "$PY_PKG_DIR/wheels" -m "$ROOT/crates/msal-extensions-py/Cargo.toml")
[ "$PROFILE" = release ] && args+=(--release --strip)
timeout 1800 "$TOOLS/bin/maturin" "${args[@]}" </dev/null >&2
WHEEL=$(ls "$PY_PKG_DIR"/wheels/msal_extensions_rs-*.whl)

# 3. The test venv.
VENV=$PY_PKG_DIR/venv
venv "$VENV" "${PINS[@]}"
pip_q "$VENV/bin/pip" install --force-reinstall --no-deps "$WHEEL"
"$VENV/bin/python" -m msal_extensions_rs >&2

# 4. The reference's own test suite, from its sdist.
SDIST=$PY_PKG_DIR/upstream/msal_extensions-1.3.1
if [ ! -d "$SDIST/tests" ]; then
    log "downloading the $REFERENCE sdist"
    rm -rf "$PY_PKG_DIR/upstream" && mkdir -p "$PY_PKG_DIR/upstream"
    pip_q "$VENV/bin/pip" download --no-binary :all: --no-deps "$REFERENCE" -d "$PY_PKG_DIR/upstream"
    tar xzf "$PY_PKG_DIR"/upstream/msal_extensions-1.3.1.tar.gz -C "$PY_PKG_DIR/upstream"
fi

echo "export MSALX_PY_PACKAGE_PYTHON=$VENV/bin/python"
echo "export MSALX_PY_UPSTREAM_SDIST=$SDIST"
echo "export MSALX_PY_WHEEL=$WHEEL"
