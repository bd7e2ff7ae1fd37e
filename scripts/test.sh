#!/usr/bin/env bash
# The README's test command: installs what is needed, builds, and runs every test.
#   scripts/test.sh            (BUILD_DIR=build by default)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
JOBS="${JOBS:-$(nproc)}"

bash scripts/install-deps.sh
[ -x scripts/fetch-tokenizer.sh ] && bash scripts/fetch-tokenizer.sh

generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DZAYA_WERROR=ON
cmake --build "$BUILD_DIR" -j "$JOBS"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"
