#!/usr/bin/env bash
# The system as separate processes on this machine, driven through the API gateway:
#
#   postgres       one embedded PostgreSQL cluster (`emporium postgres`), seeded
#   storefront-1   auth, catalog, cart, inventory, reviews        (two replicas of one role,
#   storefront-2   auth, catalog, cart, inventory, reviews         reached through the pools)
#   money          payments, orders
#   after-sales    shipping, notifications, admin, support
#   gateway        `emporium gateway`: every client call enters here (binary protocol, and
#                  HTTP/JSON with the storefront page)
#
# It waits for every process to be healthy, runs loadgen's checkout scenario through the
# gateway, kills storefront-2 with SIGKILL a third of the way in and restarts it halfway, and
# lets loadgen check the business invariants afterwards (exit status 3 if one is broken). Then
# it stops everything (SIGTERM: each process drains) and prints where the logs and reports are.
#
# Environment (all optional):
#   TOPOLOGY_DIR       where the database, logs and reports go (default .topology/ here;
#                      recreated on every run)
#   TOPOLOGY_PORT      first of seven consecutive ports on 127.0.0.1 (default 7800)
#   TOPOLOGY_DURATION  loadgen's measured time (default 60s)
#   TOPOLOGY_USERS     concurrent shoppers (default 16)
#   TOPOLOGY_KILL      0 to run without killing storefront-2 (default 1)
#   TOPOLOGY_WAIT      0 to skip loadgen: bring the topology up, print it, and wait for Ctrl-C
#   TOPOLOGY_SINGLE    1 for the baseline: every service in one process (storefront-1) behind
#                      the gateway, nothing killed (to compare with the split on the same machine)
#   TOPOLOGY_CPUS      pin the database, services and gateway to these CPUs (taskset list, e.g.
#                      0); loadgen then runs on the others. Default: no pinning
#   TOPOLOGY_SWEEP     1 for a `loadgen sweep` (closed model at 1, 2, 4, 8, 16 and 32 users, a
#                      Universal Scalability Law fit) instead of the checkout run; nothing killed
#   CONFIGURATION      debug (default) or release
#   SWIFT              the swift driver (default: swift on PATH, else /opt/swift/usr/bin/swift)
set -euo pipefail
cd "$(dirname "$0")/.."

SWIFT=${SWIFT:-$(command -v swift || echo /opt/swift/usr/bin/swift)}
DIR=${TOPOLOGY_DIR:-$PWD/.topology}
PORT=${TOPOLOGY_PORT:-7800}
DURATION=${TOPOLOGY_DURATION:-60s}
USERS=${TOPOLOGY_USERS:-16}
KILL=${TOPOLOGY_KILL:-1}
WAIT=${TOPOLOGY_WAIT:-1}
SINGLE=${TOPOLOGY_SINGLE:-0}
[[ $SINGLE == 1 ]] && KILL=0
SWEEP=${TOPOLOGY_SWEEP:-0}
[[ $SWEEP == 1 ]] && KILL=0
CPUS=${TOPOLOGY_CPUS:-}
# pin: the command prefix for the system's processes, and loadgen's.
pin=()
loadgen_pin=()
if [[ -n $CPUS ]]; then
  command -v taskset >/dev/null || { echo "topology: TOPOLOGY_CPUS needs taskset (util-linux)" >&2; exit 1; }
  pin=(taskset -c "$CPUS")
  others=$(python3 -c "import os,sys; mine={int(c) for c in sys.argv[1].split(',')}; print(','.join(str(c) for c in sorted(os.sched_getaffinity(0)) if c not in mine))" "$CPUS")
  [[ -n $others ]] && loadgen_pin=(taskset -c "$others")
fi
CONFIGURATION=${CONFIGURATION:-debug}

started=$(date +%s)
step() { printf '\n[%4ss] == %s\n' "$(($(date +%s) - started))" "$*"; }

step "building emporium and loadgen ($CONFIGURATION)"
"$SWIFT" build -c "$CONFIGURATION" --product emporium
"$SWIFT" build -c "$CONFIGURATION" --product loadgen
BIN=$("$SWIFT" build -c "$CONFIGURATION" --show-bin-path)

GATEWAY=127.0.0.1:$PORT
S1=127.0.0.1:$((PORT + 1))
S2=127.0.0.1:$((PORT + 2))
MONEY=127.0.0.1:$((PORT + 3))
AFTER=127.0.0.1:$((PORT + 4))
PG_PORT=$((PORT + 5))
HTTP=127.0.0.1:$((PORT + 6))
for port in $(seq "$PORT" $((PORT + 6))); do
  if (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
    echo "topology: something already listens on 127.0.0.1:$port; set TOPOLOGY_PORT to a free range" >&2
    exit 1
  fi
done

rm -rf "$DIR"
mkdir -p "$DIR/logs"
chmod 755 "$DIR"
declare -A pids=()

stop() {
  local name=$1
  local pid=${pids[$name]:-}
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    wait "$pid" || true
  fi
  unset "pids[$name]"
}
stop_all() {
  for name in gateway after-sales money storefront-2 storefront-1 postgres; do stop "$name"; done
}
trap 'stop_all' EXIT
trap 'exit 130' INT TERM

# cpu_snapshot: "NAME SECONDS" per process of the topology (user + system CPU so far); the
# database is the cluster's postmaster and its processes (the postmaster's count includes its
# exited children).
cpu_snapshot() {
  local ticks
  ticks=$(getconf CLK_TCK)
  for name in "${!pids[@]}"; do
    [[ $name == postgres ]] && continue
    awk -v n="$name" -v t="$ticks" '{ printf "%s %.2f\n", n, ($14 + $15) / t }' "/proc/${pids[$name]}/stat" 2>/dev/null || true
  done
  local sum=0
  local postmaster
  postmaster=$(head -1 "$DIR/postgres/postmaster.pid" 2>/dev/null || true)
  for pid in $postmaster $([[ -n $postmaster ]] && pgrep -P "$postmaster"); do
    sum=$(awk -v s="$sum" '{ print s + $14 + $15 + $16 + $17 }' "/proc/$pid/stat" 2>/dev/null || echo "$sum")
  done
  awk -v s="$sum" -v t="$ticks" 'BEGIN { printf "database %.2f\n", s / t }'
  awk -v t="$ticks" '{ printf "loadgen %.2f\n", ($14 + $15) / t }' "/proc/$loadgen/stat" 2>/dev/null || true
}

# wait_healthy NAME ADDRESS: until `emporium health` answers, or the process exits.
wait_healthy() {
  local name=$1 address=$2
  for attempt in $(seq 1 240); do
    if "$BIN/emporium" health --addr "$address" >/dev/null 2>&1; then
      echo "$name: $("$BIN/emporium" health --addr "$address") on $address"
      return 0
    fi
    if ! kill -0 "${pids[$name]}" 2>/dev/null; then
      echo "topology: $name exited; its log:" >&2
      cat "$DIR/logs/$name.log" >&2
      exit 1
    fi
    sleep 0.5
  done
  echo "topology: $name was not healthy within 2 minutes; its log: $DIR/logs/$name.log" >&2
  exit 1
}

step "seeding an embedded PostgreSQL in $DIR/postgres"
"$BIN/emporium" seed --data-dir "$DIR/postgres" --products 2000 --users 1000 --sellers 20 \
  --manifest "$DIR/seed.json" 2>"$DIR/logs/seed.log"

step "starting the database on 127.0.0.1:$PG_PORT"
"${pin[@]}" "$BIN/emporium" postgres --data-dir "$DIR/postgres" --port "$PG_PORT" --url-file "$DIR/database-url" \
  >"$DIR/logs/postgres.log" 2>&1 &
pids[postgres]=$!
for attempt in $(seq 1 240); do
  [[ -s $DIR/database-url ]] && break
  if ! kill -0 "${pids[postgres]}" 2>/dev/null; then
    echo "topology: the database exited; its log:" >&2
    cat "$DIR/logs/postgres.log" >&2
    exit 1
  fi
  sleep 0.5
done
DATABASE_URL=$(cat "$DIR/database-url")

STOREFRONT=auth,catalog,cart,inventory,reviews
# Every service by where it runs, for --peers.
peers_storefront="auth=$S1|$S2,catalog=$S1|$S2,cart=$S1|$S2,inventory=$S1|$S2,reviews=$S1|$S2"
peers_money="payments=$MONEY,orders=$MONEY"
peers_after="shipping=$AFTER,notifications=$AFTER,admin=$AFTER,support=$AFTER"

# serve NAME ADDRESS SERVICES PEERS: one service process.
serve() {
  local name=$1 address=$2 services=$3 peers=$4
  # Checkout reservations live 2 minutes here (the default is 15), as in `make demo`.
  "${pin[@]}" "$BIN/emporium" serve --database-url "$DATABASE_URL" --keys-dir "$DIR/keys" --listen "$address" \
    --services "$services" ${peers:+--peers "$peers"} --setting orders.checkout-reservation-ttl=120 \
    --log-level warning >>"$DIR/logs/$name.log" 2>&1 &
  pids[$name]=$!
}

if [[ $SINGLE == 1 ]]; then
  step "starting every service in one process"
  serve storefront-1 "$S1" auth,catalog,cart,inventory,reviews,payments,orders,shipping,notifications,admin,support ""
  wait_healthy storefront-1 "$S1"
  peers_storefront="auth=$S1,catalog=$S1,cart=$S1,inventory=$S1,reviews=$S1"
  peers_money="payments=$S1,orders=$S1"
  peers_after="shipping=$S1,notifications=$S1,admin=$S1,support=$S1"
else
  step "starting the service processes"
  # The first one creates the signing keys the others load.
  serve storefront-1 "$S1" "$STOREFRONT" "$peers_money,$peers_after"
  wait_healthy storefront-1 "$S1"
  serve storefront-2 "$S2" "$STOREFRONT" "$peers_money,$peers_after"
  serve money "$MONEY" payments,orders "$peers_storefront,$peers_after"
  serve after-sales "$AFTER" shipping,notifications,admin,support "$peers_storefront,$peers_money"
  wait_healthy storefront-2 "$S2"
  wait_healthy money "$MONEY"
  wait_healthy after-sales "$AFTER"
fi

step "starting the gateway on $GATEWAY (HTTP/JSON and the storefront page on $HTTP)"
# loadgen logs in 200 customers and sets stock as one admin: the per-principal limit is raised
# so that the admin's set-up is not throttled; per-client stays at its default.
"${pin[@]}" "$BIN/emporium" gateway --listen "$GATEWAY" --http-listen "$HTTP" --keys-dir "$DIR/keys" \
  --peers "$peers_storefront,$peers_money,$peers_after" --rate-per-principal 5000 --burst-per-principal 5000 \
  --log-level warning >"$DIR/logs/gateway.log" 2>&1 &
pids[gateway]=$!
wait_healthy gateway "$GATEWAY"

if [[ $WAIT == 0 ]]; then
  echo
  echo "gateway: $GATEWAY (storefront page and HTTP/JSON: http://$HTTP/)   storefront: $S1 $S2   money: $MONEY   after-sales: $AFTER"
  echo "database: $DATABASE_URL   keys: $DIR/keys   logs: $DIR/logs"
  echo "Ctrl-C stops everything."
  while true; do sleep 3600; done
fi

if [[ $SWEEP == 1 ]]; then
  step "loadgen sweep through the gateway${CPUS:+ (system on CPUs $CPUS)}"
  status=0
  "${loadgen_pin[@]}" "$BIN/loadgen" sweep --scenario checkout --target "$GATEWAY" --manifest "$DIR/seed.json" \
    --customers 200 --concurrency 1,2,4,8,16,32 --step-duration 8s --warmup 2s --json "$DIR/sweep.json" \
    2>&1 | tee "$DIR/logs/loadgen.log" || status=$?
  step "stopping every process (each drains)"
  stop_all
  echo "sweep: $DIR/sweep.json   logs: $DIR/logs"
  exit "$status"
fi

seconds=${DURATION%s}
step "checkout through the gateway: $USERS shoppers for $DURATION$([[ $KILL == 1 ]] && echo ", storefront-2 killed at 1/3 of the measured time and restarted at 1/2")"
status=0
"${loadgen_pin[@]}" "$BIN/loadgen" run --scenario checkout --target "$GATEWAY" --manifest "$DIR/seed.json" \
  --users "$USERS" --customers 200 --set-stock --duration "$DURATION" --warmup 5s --zipf 1.1 \
  --json "$DIR/checkout.json" --csv "$DIR/checkout.csv" --html "$DIR/checkout.html" \
  > >(tee "$DIR/logs/loadgen.log") 2>&1 &
loadgen=$!
# The clock starts when loadgen has prepared its customers and starts the run.
until grep -q "running checkout for" "$DIR/logs/loadgen.log" 2>/dev/null; do
  kill -0 "$loadgen" 2>/dev/null || break
  sleep 0.5
done
sleep 5 # loadgen's warm-up
if [[ $KILL == 1 ]]; then
  sleep $((seconds / 3))
  echo "[topology] killing storefront-2 (SIGKILL)"
  kill -KILL "${pids[storefront-2]}" 2>/dev/null || true
  wait "${pids[storefront-2]}" 2>/dev/null || true
  sleep $((seconds / 2 - seconds / 3))
  echo "[topology] restarting storefront-2"
  serve storefront-2 "$S2" "$STOREFRONT" "$peers_money,$peers_after"
  wait_healthy storefront-2 "$S2"
else
  # Where the CPU goes: each process's CPU time over the measured window.
  cpu_snapshot >"$DIR/cpu-before"
  until grep -q "checking invariants" "$DIR/logs/loadgen.log" 2>/dev/null; do
    kill -0 "$loadgen" 2>/dev/null || break
    sleep 0.5
  done
  cpu_snapshot >"$DIR/cpu-after"
fi
wait "$loadgen" || status=$?

if [[ $KILL != 1 && -s $DIR/cpu-after ]]; then
  step "CPU per process over the measured window (user + system)"
  python3 - "$DIR/cpu-before" "$DIR/cpu-after" "$DIR/checkout.json" "$seconds" <<'PY'
import json, sys
before = dict(line.split() for line in open(sys.argv[1]))
after = dict(line.split() for line in open(sys.argv[2]))
report = json.load(open(sys.argv[3]))
count = next(op["count"] for op in report["operations"] if op["operation"] == "checkout")
window = float(sys.argv[4])
total = 0.0
print(f"{'process':<14} {'CPU s':>7} {'cores':>6} {'ms per checkout':>16}")
for name in after:
    used = float(after[name]) - float(before.get(name, 0))
    total += used
    print(f"{name:<14} {used:7.1f} {used / window:6.2f} {1000 * used / max(count, 1):16.1f}")
print(f"{'all':<14} {total:7.1f} {total / window:6.2f} {1000 * total / max(count, 1):16.1f}")
print(f"{count} checkouts in {window:.0f} s: {count / window:.1f}/s")
PY
fi

step "stopping every process (each drains)"
stop_all

echo
echo "report:  $DIR/checkout.html (and checkout.json, checkout.csv)"
echo "logs:    $DIR/logs"
if ((status != 0)); then
  echo "topology: loadgen failed (exit status $status; 3 means a business invariant is broken): see above" >&2
  exit "$status"
fi
