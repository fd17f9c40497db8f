#!/usr/bin/env bash
# Installs the Debian 12 packages credwatch needs to build, test and benchmark.
# Only missing packages are installed. Works as root, or through sudo otherwise.
# No downloads other than Debian packages.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libsimdjson-dev libabsl-dev librocksdb-dev libyaml-cpp-dev libre2-dev
  libboost-dev libboost-system-dev libssl-dev zlib1g-dev libsystemd-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)
# Optional extras: peers for the benchmark comparison (bench/peers.sh).
if [[ "${CREDWATCH_SETUP_PEERS:-0}" == 1 ]]; then
  packages+=(sec fail2ban)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
  SUDO=(sudo)
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
