#!/usr/bin/env bash
# Runs a command with DATABASE_URL pointing at a PostgreSQL database.
#
#   hack/with-postgres.sh <command> [args...]
#
# If DATABASE_URL is already set, the command is simply run. Otherwise a
# throwaway PostgreSQL 15 cluster is started as the `postgres` OS user in a
# temporary directory on a free loopback port, DATABASE_URL is exported for
# the command, and the cluster is always removed afterwards. The command's
# exit code is preserved.
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: $0 <command> [args...]" >&2; exit 2; }

if [ -n "${DATABASE_URL:-}" ]; then
  exec "$@"
fi

here="$(cd "$(dirname "$0")" && pwd)"
dir="$(mktemp -d "${TMPDIR:-/tmp}/with-postgres.XXXXXX")"
cleanup() { "$here/pg-cluster.sh" destroy "$dir" || rm -rf "$dir"; }
trap cleanup EXIT
# Ctrl-C reaches the command too (same process group); let it shut down
# and report its own exit code instead of 130.
trap ':' INT
trap 'exit 143' TERM

DATABASE_URL="$("$here/pg-cluster.sh" start "$dir")"
export DATABASE_URL
echo "with-postgres: started PostgreSQL at ${DATABASE_URL} (removed on exit)" >&2

set +e
"$@"
rc=$?
set -e
exit "$rc"
