#!/usr/bin/env bash
# Manages a throwaway RabbitMQ broker owned by the `rabbitmq` OS user.
#
#   hack/rabbitmq.sh start DIR    create DIR (if needed) and start a broker on free
#                                 loopback ports; prints its AMQP URL on stdout
#   hack/rabbitmq.sh stop DIR     stop the broker and its epmd, keep its data
#   hack/rabbitmq.sh restart DIR  start a stopped broker again on the same ports
#   hack/rabbitmq.sh destroy DIR  stop the broker and delete DIR
#
# Everything lives in DIR: the configuration, the Mnesia and message store,
# the logs, the Erlang cookie and the pid files. The broker listens on
# 127.0.0.1 only: AMQP, Erlang distribution and a private epmd, each on a
# port chosen free when DIR is created, so that several brokers (and a
# system one) can run side by side. stop signals exactly the processes it
# started, by pid, and leaves nothing running. The AMQP user is `usersvc`
# with a random password.
#
# Runs as root (it switches to `rabbitmq` with setpriv) or as the rabbitmq
# user. Needs Debian's rabbitmq-server package (apt-get install -y rabbitmq-server).
set -euo pipefail

RABBITMQ_SERVER="${RABBITMQ_SERVER:-/usr/lib/rabbitmq/bin/rabbitmq-server}"

die() { echo "rabbitmq: $*" >&2; exit 1; }

# exec_as_rabbitmq replaces this process with a command run as the rabbitmq
# OS user (setpriv execs too), so that the caller's $! is the command's pid.
exec_as_rabbitmq() {
  if [ "$(id -un)" = rabbitmq ]; then exec "$@"; fi
  exec setpriv --reuid rabbitmq --regid rabbitmq --init-groups -- "$@"
}

# shellcheck source=lib/free-port.sh
. "$(dirname "$0")/lib/free-port.sh"

# url prints the broker's AMQP URL.
url() { echo "amqp://usersvc:$(cat "$1/password")@127.0.0.1:$(cat "$1/amqp_port")/"; }

# alive reports whether the pid in file $1 is a running process.
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# init writes DIR's configuration and picks its ports, once.
init() {
  local dir=$1 p1 p2 p3
  command -v epmd >/dev/null && [ -x "$RABBITMQ_SERVER" ] \
    || die "rabbitmq-server is not installed: run 'apt-get update && apt-get install -y rabbitmq-server'"
  id rabbitmq >/dev/null 2>&1 || die "the rabbitmq OS user does not exist: install rabbitmq-server"
  mkdir -p "$dir"
  chmod 711 "$dir"
  [ -f "$dir/rabbitmq.conf" ] && return 0
  p1=$(free_port); p2=$(free_port); p3=$(free_port)
  while [ "$p2" = "$p1" ]; do p2=$(free_port); done
  while [ "$p3" = "$p1" ] || [ "$p3" = "$p2" ]; do p3=$(free_port); done
  echo "$p1" >"$dir/amqp_port"; echo "$p2" >"$dir/dist_port"; echo "$p3" >"$dir/epmd_port"
  # Hex keeps the password URL-safe.
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$dir/password"
  mkdir -p "$dir/home" "$dir/log" "$dir/mnesia"
  cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$p1
default_user = usersvc
default_pass = $(cat "$dir/password")
loopback_users = none
log.file.level = warning
log.console = false
EOF
  echo '[].' >"$dir/enabled_plugins"
  : >"$dir/rabbitmq-env.conf"
  chown -R rabbitmq: "$dir"
  chmod 600 "$dir/password" "$dir/rabbitmq.conf"
}

# exec_with_env replaces the (sub)shell with a command run in the broker's
# environment for DIR; call it in a background subshell only.
exec_with_env() {
  local dir=$1; shift
  exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$dir/home" LANG=C.UTF-8 \
    ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT="$(cat "$dir/epmd_port")" \
    RABBITMQ_NODENAME=rabbit@localhost \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$(cat "$dir/amqp_port")" \
    RABBITMQ_DIST_PORT="$(cat "$dir/dist_port")" \
    RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" \
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_MNESIA_DIR="$dir/mnesia/rabbit" \
    RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_PID_FILE="$dir/beam.pid" \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-start_epmd false -kernel inet_dist_use_interface {127,0,0,1}" \
    "$@"
}

# restart starts epmd and the broker of an initialised DIR and waits until
# the AMQP port accepts connections.
restart() {
  local dir=$1 port i
  alive "$dir/server.pid" && { url "$dir"; return 0; }
  port=$(cat "$dir/amqp_port")
  if ! alive "$dir/epmd.pid"; then
    exec_with_env "$dir" setsid "$0" _as_rabbitmq epmd -port "$(cat "$dir/epmd_port")" -address 127.0.0.1 \
      </dev/null >"$dir/log/epmd.log" 2>&1 &
    echo $! >"$dir/epmd.pid"
  fi
  exec_with_env "$dir" setsid "$0" _as_rabbitmq "$RABBITMQ_SERVER" </dev/null >"$dir/log/server.out" 2>&1 &
  echo $! >"$dir/server.pid"
  for i in $(seq 1 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then url "$dir"; return 0; fi
    alive "$dir/server.pid" || break
    sleep 0.1
  done
  tail -n 30 "$dir/log/server.out" "$dir"/log/*.log >&2 2>/dev/null || true
  stop "$dir"
  die "RabbitMQ did not accept AMQP connections on 127.0.0.1:$port within 60s (logs in $dir/log)"
}

# wait_gone waits up to $2 tenths of a second for the pid in file $1 to exit.
wait_gone() {
  local i
  for i in $(seq 1 "$2"); do alive "$1" || return 0; sleep 0.1; done
  return 1
}

# stop stops the broker (the start script stops the VM on SIGTERM), then
# the VM by its own pid if it lingers, then epmd.
stop() {
  local dir=$1
  if alive "$dir/server.pid"; then
    kill -TERM "$(cat "$dir/server.pid")" 2>/dev/null || true
    wait_gone "$dir/server.pid" 300 || kill -KILL "$(cat "$dir/server.pid")" 2>/dev/null || true
  fi
  if alive "$dir/beam.pid"; then
    kill -TERM "$(cat "$dir/beam.pid")" 2>/dev/null || true
    wait_gone "$dir/beam.pid" 100 || kill -KILL "$(cat "$dir/beam.pid")" 2>/dev/null || true
    wait_gone "$dir/beam.pid" 50 || true
  fi
  if alive "$dir/epmd.pid"; then
    kill -TERM "$(cat "$dir/epmd.pid")" 2>/dev/null || true
    wait_gone "$dir/epmd.pid" 50 || kill -KILL "$(cat "$dir/epmd.pid")" 2>/dev/null || true
  fi
  rm -f "$dir/server.pid" "$dir/beam.pid" "$dir/epmd.pid"
}

destroy() {
  local dir=$1
  [ -d "$dir" ] || return 0
  stop "$dir"
  rm -rf "$dir"
}

if [ "${1:-}" = _as_rabbitmq ]; then
  shift
  exec_as_rabbitmq "$@"
fi
[ $# -eq 2 ] || die "usage: $0 start|stop|restart|destroy DIR"
case "$1" in
  start) init "$2"; restart "$2" ;;
  stop) stop "$2" ;;
  restart) restart "$2" ;;
  destroy) destroy "$2" ;;
  *) die "unknown action $1: expected start, stop, restart or destroy" ;;
esac
