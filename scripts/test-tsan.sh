#!/usr/bin/env bash
# The C ABI's threading tests under ThreadSanitizer.
#   scripts/test-tsan.sh            (BUILD_DIR=build-tsan by default, JOBS=1)
# Builds only what the tests need (the core, libzaya.so and test_capi_threads / test_capi) with
# -fsanitize=thread and runs them; any data race, lock-order inversion or use of a destroyed
# mutex fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build-tsan}"
JOBS="${JOBS:-1}"

generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZAYA_SANITIZE=thread \
      -DZAYA_WERROR=ON >/dev/null
cmake --build "$BUILD_DIR" --target test_capi_threads test_capi -j "$JOBS"

export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
# ASLR layouts of newer kernels can break TSan's shadow mapping; run without randomisation when
# setarch is available.
run=()
command -v setarch >/dev/null 2>&1 && setarch "$(uname -m)" -R true 2>/dev/null && run=(setarch "$(uname -m)" -R)
"${run[@]}" "$BUILD_DIR/test_capi_threads"
"${run[@]}" "$BUILD_DIR/test_capi"
echo "ThreadSanitizer: C ABI threading tests passed"
