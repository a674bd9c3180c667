#!/usr/bin/env bash
# The whole test suite, in one command, on a fresh Debian 12 machine.
#
#   bash scripts/test.sh
#
# Installs what the tests need when it is missing (Debian packages as root via
# apt; Python packages from PyPI into venvs under target/; the Node peers from
# npm into target/node-peers), starts every
# service the tests talk to itself, and runs:
#   - the Rust workspace tests (unit, integration, doc), including the
#     multi-process, SIGKILL, fault-injection, soak and Python interop tests,
#     and the Python package's (scripts/py-package.sh builds its wheel: the
#     reference's own test suite, Azure Identity, Azure CLI, a mixed fleet),
#     inside a private D-Bus session with gnome-keyring's Secret Service
#     (scripts/with-secret-service.sh), so the Linux encrypted backend and its
#     interop with Python's LibsecretPersistence run against a real daemon,
#     and beside a Redis node and a 3-master Redis Cluster
#     (scripts/redis-servers.sh) for the distributed token cache and
#     `msal-cache redis`;
#   - the distributed cache's async API (feature redis-async, which no
#     workspace member turns on) against the same kind of servers;
#   - clippy for Windows (gnu, msvc) and macOS (arm64, x86_64), and the
#     Windows build's tests (DPAPI, lock, file) under Wine (scripts/cross-target.sh);
#   - a short run of every fuzz target (scripts/fuzz.sh; nightly + cargo-fuzz).
# Peers are never optional in CI: with CI=true a missing peer fails the test.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "== test.sh: $* ($(date +%T))" >&2; }

. scripts/ensure-toolchain.sh
ensure_cargo
log "Python peers (msal, msal-extensions from PyPI)"
eval "$(bash scripts/python-peers.sh)"
export MSALX_PYTHON MSALX_PYTHON_NO_PORTALOCKER
log "Azure CLI peer (azure-cli-core 2.91 and its command modules from PyPI)"
eval "$(bash scripts/azure-cli-peer.sh)" && export MSALX_AZ_PYTHON
log "Node peers (@azure/msal-node, @azure/msal-node-extensions, keytar from npm)"
eval "$(bash scripts/node-peers.sh)"
export MSALX_NODE MSALX_NODE_MODULES
log "Python package msal-extensions-rs: maturin build of the wheel, its test venv"
eval "$(bash scripts/py-package.sh)"

log "cargo test --workspace (Redis servers up; inside a private session bus with an unlocked Secret Service)"
# Tests that need a peer (Python, Node, Azure CLI, the Secret Service, Redis,
# the 120 s soak) are #[ignore]d in a plain `cargo test` and run here with
# --include-ignored. The Secret Service tests need WITH_SECRET_SERVICE=1,
# which with-secret-service.sh sets, the Redis ones MSALX_REDIS_URL and
# MSALX_REDIS_CLUSTER, which redis-servers.sh sets; CI=true makes a missing
# peer a failure rather than a skip.
bash scripts/redis-servers.sh bash scripts/with-secret-service.sh \
    cargo test --workspace --locked --no-fail-fast -- --include-ignored
log "distributed token cache: the async API (feature redis-async) against Redis"
bash scripts/redis-servers.sh test
log "Windows and macOS: cross-target clippy, and the Windows tests under Wine"
bash scripts/cross-target.sh all

log "fuzzing: a short run of every cargo-fuzz target"
bash scripts/fuzz.sh "${FUZZ_SECS:-20}"
log "all tests passed"
