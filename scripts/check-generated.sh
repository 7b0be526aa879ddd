#!/usr/bin/env bash
# Fails when the committed generated code differs from what `make generate` produces now.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$root/scripts/generate.sh" "$scratch" >/dev/null
status=0
for dir in Sources/ProtoC Sources/Messages/Generated Sources/RPC/Generated Sources/CommerceProtoC Sources/CommerceAPI/Generated; do
  if ! diff -r "$root/$dir" "$scratch/$dir" >"$scratch/diff.txt"; then
    echo "check-generated: $dir is stale; run 'make generate' and commit the result" >&2
    head -40 "$scratch/diff.txt" >&2
    status=1
  fi
done
[ $status -eq 0 ] && echo "check-generated: generated code is up to date"
exit $status
