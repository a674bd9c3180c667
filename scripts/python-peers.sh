#!/usr/bin/env bash
# Creates the Python interop peers the tests drive: the real `msal` and
# `msal-extensions` packages from PyPI, in two virtualenvs built on Debian's
# own python3 (so Debian's python3-gi / libsecret bindings are importable for
# the Secret Service interop tests):
#
#   $PY_DIR/with-portalocker/     msal-extensions + portalocker (flock-based lock)
#   $PY_DIR/without-portalocker/  msal-extensions alone (existence-only lock)
#
# Idempotent: a venv whose stamp matches the pinned versions is reused.
# Prints the two interpreters as shell assignments on stdout:
#   MSALX_PYTHON=...  MSALX_PYTHON_NO_PORTALOCKER=...
# Env: PY_DIR (default: <repo>/target/py-peers)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY_DIR=${PY_DIR:-$ROOT/target/py-peers}
PINS=(msal==1.39.0 msal-extensions==1.3.1)
PORTALOCKER=portalocker==4.4.2
SYS_PY=/usr/bin/python3
log() { echo "python-peers: $*" >&2; }

. "$ROOT/scripts/apt.sh"

make_venv() { # dir, packages...
    local dir=$1; shift
    local stamp="$*"
    if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$stamp" ]; then
        return 0
    fi
    log "creating $dir ($stamp)"
    rm -rf "$dir"
    # --system-site-packages: Debian's gi (PyGObject) for LibsecretPersistence.
    "$SYS_PY" -m venv --system-site-packages "$dir"
    timeout 600 "$dir/bin/pip" install -q --disable-pip-version-check "$@" >&2
    echo "$stamp" > "$dir/.stamp"
}

apt_install python3 python3-venv python3-pip python3-gi gir1.2-secret-1
mkdir -p "$PY_DIR"
make_venv "$PY_DIR/with-portalocker" "${PINS[@]}" "$PORTALOCKER"
make_venv "$PY_DIR/without-portalocker" "${PINS[@]}"
# A venv with --system-site-packages could still see a system portalocker.
if "$PY_DIR/without-portalocker/bin/python" -c 'import portalocker' 2>/dev/null; then
    log "portalocker is importable in the without-portalocker venv (a system package?); remove python3-portalocker"
    exit 1
fi
echo "MSALX_PYTHON=$PY_DIR/with-portalocker/bin/python"
echo "MSALX_PYTHON_NO_PORTALOCKER=$PY_DIR/without-portalocker/bin/python"
