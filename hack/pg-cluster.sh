#!/usr/bin/env bash
# Manages a throwaway PostgreSQL 15 cluster owned by the `postgres` OS user.
#
#   hack/pg-cluster.sh start DIR [--listen ADDR] [--allow CIDR]
#                                  initdb (if needed) and start a cluster in DIR on a free
#                                  port; prints its DATABASE_URL on stdout
#   hack/pg-cluster.sh stop DIR    stop the cluster (fast shutdown), keep its data
#   hack/pg-cluster.sh restart DIR start a stopped cluster again on the same port
#   hack/pg-cluster.sh destroy DIR stop the cluster and delete DIR
#
# The cluster listens on 127.0.0.1, or only on ADDR with --listen (for example
# the local cluster's bridge gateway, for pods), and on a unix socket in DIR,
# which host-side clients can use whatever ADDR is:
# postgres://postgres@/postgres?host=DIR&port=$(cat DIR/port). Local and
# loopback connections are trusted; --allow CIDR also accepts connections from
# CIDR, authenticated with a SCRAM password (create a role with one). Both
# options are kept in DIR for restart.
#
# Runs as root (it switches to `postgres` with runuser) or as the postgres user.
# PG_BIN overrides the binaries' directory (default /usr/lib/postgresql/15/bin).
set -euo pipefail

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"

die() { echo "pg-cluster: $*" >&2; exit 1; }

# as_pg runs a command as the postgres OS user.
as_pg() {
  if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

# shellcheck source=lib/free-port.sh
. "$(dirname "$0")/lib/free-port.sh"

# listen_address prints the address the cluster in $1 listens on.
listen_address() { cat "$1/listen" 2>/dev/null || echo 127.0.0.1; }

# url prints the cluster's connection URL.
url() { echo "postgres://postgres@$(listen_address "$1"):$(cat "$1/port")/postgres?sslmode=disable"; }

start() {
  local dir=$1 listen="" allow=""
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --listen) listen=${2:?--listen needs an IP address}; shift 2 ;;
      --allow) allow=${2:?--allow needs a CIDR such as 10.244.0.0/24}; shift 2 ;;
      *) die "unknown option $1 for start: expected --listen ADDR or --allow CIDR" ;;
    esac
  done
  [ -x "$PG_BIN/initdb" ] || die "PostgreSQL 15 is not installed at $PG_BIN: run 'apt-get install -y postgresql-15' (or set PG_BIN)"
  id postgres >/dev/null 2>&1 || die "the postgres OS user does not exist: install postgresql-15 or create it"
  mkdir -p "$dir"
  chown postgres: "$dir" 2>/dev/null || true
  chmod 700 "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; die "initdb failed in $dir/data"; }
    free_port >"$dir/port"
  fi
  [ -z "$listen" ] || echo "$listen" >"$dir/listen"
  if [ -n "$allow" ] && ! grep -q "^host all all $allow scram-sha-256\$" "$dir/data/pg_hba.conf"; then
    echo "host all all $allow scram-sha-256" | as_pg tee -a "$dir/data/pg_hba.conf" >/dev/null
  fi
  restart "$dir"
}

restart() {
  local dir=$1 port
  port=$(cat "$dir/port")
  as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 start \
    -o "-c listen_addresses=$(listen_address "$dir") -p $port -k $dir -c max_connections=200 -c shared_buffers=64MB" >/dev/null \
    || { tail -n 20 "$dir/postgres.log" >&2; die "postgres did not start in $dir (port $port)"; }
  url "$dir"
}

stop() {
  local dir=$1
  [ -f "$dir/data/postmaster.pid" ] || return 0
  as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 \
    || as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
}

destroy() {
  local dir=$1
  [ -d "$dir" ] || return 0
  stop "$dir"
  rm -rf "$dir"
}

[ $# -ge 2 ] || die "usage: $0 start|stop|restart|destroy DIR [--listen ADDR] [--allow CIDR]"
case "$1" in
  start) shift; start "$@" ;;
  stop) stop "$2" ;;
  restart) restart "$2" ;;
  destroy) destroy "$2" ;;
  *) die "unknown action $1: expected start, stop, restart or destroy" ;;
esac
