#!/usr/bin/env bash
# Creates the Azure CLI peer msal-client's tests drive offline: the real
# azure-cli-core 2.91.0 (with its pinned msal 1.39 and msal-extensions 1.3.1)
# and the azure-cli 2.91.0 command modules (`az login`, `az account
# get-access-token`, `az cloud register`) without their Azure management SDKs,
# which those commands do not import, in a virtualenv under target/:
#
#   $AZ_PEER_DIR/bin/python -m azure.cli ...     (what `az` runs)
#
# azure-mgmt-resource gives the Subscription model `az login
# --skip-subscription-discovery` builds its tenant-level account from (no ARM
# request is made); msrest and azure-common are imported by azure-cli-core's
# error handler. pip's "azure-cli requires ..." lines are expected (--no-deps).
# Idempotent: a venv whose stamp matches the pins is reused.
# Prints the interpreter as a shell assignment on stdout: MSALX_AZ_PYTHON=...
# Env: AZ_PEER_DIR (default: <repo>/target/py-azure-cli)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${AZ_PEER_DIR:-$ROOT/target/py-azure-cli}
CORE=(azure-cli-core==2.91.0 azure-mgmt-resource==24.0.0 msrest==0.7.1 azure-common==1.1.28)
COMMANDS=azure-cli==2.91.0
STAMP="${CORE[*]} $COMMANDS"
log() { echo "azure-cli-peer: $*" >&2; }

. "$ROOT/scripts/apt.sh"

if [ -x "$DIR/bin/python" ] && [ "$(cat "$DIR/.stamp" 2>/dev/null)" = "$STAMP" ]; then
    echo "MSALX_AZ_PYTHON=$DIR/bin/python"
    exit 0
fi
apt_install python3 python3-venv python3-pip
log "creating $DIR ($STAMP)"
rm -rf "$DIR"
/usr/bin/python3 -m venv "$DIR"
timeout 600 "$DIR/bin/pip" install -q --disable-pip-version-check "${CORE[@]}" >&2
timeout 600 "$DIR/bin/pip" install -q --disable-pip-version-check --no-deps "$COMMANDS" >&2
echo "$STAMP" > "$DIR/.stamp"
echo "MSALX_AZ_PYTHON=$DIR/bin/python"
