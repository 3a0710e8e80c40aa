#!/usr/bin/env bash
# A throwaway local Redis, the broker of kesheng's Celery workers, for trying and testing the scale-out.
#
#   scripts/redis.sh start DIR PORT   # start redis-server on 127.0.0.1:PORT with its files in DIR,
#                                     # print redis://127.0.0.1:PORT/0
#   scripts/redis.sh stop DIR         # stop the server of DIR, saving its data (DIR is left for you to delete)
#   scripts/redis.sh kill DIR         # stop it at once (SHUTDOWN NOSAVE): what the append-only file holds
#                                     # survives, as after a crash
#   scripts/redis.sh install          # as root, when redis-server is missing: apt-get install redis-server
#
# The server listens on 127.0.0.1 only, without a password (never expose it), and keeps an append-only
# file (fsync every second) in DIR, as a broker should: a restart keeps the queued tasks.
set -euo pipefail

usage() {
    echo "usage: $0 start DIR PORT | stop DIR | kill DIR | install" >&2
    exit 2
}

have() { command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; }

if [[ "${1:-}" == install ]]; then
    have && exit 0
    [[ $(id -u) -eq 0 ]] || { echo "redis.sh: installing redis-server needs root (apt-get)" >&2; exit 1; }
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2
    have
    exit 0
fi

[[ $# -ge 2 ]] || usage
ACTION=$1
DIR=$(mkdir -p "$2" && cd "$2" && pwd)
have || { echo "redis.sh: redis-server not found; install it, e.g. apt-get install redis-server" >&2; exit 1; }

port_of() { cat "$DIR/port" 2>/dev/null || true; }

running() {
    local port
    port=$(port_of)
    [[ -n "$port" ]] && redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG
}

case "$ACTION" in
start)
    [[ $# -eq 3 && "$3" =~ ^[0-9]+$ ]] || usage
    PORT=$3
    echo "$PORT" >"$DIR/port"
    if ! running; then
        redis-server --bind 127.0.0.1 --port "$PORT" --dir "$DIR" --daemonize yes \
            --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log" \
            --appendonly yes --appendfsync everysec --save "" --protected-mode yes >/dev/null
        for _ in $(seq 100); do
            running && break
            sleep 0.1
        done
        running || { cat "$DIR/redis.log" >&2; exit 1; }
    fi
    echo "redis://127.0.0.1:$PORT/0"
    ;;
stop | kill)
    [[ $# -eq 2 ]] || usage
    if running; then
        mode=$([[ "$ACTION" == stop ]] && echo SAVE || echo NOSAVE)
        redis-cli -h 127.0.0.1 -p "$(port_of)" shutdown "$mode" >/dev/null 2>&1 || true
        for _ in $(seq 100); do
            running || break
            sleep 0.1
        done
    fi
    ;;
*)
    usage
    ;;
esac
