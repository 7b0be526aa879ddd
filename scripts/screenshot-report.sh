#!/usr/bin/env bash
# Renders a loadgen HTML report (loadgen run/merge/report --html FILE) to a PNG with headless
# Chromium, to look at the charts as a browser draws them. Not part of `make test`.
#
#   scripts/screenshot-report.sh report.html [report.png] [WIDTHxHEIGHT]
#
# The PNG defaults to the report's name with .png; the window to 1400x4000 (the page is as tall
# as its charts: a mix of several journeys needs more). Installs Chromium with apt-get when no
# chromium, chromium-browser or google-chrome is on the PATH (root only).
set -euo pipefail
if [[ $# -lt 1 ]]; then
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
html=$1
png=${2:-${html%.html}.png}
size=${3:-1400x4000}
[[ -f $html ]] || { echo "no such file: $html" >&2; exit 1; }

browser=""
for candidate in chromium chromium-browser google-chrome; do
  if command -v "$candidate" >/dev/null; then browser=$candidate; break; fi
done
if [[ -z $browser ]]; then
  echo "installing chromium (apt-get)" >&2
  apt-get install -y chromium >/dev/null || { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; }
  browser=chromium
fi

absolute=$(cd "$(dirname "$html")" && pwd)/$(basename "$html")
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# --user-data-dir: a throwaway profile, so a browser already running elsewhere is not reused.
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
  --screenshot="$png" --window-size="${size/x/,}" "file://$absolute" 2>/dev/null
echo "$png"
