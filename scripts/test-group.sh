#!/usr/bin/env bash
# Runs one group of `make test` (the command after the limit) with a time limit, showing its
# output as it comes. A group that outlives the limit fails instead of holding CI until its own
# limit: the tests it started and never finished are listed, the test process is sent SIGQUIT
# (Swift's backtracer prints every thread's stack), and then everything is stopped.
#
#   scripts/test-group.sh SECONDS swift test --skip-build ...
set -uo pipefail
limit=$1
shift
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-enable=yes,interactive=no,symbolicate=fast}"

"$@" >"$log" 2>&1 &
pid=$!
tail -n +1 -f --pid="$pid" "$log" &
deadline=$((SECONDS + limit))
while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
  sleep 2
done
if ! kill -0 "$pid" 2>/dev/null; then
  wait "$pid"
  status=$?
  wait
  exit "$status"
fi

echo >&2
echo "test-group: still running after ${limit} s: $*" >&2
# The backtracer prints every thread's stack and lets the process go on: wait for it (its exit
# also flushes the test output, which a file gets in blocks), then stop everything and list the
# tests that never finished.
pkill -QUIT -f 'PackageTests\.xctest' 2>/dev/null
for _ in $(seq 1 45); do
  grep -q '^Backtrace took' "$log" && break
  sleep 2
done
pkill -TERM -f 'PackageTests\.xctest' 2>/dev/null
sleep 5
pkill -KILL -f 'PackageTests\.xctest' 2>/dev/null
kill "$pid" 2>/dev/null
wait
echo "test-group: tests started and not finished:" >&2
# swift-testing's lines: '◇ Test NAME started.' and '✔/✘ Test NAME passed|failed ...'
# (NAME may be followed by 'with N test cases').
awk '
  /^[^ ]+ Test case / || /^[^ ]+ Test run / { next }
  /^[^ ]+ (Test|Suite) .* started\.$/ { name = $0; sub(/^[^ ]+ /, "", name); sub(/ started\.$/, "", name); open[name] = 1 }
  /^[^ ]+ (Test|Suite) .* (passed|failed) after [0-9.]+ seconds/ {
    name = $0; sub(/^[^ ]+ /, "", name)
    sub(/ (with [0-9]+ test cases? )?(passed|failed) after [0-9.]+ seconds.*$/, "", name); delete open[name]
  }
  END { for (name in open) print "  " name }
' "$log" >&2
exit 1
