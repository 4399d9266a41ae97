#!/usr/bin/env bash
# Installs what itpn needs on a fresh Debian/Ubuntu machine: oneDNN (the default sgemm) and OpenBLAS (OpenMP build,
# the alternative sgemm) for the native CPU backend, the npm dependencies (this builds the addon with node-gyp),
# and the TypeScript build.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! dpkg -s libdnnl-dev >/dev/null 2>&1 || { ! dpkg -s libopenblas-openmp-dev >/dev/null 2>&1 && ! dpkg -s libopenblas-dev >/dev/null 2>&1; }; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas-openmp-dev libdnnl-dev g++ make python3 >/dev/null
fi
npm ci --no-audit --no-fund
npm run build
