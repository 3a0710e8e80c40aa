#!/usr/bin/env bash
# A throwaway local PostgreSQL cluster for trying and testing kesheng's PostgreSQL support.
#
#   scripts/postgres.sh start DIR PORT   # initdb DIR/data if needed, start, create database `kesheng`,
#                                        # print postgresql+psycopg://postgres@127.0.0.1:PORT/kesheng
#   scripts/postgres.sh stop DIR         # stop the cluster in DIR (DIR is left for you to delete)
#   scripts/postgres.sh install          # as root, when no server binaries are found: apt-get install postgresql
#
# The cluster listens on 127.0.0.1 only, trusts local connections (no password: never expose it) and
# runs with fsync off, because its data is disposable. Binaries come from `pg_config --bindir`, else
# /usr/lib/postgresql/<newest>/bin (Debian/Ubuntu: apt-get install postgresql). PostgreSQL refuses to
# run as root, so as root the cluster is owned and run by the `postgres` system user (KESHENG_PG_USER).
set -euo pipefail

usage() {
    echo "usage: $0 start DIR PORT | stop DIR | install" >&2
    exit 2
}

find_bindir() {
    local dir
    if command -v pg_config >/dev/null 2>&1; then
        dir=$(pg_config --bindir 2>/dev/null || true)
        if [[ -n "$dir" && -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
            echo "$dir"
            return
        fi
    fi
    # Debian's postgresql-common pg_config may point at a client-only folder: look for the server.
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
            echo "$dir"
            return
        fi
    done
    echo "postgres.sh: no PostgreSQL server binaries (initdb, pg_ctl) found; install them, e.g." \
        "apt-get install postgresql" >&2
    exit 1
}

# Run a command as the cluster's owner: ourselves, or the postgres system user when we are root.
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u "$OWNER" -- "$@"
    else
        "$@"
    fi
}

if [[ "${1:-}" == install ]]; then
    if (find_bindir) >/dev/null 2>&1; then
        exit 0
    fi
    [[ $(id -u) -eq 0 ]] || { echo "postgres.sh: installing PostgreSQL needs root (apt-get)" >&2; exit 1; }
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    find_bindir >/dev/null
    exit 0
fi

[[ $# -ge 2 ]] || usage
ACTION=$1
DIR=$(mkdir -p "$2" && cd "$2" && pwd)
DATA="$DIR/data"
LOG="$DIR/postgres.log"
OWNER=${KESHENG_PG_USER:-postgres}
BIN=$(find_bindir)

case "$ACTION" in
start)
    [[ $# -eq 3 && "$3" =~ ^[0-9]+$ ]] || usage
    PORT=$3
    if [[ $(id -u) -eq 0 ]]; then
        id "$OWNER" >/dev/null 2>&1 || {
            echo "postgres.sh: running as root needs the system user '$OWNER' (KESHENG_PG_USER)" >&2
            exit 1
        }
        chown "$OWNER" "$DIR"
        if ! runuser -u "$OWNER" -- test -w "$DIR"; then
            echo "postgres.sh: user '$OWNER' cannot write to $DIR (is a parent folder private?);" \
                "choose a folder under /tmp" >&2
            exit 1
        fi
    fi
    if [[ ! -f "$DATA/PG_VERSION" ]]; then
        # UTF8 whatever the machine's locale (the texts are Chinese); C collation keeps sorting bytewise.
        as_owner "$BIN/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C --auth=trust >"$DIR/initdb.log" 2>&1 || {
            cat "$DIR/initdb.log" >&2
            exit 1
        }
        cat >>"$DATA/postgresql.conf" <<EOF

# scripts/postgres.sh: a disposable local cluster
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    fi
    if ! as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
        as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 -o "-p $PORT" start >/dev/null || {
            cat "$LOG" >&2
            exit 1
        }
    fi
    exists=$(as_owner "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'kesheng'")
    if [[ "$exists" != "1" ]]; then
        as_owner "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres kesheng
    fi
    echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/kesheng"
    ;;
stop)
    [[ $# -eq 2 ]] || usage
    if [[ -f "$DATA/postmaster.pid" ]]; then
        as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
    fi
    ;;
*)
    usage
    ;;
esac
