#!/usr/bin/env bash
# The threading tests under ThreadSanitizer.
#   scripts/test-tsan.sh            (BUILD_DIR=build-tsan by default, JOBS=1)
# Builds only what the tests need with -fsanitize=thread (clang when installed: it compiles much
# faster than GCC) and runs them; any data race, lock-order inversion or use of a destroyed mutex
# fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build-tsan}"
JOBS="${JOBS:-1}"

generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
compiler=()
command -v clang++ >/dev/null 2>&1 && compiler=(-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++)
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" "${generator[@]}" "${compiler[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1" \
        -DZAYA_SANITIZE=thread -DZAYA_WERROR=ON >/dev/null
fi
TESTS=(test_capi_threads test_capi test_model_golden test_chat_template_api test_tokenizer test_rsa_model)
cmake --build "$BUILD_DIR" --target "${TESTS[@]}" -j "$JOBS"

export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
# ASLR layouts of newer kernels can break TSan's shadow mapping; run without randomisation when
# setarch is available.
run=()
command -v setarch >/dev/null 2>&1 && setarch "$(uname -m)" -R true 2>/dev/null && run=(setarch "$(uname -m)" -R)
# The C ABI: handles used from many threads, cancel and callbacks from other threads.
"${run[@]}" "$BUILD_DIR/test_capi_threads"
"${run[@]}" "$BUILD_DIR/test_capi"
# The forward pass on the thread pool; concurrent template renders and tokenizer encodes; RSA waves
# on two threads and a cancel from another thread.
"${run[@]}" "$BUILD_DIR/test_model_golden"
"${run[@]}" "$BUILD_DIR/test_chat_template_api" -tc='*concurrently*'
"${run[@]}" "$BUILD_DIR/test_tokenizer" -tc='*concurrent*'
"${run[@]}" "$BUILD_DIR/test_rsa_model" -tc='end?to?end:?same?seed*,end?to?end:?the?decode?budget*'
echo "ThreadSanitizer: threading tests passed"
