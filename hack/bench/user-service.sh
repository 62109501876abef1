#!/usr/bin/env bash
# Benchmarks the user service against PostgreSQL's own limits (issue 2).
#
#   hack/bench/user-service.sh
#
# Starts a throwaway PostgreSQL 15 cluster and the service (logging,
# metrics and auth all on, reads included), seeds 10,000 users, then runs:
#   1. wrk GET  /api/v1/users/{random id}   64 connections, DURATION (20s)
#   2. wrk POST /api/v1/users (unique emails) 64 connections, DURATION
#   3. pgbench -S -M prepared                64 clients, DURATION (read limit)
#   4. pgbench -M prepared, one INSERT INTO users per transaction (write limit)
#   5. gRPC GetUser {random id} through google.golang.org/grpc
#      (hack/bench/grpcload), 64 callers, DURATION, multiplexed on
#      GRPC_CONNECTIONS (2) HTTP/2 connections as gRPC clients do (one
#      connection per caller, like wrk's, costs the service about twice the
#      CPU per call: no two calls share a write)
#   6. with events on (AMQP_URL to a throwaway RabbitMQ, hack/rabbitmq.sh):
#      wrk POST again, then the pgbench insert limit again
# Each service run is followed at once by its pgbench limit (GET, pgbench -S,
# gRPC GetUser, pgbench -S, POST, pgbench insert) so both sides of a ratio see
# the same background load; and prints read_ratio=, grpc_read_ratio=,
# write_ratio=, write_ratio_events=, non-2xx counts, p99 latencies and the
# service's idle and peak RSS. It installs nothing: it says what is missing.
# Events are off in runs 1-5 (the default).
#
# Knobs: DURATION (20s), CONNECTIONS (64), THREADS (2), GRPC_CONNECTIONS (2),
# DB_MAX_CONNS, KEEP_LOGS=1, EVENTS=0 (skip run 6).
set -euo pipefail

DURATION="${DURATION:-20s}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
GRPC_CONNECTIONS="${GRPC_CONNECTIONS:-2}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

missing=()
command -v wrk >/dev/null || missing+=("wrk (apt-get install -y wrk)")
[ -x "$PG_BIN/pgbench" ] || missing+=("pgbench (apt-get install -y postgresql-15)")
[ -x "$PG_BIN/psql" ] || command -v psql >/dev/null || missing+=("psql (apt-get install -y postgresql-client-15)")
command -v openssl >/dev/null || missing+=("openssl (apt-get install -y openssl)")
command -v go >/dev/null || missing+=("go")
if [ "${EVENTS:-1}" = 1 ] && [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
  missing+=("rabbitmq-server (apt-get install -y rabbitmq-server; or EVENTS=0)")
fi
if [ ${#missing[@]} -gt 0 ]; then
  printf 'bench: missing tools, please install:\n' >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi
PSQL="$PG_BIN/psql"; [ -x "$PSQL" ] || PSQL=psql

work="$(mktemp -d "${TMPDIR:-/tmp}/bench-user-service.XXXXXX")"
chmod 711 "$work" # the postgres user must reach $work/pg
svc_pid=""
cleanup() {
  [ -n "$svc_pid" ] && kill "$svc_pid" 2>/dev/null && wait "$svc_pid" 2>/dev/null || true
  hack/pg-cluster.sh destroy "$work/pg" || true
  hack/rabbitmq.sh destroy "$work/mq" || true
  if [ "${KEEP_LOGS:-0}" = 1 ]; then echo "bench: logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

log() { printf 'bench: %s\n' "$*" >&2; }

log "building bin/user-service"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o bin/user-service ./cmd/user-service
log "binary size: $(stat -c %s bin/user-service) bytes"
go build -o "$work/grpcload" ./hack/bench/grpcload

log "starting PostgreSQL"
admin_url="$(hack/pg-cluster.sh start "$work/pg")"
"$PSQL" -q "$admin_url" -c "CREATE DATABASE bench" >/dev/null
DATABASE_URL="${admin_url/\/postgres\?/\/bench?}"
export DATABASE_URL

log "migrating and seeding 10,000 users"
bin/user-service migrate up >/dev/null
"$PSQL" -q "$DATABASE_URL" -c "INSERT INTO users (name, email)
  SELECT 'Seed User ' || g, 'seed' || g || '@example.com' FROM generate_series(1, 10000) g" -c "VACUUM ANALYZE users" >/dev/null

export JWT_SECRET="bench-secret-bench-secret-bench-secret-0123"
TOKEN="$(hack/jwt.sh bench 86400)"
export TOKEN
read -r port grpc_port < <(python3 -c 'import socket; a=socket.socket(); b=socket.socket(); a.bind(("127.0.0.1",0)); b.bind(("127.0.0.1",0)); print(a.getsockname()[1], b.getsockname()[1])')
log "starting the service on :$port, gRPC on :$grpc_port (LOG_LEVEL=info, metrics on, AUTH_REQUIRED_FOR_READS=true)"
SERVER_PORT=$port GRPC_PORT=$grpc_port LOG_LEVEL=info AUTH_REQUIRED_FOR_READS=true SHUTDOWN_DRAIN=0s \
  bin/user-service serve >"$work/service.log" 2>&1 &
svc_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/ready" >/dev/null || { tail "$work/service.log" >&2; log "service did not become ready"; exit 1; }
sleep 1
rss_kib() { awk -v k="$1:" '$1==k {print $2}' "/proc/$svc_pid/status"; }
idle_rss=$(rss_kib VmRSS)
idle_anon=$(rss_kib RssAnon)

cat >"$work/get.lua" <<'LUA'
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/v1/users/" .. math.random(1, 10000))
end
LUA
cat >"$work/post.lua" <<'LUA'
local counter = 0
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
init = function(args)
  run_id = os.time()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
end
request = function()
  counter = counter + 1
  local body = string.format('{"name":"Bench User","email":"w%d-%d-%d@example.com"}', run_id, tid, counter)
  return wrk.format("POST", "/api/v1/users", nil, body)
end
LUA

# wrk_run NAME SCRIPT: runs wrk and prints "rps non2xx p99".
wrk_run() {
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$2" "http://127.0.0.1:$port" >"$work/$1.wrk" 2>&1 || true
  local rps non2xx p99 errs
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/$1.wrk")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$work/$1.wrk"); non2xx=${non2xx:-0}
  errs=$(awk '/Socket errors:/ {gsub(",",""); print $4+$6+$8+$10}' "$work/$1.wrk"); errs=${errs:-0}
  p99=$(awk '$1=="99%" {print $2}' "$work/$1.wrk")
  echo "${rps:-0} $non2xx $p99 $errs"
}

# cpu_ticks prints the service's user+system CPU time in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$svc_pid/stat"; }
# cpu_us_per_req TICKS0 TICKS1 RPS: service CPU microseconds per request.
cpu_us_per_req() {
  awk -v a="$1" -v b="$2" -v r="$3" -v hz="$(getconf CLK_TCK)" -v d="${DURATION%s}" \
    'BEGIN { if (r > 0) printf "%.1f", (b - a) / hz * 1e6 / (r * d); else print "nan" }'
}

# Each service run is followed at once by its pgbench limit, so that both
# sides of a ratio see the same background load on a shared machine.
secs=${DURATION%s}
"$PG_BIN/pgbench" -q -i -s 1 "$DATABASE_URL" >/dev/null 2>&1
printf "INSERT INTO users (name, email) VALUES ('pgbench', 'pgb' || txid_current() || '@example.com');\n" >"$work/insert.sql"
pgbench_tps() { awk '/^tps = / {print $3; exit}' "$1"; }

log "wrk GET  ($CONNECTIONS connections, $DURATION)"
t0=$(cpu_ticks)
read -r get_rps get_non2xx get_p99 get_errs < <(TOKEN="$TOKEN" wrk_run get "$work/get.lua")
t1=$(cpu_ticks)
log "pgbench -S -M prepared ($CONNECTIONS clients, $DURATION)"
"$PG_BIN/pgbench" -n -S -M prepared -c "$CONNECTIONS" -j "$THREADS" -T "$secs" "$DATABASE_URL" >"$work/pgbench-read.txt" 2>&1
read_tps=$(pgbench_tps "$work/pgbench-read.txt")

log "gRPC GetUser ($CONNECTIONS callers on $GRPC_CONNECTIONS connections, $DURATION)"
t4=$(cpu_ticks)
"$work/grpcload" -addr "127.0.0.1:$grpc_port" -c "$CONNECTIONS" -conns "$GRPC_CONNECTIONS" -d "$DURATION" -ids 10000 -token "$TOKEN" >"$work/grpc-get.txt" 2>&1 || true
t5=$(cpu_ticks)
grpc_rps=$(sed -n 's/.*rps=\([0-9.]*\).*/\1/p' "$work/grpc-get.txt"); grpc_rps=${grpc_rps:-0}
grpc_errs=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' "$work/grpc-get.txt")
grpc_p99=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' "$work/grpc-get.txt")
log "pgbench -S -M prepared ($CONNECTIONS clients, $DURATION), for the gRPC ratio"
"$PG_BIN/pgbench" -n -S -M prepared -c "$CONNECTIONS" -j "$THREADS" -T "$secs" "$DATABASE_URL" >"$work/pgbench-read-grpc.txt" 2>&1
grpc_read_tps=$(pgbench_tps "$work/pgbench-read-grpc.txt")

log "wrk POST ($CONNECTIONS connections, $DURATION)"
t2=$(cpu_ticks)
read -r post_rps post_non2xx post_p99 post_errs < <(TOKEN="$TOKEN" wrk_run post "$work/post.lua")
t3=$(cpu_ticks)
log "pgbench -M prepared insert script ($CONNECTIONS clients, $DURATION)"
"$PG_BIN/pgbench" -n -M prepared -f "$work/insert.sql" -c "$CONNECTIONS" -j "$THREADS" -T "$secs" "$DATABASE_URL" >"$work/pgbench-write.txt" 2>&1
write_tps=$(pgbench_tps "$work/pgbench-write.txt")

peak_rss=$(rss_kib VmHWM)
curl -fsS "http://127.0.0.1:$port/metrics" >"$work/metrics.txt" || true
log "waiting 15 s for the service to go idle"
sleep 15
after_rss=$(rss_kib VmRSS) # idle again after the load
after_anon=$(rss_kib RssAnon)
after_file=$(rss_kib RssFile)
batch_mean() {
  awk -v op="$1" '$1 == "store_batches_total{op=\""op"\"}" {b=$2} $1 == "store_batched_calls_total{op=\""op"\"}" {c=$2}
    END { if (b > 0) printf "%.1f", c / b; else print "nan" }' "$work/metrics.txt"
}
kill "$svc_pid"; wait "$svc_pid" 2>/dev/null || true; svc_pid=""

# Run 5: the same POST load with events on. No queue is bound to
# user_events, so the broker confirms and drops each message: the figure
# is the service's cost (outbox rows, relay reads and deletes, publishing)
# without the broker's own disk work, which runs elsewhere in production.
events_rps=0 events_write_tps=0 events_non2xx=n/a events_p99=n/a events_pending=n/a events_drain=n/a
if [ "${EVENTS:-1}" = 1 ]; then
  log "starting RabbitMQ"
  AMQP_URL="$(hack/rabbitmq.sh start "$work/mq")"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  log "starting the service with events on (AMQP_URL set) on :$port"
  AMQP_URL="$AMQP_URL" SERVER_PORT=$port GRPC_PORT=0 LOG_LEVEL=info AUTH_REQUIRED_FOR_READS=true SHUTDOWN_DRAIN=0s \
    bin/user-service serve >"$work/service-events.log" 2>&1 &
  svc_pid=$!
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null | grep -q '^outbox_relay_connected 1' && break
    sleep 0.1
  done
  log "wrk POST with events ($CONNECTIONS connections, $DURATION)"
  read -r events_rps events_non2xx events_p99 _ < <(TOKEN="$TOKEN" wrk_run post-events "$work/post.lua")
  outbox_pending() { curl -fsS "http://127.0.0.1:$port/metrics" | awk '$1 == "outbox_pending" {print $2}'; }
  events_pending=$(outbox_pending)
  log "pgbench -M prepared insert script, again ($CONNECTIONS clients, $DURATION)"
  "$PG_BIN/pgbench" -n -M prepared -f "$work/insert.sql" -c "$CONNECTIONS" -j "$THREADS" -T "$secs" "$DATABASE_URL" >"$work/pgbench-write-events.txt" 2>&1
  events_write_tps=$(pgbench_tps "$work/pgbench-write-events.txt")
  # Time for the backlog left by the load to drain, at most 120 s.
  t_drain=$SECONDS
  for _ in $(seq 1 1200); do [ "$(outbox_pending)" = 0 ] && break; sleep 0.1; done
  events_drain="$((SECONDS - t_drain))s (pending now $(outbox_pending))"
  kill "$svc_pid"; wait "$svc_pid" 2>/dev/null || true; svc_pid=""
  hack/rabbitmq.sh stop "$work/mq"
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "nan" }'; }
echo "service_get_rps=$get_rps pgbench_select_tps=$read_tps"
echo "service_post_rps=$post_rps pgbench_insert_tps=$write_tps"
echo "service_grpc_get_rps=$grpc_rps pgbench_select_tps_for_grpc=$grpc_read_tps"
echo "read_ratio=$(ratio "$get_rps" "$read_tps")"
echo "grpc_read_ratio=$(ratio "$grpc_rps" "$grpc_read_tps")"
echo "write_ratio=$(ratio "$post_rps" "$write_tps")"
echo "service_post_events_rps=$events_rps pgbench_insert_tps_events_run=$events_write_tps"
echo "write_ratio_events=$(ratio "$events_rps" "$events_write_tps")"
echo "post_events_non2xx=$events_non2xx post_events_p99=$events_p99 outbox_pending_after_load=$events_pending outbox_drain_after_pgbench=$events_drain"
echo "get_non2xx=$get_non2xx get_socket_errors=$get_errs get_p99=$get_p99"
echo "post_non2xx=$post_non2xx post_socket_errors=$post_errs post_p99=$post_p99"
echo "grpc_get_errors=${grpc_errs:-nan} grpc_get_p99_ms=${grpc_p99:-nan}"
echo "service_cpu_us_per_get=$(cpu_us_per_req "$t0" "$t1" "$get_rps") service_cpu_us_per_post=$(cpu_us_per_req "$t2" "$t3" "$post_rps") service_cpu_us_per_grpc_get=$(cpu_us_per_req "$t4" "$t5" "$grpc_rps")"
echo "mean_batch_get=$(batch_mean get) mean_batch_create=$(batch_mean create)"
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k/1024}'; }
echo "idle_rss_mib=$(mib "$idle_rss") (anon $(mib "$idle_anon")) peak_rss_mib=$(mib "$peak_rss")"
echo "idle_after_load_rss_mib=$(mib "$after_rss") (anon $(mib "$after_anon"), file $(mib "$after_file"))"
echo "binary_bytes=$(stat -c %s bin/user-service)"
