#!/usr/bin/env bash
# make demo: the whole system on this machine, measured. Starts an embedded PostgreSQL, migrates
# and seeds it, starts every service (`emporium serve`), runs a checkout load and a hot-product
# flash sale with loadgen (progress shown), checks the business invariants after each, writes
# the HTML report, prints where everything is, and stops everything.
#
# Environment (all optional):
#   DEMO_DIR        where the database, the manifest and the reports go (default: .demo/ here;
#                   the database is recreated on every run)
#   DEMO_PORT       the server's port on 127.0.0.1 (default 7790)
#   DEMO_DURATION   the checkout run's measured time (default 30s)
#   DEMO_HOT        the hot-product run's measured time (default 15s)
#   DEMO_USERS      concurrent shoppers (default 16)
#   SWIFT           the swift driver (default: swift on PATH, else /opt/swift/usr/bin/swift)
set -euo pipefail
cd "$(dirname "$0")/.."

SWIFT=${SWIFT:-$(command -v swift || echo /opt/swift/usr/bin/swift)}
DEMO_DIR=${DEMO_DIR:-$PWD/.demo}
DEMO_PORT=${DEMO_PORT:-7790}
DEMO_DURATION=${DEMO_DURATION:-30s}
DEMO_HOT=${DEMO_HOT:-15s}
DEMO_USERS=${DEMO_USERS:-16}
ADDR=127.0.0.1:$DEMO_PORT

started=$(date +%s)
step() { printf '\n[%4ss] == %s\n' "$(($(date +%s) - started))" "$*"; }

step "building emporium and loadgen"
"$SWIFT" build --product emporium
"$SWIFT" build --product loadgen
BIN=$("$SWIFT" build --show-bin-path)

if (exec 3<>/dev/tcp/127.0.0.1/"$DEMO_PORT") 2>/dev/null; then
  echo "demo: something already listens on $ADDR; set DEMO_PORT to a free port" >&2
  exit 1
fi

rm -rf "$DEMO_DIR/postgres" "$DEMO_DIR/keys"
mkdir -p "$DEMO_DIR"
chmod 755 "$DEMO_DIR"
SERVER_LOG=$DEMO_DIR/server.log
server=""
stop_server() {
  if [[ -n $server ]] && kill -0 "$server" 2>/dev/null; then
    kill -TERM "$server"
    wait "$server" || true
  fi
  server=""
}
trap 'stop_server' EXIT
trap 'exit 130' INT TERM

step "starting an embedded PostgreSQL in $DEMO_DIR/postgres, migrating and seeding it"
"$BIN/emporium" seed --data-dir "$DEMO_DIR/postgres" --products 2000 --users 1000 --sellers 20 \
  --manifest "$DEMO_DIR/seed.json"

step "starting every service on $ADDR (log: $SERVER_LOG)"
# Checkout reservations live 2 minutes here (the default is 15): a run's abandoned checkouts
# give their stock back soon.
"$BIN/emporium" serve --data-dir "$DEMO_DIR/postgres" --keys-dir "$DEMO_DIR/keys" --listen "$ADDR" \
  --setting orders.checkout-reservation-ttl=120 --log-level warning >"$SERVER_LOG" 2>&1 &
server=$!
for attempt in $(seq 1 240); do
  if "$BIN/emporium" health --addr "$ADDR" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then
    echo "demo: the server exited; its log:" >&2
    cat "$SERVER_LOG" >&2
    exit 1
  fi
  if ((attempt == 240)); then
    echo "demo: the server did not become healthy within 2 minutes; its log: $SERVER_LOG" >&2
    exit 1
  fi
  sleep 0.5
done
echo "serving: $("$BIN/emporium" health --addr "$ADDR")"

status=0
step "checkout: $DEMO_USERS shoppers for $DEMO_DURATION (log in, search, product page, add to cart, check out)"
"$BIN/loadgen" run --scenario checkout --target "$ADDR" --manifest "$DEMO_DIR/seed.json" \
  --users "$DEMO_USERS" --customers 200 --set-stock --duration "$DEMO_DURATION" --warmup 5s --zipf 1.1 \
  --json "$DEMO_DIR/checkout.json" --csv "$DEMO_DIR/checkout.csv" --html "$DEMO_DIR/checkout.html" || status=$?

step "hot-product: $((DEMO_USERS * 2)) buyers of one product with 300 units, for $DEMO_HOT (it sells out on purpose)"
"$BIN/loadgen" run --scenario hot-product --target "$ADDR" --manifest "$DEMO_DIR/seed.json" \
  --users $((DEMO_USERS * 2)) --customers 200 --stock 300 --duration "$DEMO_HOT" --warmup 0s \
  --json "$DEMO_DIR/hot-product.json" --csv "$DEMO_DIR/hot-product.csv" --html "$DEMO_DIR/hot-product.html" || status=$?

step "the report"
"$BIN/loadgen" report --json "$DEMO_DIR/checkout.json" --json "$DEMO_DIR/hot-product.json" \
  --html "$DEMO_DIR/report.html"

step "stopping the server and the database"
stop_server

echo
echo "report:    $DEMO_DIR/report.html"
echo "runs:      $DEMO_DIR/checkout.json, $DEMO_DIR/hot-product.json (and .csv, .html each)"
echo "server log: $SERVER_LOG"
if ((status != 0)); then
  echo "demo: a run failed (exit status $status): see above" >&2
  exit "$status"
fi
