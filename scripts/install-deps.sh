#!/usr/bin/env bash
# Installs the Debian packages Emporium builds and runs with, when any is missing.
# Safe to run repeatedly: does nothing (and needs no network) when everything is present.
set -euo pipefail

packages=(
  pkg-config
  libprotobuf-c-dev      # protobuf-c runtime (pack/unpack)
  protobuf-c-compiler    # protoc-c, for `make generate`
  libprotobuf-dev        # google/protobuf/*.proto well-known types, for `make generate`
  libzstd-dev            # zstd streams on the wire
  libpq-dev              # PostgreSQL client library
  postgresql             # initdb/pg_ctl for the embedded database
  libsodium-dev          # argon2id password hashing (AuthService)
  zlib1g-dev             # DEFLATE for HdrHistogram interval logs (LoadCore)
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

if ! command -v swift >/dev/null; then
  echo "install-deps: 'swift' is not on PATH; install Swift 6.1 or later (https://swift.org/install)" >&2
  exit 1
fi

[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
