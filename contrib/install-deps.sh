#!/usr/bin/env bash
# Installs the Debian packages vaultwatch builds and tests with. Idempotent: installs only what
# is missing, runs apt-get update only when something is. Needs root (or sudo).
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build pkg-config
  libsecp256k1-dev libssl-dev libsqlite3-dev libspdlog-dev libfmt-dev
  libboost1.81-dev libboost-json1.81-dev libboost-program-options1.81-dev
  libzmq3-dev cppzmq-dev libsystemd-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 clang libclang-rt-14-dev
  git dpkg-dev systemd
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
