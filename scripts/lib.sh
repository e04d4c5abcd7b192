# lib.sh - shared by scripts/run, scripts/test, scripts/bench, scripts/faults, scripts/fuzz.
# Sourced, not run. Sets ROOT and helpers; every helper prints what it does.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PACKAGES=(build-essential cmake pkg-config g++ clang libclang-rt-14-dev
  libuv1-dev librdkafka-dev libmsgpack-dev libhiredis-dev libcriterion-dev
  libjansson-dev libsimdjson-dev libhttp-parser-dev libsodium-dev
  redis-server redis-tools kcat wrk gnuplot-nox procps curl clang-format prometheus
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

# ensure_redocly: installs @redocly/cli (pinned) with npm into $ROOT/.tools/redocly
# (git-ignored) when it is not there yet, and prints the path of its binary.
REDOCLY_VERSION=2.77.0
ensure_redocly() {
  local dir=$ROOT/.tools/redocly bin=$ROOT/.tools/redocly/node_modules/.bin/redocly
  if [ ! -x "$bin" ] || ! grep -q "\"version\": \"$REDOCLY_VERSION\"" \
      "$dir/node_modules/@redocly/cli/package.json" 2>/dev/null; then
    command -v npm >/dev/null || { say "installing nodejs npm"; apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; }
    say "installing @redocly/cli@$REDOCLY_VERSION into .tools/redocly"
    mkdir -p "$dir"
    npm install --prefix "$dir" --save-exact --no-audit --no-fund --loglevel=error \
      "@redocly/cli@$REDOCLY_VERSION" >&2
  fi
  echo "$bin"
}

# start_redis_cluster DIR BASEPORT: a private Redis Cluster of 3 masters and 3
# replicas on 127.0.0.1:BASEPORT..BASEPORT+5, one folder and pidfile per node
# under DIR (DIR/PORT/redis.pid). Waits until every node says cluster_state:ok
# and knows all six nodes. The nodes' own cluster bus ports (PORT+10000) must be
# free too: free_cluster_port picks a base for which all twelve are.
# cluster-node-timeout is 2 s so that a killed master's replica is promoted in
# a few seconds (the fault scenarios); replicas may serve nothing stale.
start_redis_cluster() {
  local dir=$1 base=$2 port nodes=()
  mkdir -p "$dir"
  for i in 0 1 2 3 4 5; do
    port=$((base + i))
    start_redis_cluster_node "$dir" "$port"
    nodes+=("127.0.0.1:$port")
  done
  for i in 0 1 2 3 4 5; do
    port=$((base + i))
    for _ in $(seq 300); do [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 || {
    echo "redis-cli --cluster create failed (see $dir/create.log)" >&2; return 1; }
  wait_redis_cluster "$base" || return 1
  echo "$base" >"$dir/baseport"
}

# start_redis_cluster_node DIR PORT: starts (or restarts, after a crash: its
# nodes.conf makes it rejoin as the node it was) the cluster node of PORT in
# DIR/PORT, without waiting for it.
start_redis_cluster_node() {
  local dir=$1 port=$2
  mkdir -p "$dir/$port"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir/$port" --save '' --appendonly no \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
    --daemonize yes --pidfile "$dir/$port/redis.pid" --logfile "$dir/$port/redis.log"
}

# wait_redis_cluster BASEPORT [NODES]: waits (60 s at most) until the NODES (6)
# nodes from BASEPORT all answer cluster_state:ok, each knows NODES nodes, half
# of them are replicas and every replica's link to its master is up.
wait_redis_cluster() {
  local base=$1 n=${2:-6} port ok info
  for _ in $(seq 600); do
    ok=1
    for i in $(seq 0 $((n - 1))); do
      port=$((base + i))
      info=$(redis-cli -p "$port" cluster info 2>/dev/null | tr -d '\r')
      case $info in *cluster_state:ok*) ;; *) ok=0; break ;; esac
      case $info in *cluster_known_nodes:$n*) ;; *) ok=0; break ;; esac
      # a replica counts once its link to its master is up (WAIT needs it)
      info=$(redis-cli -p "$port" info replication 2>/dev/null | tr -d '\r')
      case $info in *role:slave*) case $info in *master_link_status:up*) ;; *) ok=0; break ;; esac ;; esac
    done
    # every master has its replica
    [ "$ok" = 1 ] && [ "$(redis-cli -p "$base" cluster nodes 2>/dev/null | grep -c slave)" = $((n / 2)) ] || ok=0
    [ "$ok" = 1 ] && return 0
    sleep 0.1
  done
  echo "redis cluster on ports $base.. did not reach cluster_state:ok" >&2; return 1
}

# stop_redis_cluster DIR: stops the nodes started by start_redis_cluster DIR,
# each by the PID in its pidfile.
stop_redis_cluster() {
  local dir=$1 f
  for f in "$dir"/*/redis.pid; do
    [ -f "$f" ] || continue
    kill "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
}

# free_cluster_port: prints a base port P such that P..P+5 and their cluster
# bus ports P+10000..P+10005 are free (all below the ephemeral range).
free_cluster_port() {
  local base ok p
  while :; do
    base=$(( 20000 + RANDOM % 2200 ))
    ok=1
    for p in $(seq "$base" $((base + 5))) $(seq $((base + 10000)) $((base + 10005))); do
      (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && { ok=0; break; }
    done
    [ "$ok" = 1 ] && { echo "$base"; return; }
  done
}
