# free_port prints a loopback TCP port that is free right now (sourced by
# hack/pg-cluster.sh and hack/rabbitmq.sh).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null && return
  local p
  for _ in $(seq 1 50); do
    p=$(( (RANDOM % 20000) + 30000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "free_port: found no free loopback port" >&2
  return 1
}
