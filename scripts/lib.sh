# lib.sh - shared by scripts/run, scripts/test, scripts/bench, scripts/faults, scripts/fuzz.
# Sourced, not run. Sets ROOT and helpers; every helper prints what it does.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PACKAGES=(build-essential cmake pkg-config g++ clang libclang-rt-14-dev
  libuv1-dev librdkafka-dev libmsgpack-dev libhiredis-dev libcriterion-dev
  libjansson-dev libsimdjson-dev libhttp-parser-dev libsodium-dev
  redis-server redis-tools kcat wrk gnuplot-nox procps curl
  libcurl4-openssl-dev prometheus-alertmanager)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Installs the Debian packages that are missing (needs root and apt).
ensure_deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || true
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# build DIR [cmake args...]: configures and builds into $ROOT/DIR.
build() {
  local dir=$1; shift
  say "building $dir $*"
  cmake -S "$ROOT" -B "$ROOT/$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$ROOT/$dir" -j"$(nproc)" >/dev/null
}

# free_port: prints a TCP port nobody listens on, below the ephemeral range
# (32768+): while a server is down, clients keep connecting to its port, and a
# port inside that range can be taken by one of those very connections (TCP
# self-connect), so that the restarted server fails with "address in use".
free_port() {
  local port
  while :; do
    port=$(( 20000 + RANDOM % 12000 ))
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null || { echo "$port"; return; }
  done
}

# start_redis DIR PORT [extra redis-server args...]: a private redis-server.
start_redis() {
  local dir=$1 port=$2; shift 2
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" "$@"
  # PONG, not just an answer: a Redis loading its AOF answers -LOADING
  for _ in $(seq 300); do [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && return 0; sleep 0.1; done
  echo "redis-server did not start on port $port" >&2; return 1
}

stop_redis() {
  local dir=$1
  [ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null
  rm -f "$dir/redis.pid"
}

# start_alertmanager DIR PORT: a private Prometheus Alertmanager with the
# repository's config (config/alertmanager.yml), its state in DIR, listening
# on 127.0.0.1:PORT, without cluster gossip; waits until it is ready. Stopped
# by stop_alertmanager DIR (its PID is in DIR/alertmanager.pid).
start_alertmanager() {
  local dir=$1 port=$2
  mkdir -p "$dir"
  prometheus-alertmanager --config.file="$ROOT/config/alertmanager.yml" \
    --storage.path="$dir" --web.listen-address=127.0.0.1:"$port" \
    --cluster.listen-address= >"$dir/alertmanager.log" 2>&1 &
  echo $! >"$dir/alertmanager.pid"
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1 && return 0; sleep 0.1
  done
  echo "alertmanager did not start on port $port (log: $dir/alertmanager.log)" >&2; return 1
}

stop_alertmanager() {
  local dir=$1
  [ -f "$dir/alertmanager.pid" ] && kill "$(cat "$dir/alertmanager.pid")" 2>/dev/null
  rm -f "$dir/alertmanager.pid"
}

# build_targets DIR TARGET...: configures DIR and builds only the named targets
# (scripts/bench falls back to it when a full build fails on an unrelated file).
build_targets() {
  local dir=$1; shift
  say "building $dir: $*"
  cmake -S "$ROOT" -B "$ROOT/$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$ROOT/$dir" -j"$(nproc)" --target "$@" >/dev/null
}
