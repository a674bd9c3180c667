#!/usr/bin/env bash
# Installs the Node interop peers the tests drive: the real @azure/msal-node and
# @azure/msal-node-extensions from npm, pinned with integrity hashes by
# crates/msal-extensions/tests/node/package-lock.json, plus keytar (the native
# module msal-node-extensions loads for KeyRingPersistence) built from source
# against Debian's libsecret-1-dev and the installed Node's own headers (npm's
# prebuilt-binary download is not used: install scripts are skipped and the
# build is run here, so no step fetches anything but registry packages).
#
#   $NODE_DIR/node_modules/...   (default NODE_DIR: <repo>/target/node-peers)
#
# Idempotent: a tree whose stamp matches the lockfile and the Node version is reused.
# Prints shell assignments on stdout:
#   MSALX_NODE=<node binary>  MSALX_NODE_MODULES=<folder for NODE_PATH>
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NODE_DIR=${NODE_DIR:-$ROOT/target/node-peers}
SRC=$ROOT/crates/msal-extensions/tests/node
log() { echo "node-peers: $*" >&2; }

. "$ROOT/scripts/apt.sh"

# Node >= 20 comes with the machine (msal-node 7 needs it); Debian's own
# nodejs is the fallback. keytar's build needs a compiler, make, python3,
# pkg-config and libsecret's headers.
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
apt_install libsecret-1-dev pkg-config g++ make
NODE=$(command -v node)
major=$("$NODE" -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || { log "Node $("$NODE" --version) is too old: msal-node 7 needs Node >= 20"; exit 1; }

stamp="$(sha256sum "$SRC/package-lock.json" | cut -d' ' -f1) node-$("$NODE" --version)"
if [ "$(cat "$NODE_DIR/.stamp" 2>/dev/null)" != "$stamp" ] ||
    [ ! -f "$NODE_DIR/node_modules/keytar/build/Release/keytar.node" ]; then
    log "installing @azure/msal-node, @azure/msal-node-extensions and keytar into $NODE_DIR"
    rm -rf "$NODE_DIR"
    mkdir -p "$NODE_DIR"
    cp "$SRC/package.json" "$SRC/package-lock.json" "$NODE_DIR/"
    (cd "$NODE_DIR" && timeout 600 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error </dev/null >&2)
    # Headers of the running Node (node-gyp would otherwise download them).
    nodedir=$(dirname "$(dirname "$NODE")")
    [ -f "$nodedir/include/node/node.h" ] || { log "no Node headers under $nodedir/include/node"; exit 1; }
    gyp=$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js
    (cd "$NODE_DIR/node_modules/keytar" &&
        timeout 600 "$NODE" "$gyp" rebuild --nodedir="$nodedir" -j 2 </dev/null >../../keytar-build.log 2>&1) ||
        { cat "$NODE_DIR/keytar-build.log" >&2; log "building keytar failed"; exit 1; }
    echo "$stamp" >"$NODE_DIR/.stamp"
fi
# The check the tests rely on: every module loads, keytar included.
NODE_PATH="$NODE_DIR/node_modules" "$NODE" -e \
    'require("@azure/msal-node"); require("@azure/msal-node-extensions"); require("keytar")' ||
    { log "the installed Node peers do not load"; exit 1; }
echo "MSALX_NODE=$NODE"
echo "MSALX_NODE_MODULES=$NODE_DIR/node_modules"
