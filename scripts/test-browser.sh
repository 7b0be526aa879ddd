#!/usr/bin/env bash
# The storefront page in a real headless browser (`make test-browser`; not part of `make test`).
#
#   1. installs what it needs when missing: Debian's chromium and chromium-driver (apt-get),
#      Selenium for Python (pip);
#   2. builds emporium;
#   3. seeds an embedded PostgreSQL (200 products, 20 accounts, 5 sellers) in $BROWSER_DIR,
#      starts every service on it (`emporium serve`) and the gateway in front (`emporium
#      gateway`), on free loopback ports, and waits until each answers;
#   4. runs scripts/storefront-journey.py in headless Chromium against the gateway's page:
#      filtered search, product, add to cart, a failed sign-in, registration, a declined card,
#      checkout with a sandbox test card, the order's status changing live, its cancellation;
#   5. prints where the screenshots are (one PNG per step in $BROWSER_DIR) and stops everything.
#
# Environment (all optional):
#   BROWSER_DIR      where the database, logs and screenshots go (default .browser/ here;
#                    recreated on every run)
#   BROWSER_TIMEOUT  seconds each browser wait may take (default 60)
#   CONFIGURATION    debug (default) or release
#   SWIFT            the swift driver (default: swift on PATH, else /opt/swift/usr/bin/swift)
set -euo pipefail
cd "$(dirname "$0")/.."

SWIFT=${SWIFT:-$(command -v swift || echo /opt/swift/usr/bin/swift)}
DIR=${BROWSER_DIR:-$PWD/.browser}
CONFIGURATION=${CONFIGURATION:-debug}

started=$(date +%s)
step() { printf '\n[%4ss] == %s\n' "$(($(date +%s) - started))" "$*"; }

step "checking for chromium, chromium-driver and selenium"
missing=()
for package in chromium chromium-driver; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "installing ${missing[*]}"
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "test-browser: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! python3 -c 'import selenium' 2>/dev/null; then
  echo "installing selenium (pip)"
  # A Debian system Python refuses pip outside a virtual environment (PEP 668): then per user.
  python3 -m pip install --quiet selenium 2>/dev/null ||
    python3 -m pip install --quiet --user --break-system-packages selenium
fi

step "building emporium ($CONFIGURATION)"
"$SWIFT" build -c "$CONFIGURATION" --product emporium
BIN=$("$SWIFT" build -c "$CONFIGURATION" --show-bin-path)

# Three free loopback ports: the services, the gateway's binary face, its HTTP face.
read -r SERVE_PORT GATEWAY_PORT HTTP_PORT < <(python3 -c '
import socket
sockets = [socket.socket() for _ in range(3)]
for s in sockets: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))
for s in sockets: s.close()')
SERVE=127.0.0.1:$SERVE_PORT
GATEWAY=127.0.0.1:$GATEWAY_PORT
HTTP=127.0.0.1:$HTTP_PORT

rm -rf "$DIR"
mkdir -p "$DIR/logs"
chmod 755 "$DIR"
declare -A pids=()
stop_all() {
  for name in gateway serve; do
    local pid=${pids[$name]:-}
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      wait "$pid" || true
    fi
  done
}
trap 'stop_all' EXIT
trap 'exit 130' INT TERM

# until_ready NAME COMMAND...: runs COMMAND every half second until it succeeds (2 minutes at
# most), or fails when the process NAME exits.
until_ready() {
  local name=$1
  shift
  for attempt in $(seq 1 240); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "${pids[$name]}" 2>/dev/null; then
      echo "test-browser: $name exited; its log:" >&2
      cat "$DIR/logs/$name.log" >&2
      exit 1
    fi
    sleep 0.5
  done
  echo "test-browser: $name was not ready within 2 minutes; its log: $DIR/logs/$name.log" >&2
  exit 1
}

step "seeding an embedded PostgreSQL in $DIR/postgres"
"$BIN/emporium" seed --data-dir "$DIR/postgres" --products 200 --users 20 --sellers 5 \
  --manifest "$DIR/seed.json" 2>"$DIR/logs/seed.log"

step "starting every service on $SERVE"
"$BIN/emporium" serve --data-dir "$DIR/postgres" --keys-dir "$DIR/keys" --listen "$SERVE" \
  --log-level warning >"$DIR/logs/serve.log" 2>&1 &
pids[serve]=$!
until_ready serve "$BIN/emporium" health --addr "$SERVE"

step "starting the gateway: binary $GATEWAY, HTTP http://$HTTP/"
"$BIN/emporium" gateway --upstream "$SERVE" --keys-dir "$DIR/keys" --listen "$GATEWAY" --http-listen "$HTTP" \
  --log-level warning >"$DIR/logs/gateway.log" 2>&1 &
pids[gateway]=$!
until_ready gateway "$BIN/emporium" health --addr "$GATEWAY"
until_ready gateway python3 -c "import urllib.request; urllib.request.urlopen('http://$HTTP/', timeout=2)"

step "the journey in headless Chromium"
status=0
python3 scripts/storefront-journey.py "http://$HTTP/" "$DIR" || status=$?

step "stopping the gateway and the services"
stop_all
echo
echo "screenshots: $DIR/*.png"
echo "logs:        $DIR/logs"
if ((status != 0)); then
  echo "test-browser: the journey failed (see above and $DIR/failure.png)" >&2
  exit "$status"
fi
