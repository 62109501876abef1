#!/usr/bin/env bash
# Runs a command with AMQP_TEST_URL pointing at a RabbitMQ broker.
#
#   hack/with-rabbitmq.sh <command> [args...]
#
# If AMQP_TEST_URL is already set, the command is simply run. Otherwise a
# throwaway broker is started with hack/rabbitmq.sh (as the `rabbitmq` OS
# user, in a temporary directory, on free loopback ports),
# AMQP_TEST_URL is exported for the command, and the broker is always
# stopped and removed afterwards. When rabbitmq-server is not installed the
# command runs without AMQP_TEST_URL: the tests that need a broker then
# skip, or fail under CI=true. The command's exit code is preserved.
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: $0 <command> [args...]" >&2; exit 2; }

if [ -n "${AMQP_TEST_URL:-}" ]; then
  exec "$@"
fi
can_run=false
if [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] && { [ "$(id -u)" = 0 ] || [ "$(id -un)" = rabbitmq ]; }; then
  can_run=true
fi
if [ "$can_run" = false ]; then
  echo "with-rabbitmq: rabbitmq-server is not installed (apt-get install -y rabbitmq-server) or this is not root; running without AMQP_TEST_URL" >&2
  exec "$@"
fi

here="$(cd "$(dirname "$0")" && pwd)"
dir="$(mktemp -d "${TMPDIR:-/tmp}/with-rabbitmq.XXXXXX")"
cleanup() { "$here/rabbitmq.sh" destroy "$dir" || rm -rf "$dir"; }
trap cleanup EXIT
# Ctrl-C reaches the command too (same process group); let it shut down
# and report its own exit code instead of 130.
trap ':' INT
trap 'exit 143' TERM

AMQP_TEST_URL="$("$here/rabbitmq.sh" start "$dir")"
export AMQP_TEST_URL
echo "with-rabbitmq: started RabbitMQ on ${AMQP_TEST_URL##*@} (removed on exit)" >&2

set +e
"$@"
rc=$?
set -e
exit "$rc"
