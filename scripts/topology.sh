#!/usr/bin/env bash
# The system as separate processes on this machine, driven through the API gateway:
#
#   postgres       one embedded PostgreSQL cluster (`emporium postgres`), seeded
#   storefront-1   auth, catalog, cart, inventory, reviews        (two replicas of one role,
#   storefront-2   auth, catalog, cart, inventory, reviews         reached through the pools)
#   money          payments, orders
#   after-sales    shipping, notifications, admin, support
#   gateway        `emporium gateway`: every client call enters here
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
for port in $(seq "$PORT" $((PORT + 5))); do
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
"$BIN/emporium" postgres --data-dir "$DIR/postgres" --port "$PG_PORT" --url-file "$DIR/database-url" \
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
  "$BIN/emporium" serve --database-url "$DATABASE_URL" --keys-dir "$DIR/keys" --listen "$address" \
    --services "$services" --peers "$peers" --setting orders.checkout-reservation-ttl=120 \
    --log-level warning >>"$DIR/logs/$name.log" 2>&1 &
  pids[$name]=$!
}

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

step "starting the gateway on $GATEWAY"
# loadgen logs in 200 customers and sets stock as one admin: the per-principal limit is raised
# so that the admin's set-up is not throttled; per-client stays at its default.
"$BIN/emporium" gateway --listen "$GATEWAY" --keys-dir "$DIR/keys" \
  --peers "$peers_storefront,$peers_money,$peers_after" --rate-per-principal 5000 --burst-per-principal 5000 \
  --log-level warning >"$DIR/logs/gateway.log" 2>&1 &
pids[gateway]=$!
wait_healthy gateway "$GATEWAY"

if [[ $WAIT == 0 ]]; then
  echo
  echo "gateway: $GATEWAY   storefront: $S1 $S2   money: $MONEY   after-sales: $AFTER"
  echo "database: $DATABASE_URL   keys: $DIR/keys   logs: $DIR/logs"
  echo "Ctrl-C stops everything."
  while true; do sleep 3600; done
fi

seconds=${DURATION%s}
step "checkout through the gateway: $USERS shoppers for $DURATION$([[ $KILL == 1 ]] && echo ", storefront-2 killed at 1/3 of the measured time and restarted at 1/2")"
status=0
"$BIN/loadgen" run --scenario checkout --target "$GATEWAY" --manifest "$DIR/seed.json" \
  --users "$USERS" --customers 200 --set-stock --duration "$DURATION" --warmup 5s --zipf 1.1 \
  --json "$DIR/checkout.json" --csv "$DIR/checkout.csv" --html "$DIR/checkout.html" \
  > >(tee "$DIR/logs/loadgen.log") 2>&1 &
loadgen=$!
if [[ $KILL == 1 ]]; then
  # The clock starts when loadgen has prepared its customers and starts the run.
  until grep -q "running checkout for" "$DIR/logs/loadgen.log" 2>/dev/null; do
    kill -0 "$loadgen" 2>/dev/null || break
    sleep 0.5
  done
  sleep $((5 + seconds / 3))
  echo "[topology] killing storefront-2 (SIGKILL)"
  kill -KILL "${pids[storefront-2]}" 2>/dev/null || true
  wait "${pids[storefront-2]}" 2>/dev/null || true
  sleep $((seconds / 2 - seconds / 3))
  echo "[topology] restarting storefront-2"
  serve storefront-2 "$S2" "$STOREFRONT" "$peers_money,$peers_after"
  wait_healthy storefront-2 "$S2"
fi
wait "$loadgen" || status=$?

step "stopping every process (each drains)"
stop_all

echo
echo "report:  $DIR/checkout.html (and checkout.json, checkout.csv)"
echo "logs:    $DIR/logs"
if ((status != 0)); then
  echo "topology: loadgen failed (exit status $status; 3 means a business invariant is broken): see above" >&2
  exit "$status"
fi
