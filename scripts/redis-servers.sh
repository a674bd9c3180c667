#!/usr/bin/env bash
# Runs a command beside real Redis servers on loopback, for the distributed
# token cache's tests and benchmark, then stops them (also on failure).
#
#   bash scripts/redis-servers.sh COMMAND [ARGS...]
#   bash scripts/redis-servers.sh test    # the distributed cache's async API tests
#                                          # (scripts/test.sh; the rest run in its workspace run)
#
# Installs Debian's redis-server and redis-tools when missing (apt_install),
# then starts, in a fresh folder under ${TMPDIR:-/tmp}:
#   - a single node with AOF and `appendfsync always` (every acknowledged
#     write is on disk before the reply), on MSALX_REDIS_PORT (default 16379);
#   - a 3-master Redis Cluster (no replicas) on the three ports after it,
#     created with `redis-cli --cluster create`, waited for until every node
#     reports cluster_state:ok.
# The command sees:
#   MSALX_REDIS_URL      redis://127.0.0.1:PORT of the single node
#   MSALX_REDIS_CLUSTER  the cluster's node URLs, comma-separated
#   MSALX_REDIS_SERVER   the redis-server binary (tests that SIGKILL and
#                        restart a server start their own with it)
# Idempotent: a leftover server of an earlier run on these ports is shut down
# first. Every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/apt.sh

[ "$#" -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 ||
    apt_install redis-server redis-tools
# Debian's package starts a system-wide server on 6379; ours use their own ports.

port=${MSALX_REDIS_PORT:-16379}
cluster_ports=("$((port + 1))" "$((port + 2))" "$((port + 3))")
dir=$(mktemp -d "${TMPDIR:-/tmp}/msalx-redis.XXXXXX")
log() { echo "== redis-servers.sh: $* ($(date +%T))" >&2; }

stop_all() {
    local p
    for p in "$port" "${cluster_ports[@]}"; do
        timeout 5 redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true
    done
    rm -rf "$dir"
}
trap stop_all EXIT

# A server of an earlier, interrupted run would make the new one fail to bind.
for p in "$port" "${cluster_ports[@]}"; do
    timeout 5 redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true
done

wait_ping() { # port: until the server answers, at most 10 s
    local i
    for i in $(seq 100); do
        [ "$(timeout 2 redis-cli -p "$1" ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.1
    done
    echo "redis on port $1 did not start; its log:" >&2
    cat "$dir/$1/log" >&2 || true
    return 1
}

start() { # port extra-args...: one daemonised server in its own folder
    local p=$1
    shift
    mkdir -p "$dir/$p"
    redis-server --port "$p" --bind 127.0.0.1 --dir "$dir/$p" --daemonize yes \
        --pidfile "$dir/$p/pid" --logfile "$dir/$p/log" --save '' "$@"
}

log "single node on $port (AOF, appendfsync always); cluster on ${cluster_ports[*]}"
start "$port" --appendonly yes --appendfsync always
for p in "${cluster_ports[@]}"; do
    start "$p" --cluster-enabled yes --cluster-config-file "$dir/$p/nodes.conf" --appendonly no
done
for p in "$port" "${cluster_ports[@]}"; do wait_ping "$p"; done

timeout 60 redis-cli --cluster create $(printf '127.0.0.1:%s ' "${cluster_ports[@]}") \
    --cluster-replicas 0 --cluster-yes >"$dir/cluster-create.log" 2>&1 ||
    { cat "$dir/cluster-create.log" >&2; exit 1; }
for p in "${cluster_ports[@]}"; do
    for i in $(seq 100); do
        timeout 2 redis-cli -p "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' && break
        [ "$i" -eq 100 ] && { echo "cluster node $p never reached cluster_state:ok" >&2; exit 1; }
        sleep 0.1
    done
done

export MSALX_REDIS_URL="redis://127.0.0.1:$port"
MSALX_REDIS_CLUSTER=$(printf 'redis://127.0.0.1:%s,' "${cluster_ports[@]}")
export MSALX_REDIS_CLUSTER=${MSALX_REDIS_CLUSTER%,}
MSALX_REDIS_SERVER=$(command -v redis-server)
export MSALX_REDIS_SERVER
log "servers up ($(redis-server --version | grep -o 'v=[0-9.]*')); running: $*"
if [ "$*" = test ]; then
    # The async API (feature `redis-async`), which no workspace member turns
    # on: the library's unit tests and doctests of `distributed`, and the
    # integration tests' `async_api` module. The rest of tests/distributed.rs
    # and msal-cache's `redis` tests run in scripts/test.sh's workspace run,
    # beside these same servers.
    features=(-p msal-extensions --features redis-async --locked)
    cargo test "${features[@]}" --lib -- distributed::
    cargo test "${features[@]}" --doc -- distributed
    cargo test "${features[@]}" --test distributed -- --include-ignored async_api::
else
    "$@"
fi
