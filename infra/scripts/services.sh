#!/usr/bin/env bash
# Starts what Pulse needs on loopback, or reuses what already listens there:
# NATS with JetStream on 127.0.0.1:4222 and Redis on 127.0.0.1:6379.
# Installs nats-server / redis-server through apt when they are missing.
#
#   infra/scripts/services.sh up|down|status
#   infra/scripts/services.sh tool NAME   (install a Debian tool if missing: wrk for `make bench`)
#
# `down` stops only processes this script started (pid files under .pulse/).
# PULSE_NATS_PORT / PULSE_REDIS_PORT move the ports (used to test this script
# beside services that already run).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
state="$root/.pulse"
nats_port="${PULSE_NATS_PORT:-4222}"
redis_port="${PULSE_REDIS_PORT:-6379}"
apt_updated=0

listening() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root (or sudo) to run: $*" >&2; return 1; fi
}

find_binary() { # name, fallback path
  command -v "$1" 2>/dev/null || { [ -x "$2" ] && echo "$2"; } || true
}

install_package() {
  if [ "$apt_updated" -eq 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >/dev/null
}

wait_for() { # port, name, log
  for _ in $(seq 1 100); do listening "$1" && return 0; sleep 0.2; done
  echo "$2 did not start on 127.0.0.1:$1; see $3" >&2
  return 1
}

alive() { # pidfile, expected command name
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null && grep -q "$2" "/proc/$(cat "$1")/comm" 2>/dev/null
}

nats_up() {
  if listening "$nats_port"; then echo "nats: reusing 127.0.0.1:$nats_port"; return; fi
  local bin how="started"
  bin="$(find_binary nats-server /usr/sbin/nats-server)"
  if [ -z "$bin" ]; then install_package nats-server; how="installed and started"; bin="$(find_binary nats-server /usr/sbin/nats-server)"; fi
  mkdir -p "$state/nats"
  nohup setsid "$bin" -a 127.0.0.1 -p "$nats_port" -js -sd "$state/nats" >"$state/nats.log" 2>&1 </dev/null &
  echo $! >"$state/nats.pid"
  wait_for "$nats_port" nats-server "$state/nats.log"
  echo "nats: $how on 127.0.0.1:$nats_port (JetStream data in .pulse/nats)"
}

redis_up() {
  if listening "$redis_port"; then echo "redis: reusing 127.0.0.1:$redis_port"; return; fi
  local bin how="started"
  bin="$(find_binary redis-server /usr/bin/redis-server)"
  if [ -z "$bin" ]; then install_package redis-server; how="installed and started"; bin="$(find_binary redis-server /usr/bin/redis-server)"; fi
  mkdir -p "$state/redis"
  "$bin" --bind 127.0.0.1 --port "$redis_port" --daemonize yes --dir "$state/redis" \
    --pidfile "$state/redis.pid" --logfile "$state/redis.log" --save "" --appendonly no
  wait_for "$redis_port" redis-server "$state/redis.log"
  echo "redis: $how on 127.0.0.1:$redis_port"
}

stop() { # name, pidfile, comm
  if alive "$2" "$3"; then kill "$(cat "$2")"; echo "$1: stopped"; else echo "$1: not started by us"; fi
  rm -f "$2"
}

status() { # name, port, pidfile, comm
  local owner="not ours"
  alive "$3" "$4" && owner="started by us (pid $(cat "$3"))"
  if listening "$2"; then echo "$1: listening on 127.0.0.1:$2, $owner"; else echo "$1: not listening on 127.0.0.1:$2"; fi
}

mkdir -p "$state"
case "${1:-up}" in
  up) nats_up; redis_up ;;
  down) stop nats "$state/nats.pid" nats-server; stop redis "$state/redis.pid" redis-server ;;
  tool) command -v "${2:?tool name}" >/dev/null || { install_package "$2"; echo "$2: installed"; } ;;
  status) status nats "$nats_port" "$state/nats.pid" nats-server; status redis "$redis_port" "$state/redis.pid" redis-server ;;
  *) echo "usage: $0 up|down|status|tool NAME" >&2; exit 2 ;;
esac
