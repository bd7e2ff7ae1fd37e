#!/usr/bin/env bash
# The README's test command: installs what is needed, builds, and runs every test.
#   scripts/test.sh            (BUILD_DIR=build by default)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
JOBS="${JOBS:-$(nproc)}"
stage() { echo "test.sh: [$((SECONDS / 60))m$((SECONDS % 60))s] $*"; }  # CI logs show where time goes

bash scripts/install-deps.sh
[ -x scripts/fetch-tokenizer.sh ] && bash scripts/fetch-tokenizer.sh

generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
stage "release build"
cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DZAYA_WERROR=ON
cmake --build "$BUILD_DIR" -j "$JOBS"
# The AMD GPU plugin (libzaya-hip.so): a separate configure that builds only the plugin, with
# hipcc for gfx90a (CDNA2) and gfx1030 (RDNA2), warnings as errors. A HIP compile error fails
# here; the plugin's kernels are tested by the emulated-device tests in ctest below.
stage "HIP plugin build"
HIP_BUILD_DIR="${BUILD_DIR}-hip"
cmake -S . -B "$HIP_BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DZAYA_WERROR=ON -DZAYA_BUILD_TESTS=OFF \
  -DZAYA_BACKEND_HIP=ON -DZAYA_HIP_ARCHS="gfx90a;gfx1030"
cmake --build "$HIP_BUILD_DIR" -j "$JOBS" --target zaya_hip_plugin
# The core loads it (no GPU here: the log says why it runs on the CPU).
ZAYA_HIP_PLUGIN="$(cd "$HIP_BUILD_DIR" && pwd)/libzaya-hip.so" "$BUILD_DIR/zaya" info \
  --model tests/data/checkpoints/tiny-a/native-f32 --backend auto
stage "tests"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"

# ---- Hardening (docs/SECURITY.md): sanitizers and fuzzing, on every run --------------------------
# ZAYA_SANITIZERS=0 skips this part (a quick local run); CI always runs it. Clang builds these
# (about 2-3x faster to compile than GCC here), at -O1.
if [ "${ZAYA_SANITIZERS:-1}" != 0 ]; then
  # 1. build-san: the whole doctest suite under AddressSanitizer + UndefinedBehaviorSanitizer (any
  #    report aborts the test; _GLIBCXX_ASSERTIONS also traps out-of-range container access), in
  #    the same build as the libFuzzer targets (the libraries carry libFuzzer's coverage hooks,
  #    which the tests simply do not use). Exceptions:
  #  - packaging / FFI tests that load the instrumented libzaya into uninstrumented programs
  #    (Python, Rust, an installed-package consumer): ASan needs to be the first library loaded;
  #    the C ABI they wrap is covered by test_capi, test_capi_threads and the C examples;
  #  - the HIP emulator's tests (test_hip_emulation_kernels, test_hip_forward) run on their own
  #    with detect_stack_use_after_return=0: the emulator runs every GPU thread as a fiber, and
  #    ASan then creates and destroys a fake stack per fiber (measured: test_hip_forward > 13 min
  #    instead of 84 s, the emulator's kernel tests 84 s instead of 9 s); every other check is on;
  #  - test_sampling's throughput bound (wall clock, meaningless under ASan); the rest runs.
  stage "ASan+UBSan build"
  SAN_BUILD_DIR="${SAN_BUILD_DIR:-${BUILD_DIR}-san}"
  cmake -S . -B "$SAN_BUILD_DIR" "${generator[@]}" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
    "-DCMAKE_CXX_FLAGS=-fno-sanitize-recover=all -D_GLIBCXX_ASSERTIONS" "-DCMAKE_C_FLAGS=-fno-sanitize-recover=all" \
    -DZAYA_SANITIZE=address,undefined -DZAYA_FUZZ=ON -DZAYA_WERROR=ON
  cmake --build "$SAN_BUILD_DIR" -j "$JOBS"
  stage "tests under ASan+UBSan"
  SAN_HIP='^(test_hip_emulation_kernels|test_hip_forward)$'
  SAN_SKIP='^(capi_install|python_bindings|rust_bindings|example_python|example_rust|test_hip_emulation_kernels|test_hip_forward|test_sampling)$'
  asan_options="detect_leaks=1:strict_string_checks=1:check_initialization_order=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  export ASAN_OPTIONS="$asan_options:detect_stack_use_after_return=1"
  ctest --test-dir "$SAN_BUILD_DIR" --output-on-failure -j "$JOBS" -E "$SAN_SKIP"
  "$SAN_BUILD_DIR/test_sampling" --test-case-exclude="sampling a full-size vocabulary is fast"
  ASAN_OPTIONS="$asan_options:detect_stack_use_after_return=0" \
    ctest --test-dir "$SAN_BUILD_DIR" --output-on-failure -j "$JOBS" -R "$SAN_HIP"
  unset ASAN_OPTIONS UBSAN_OPTIONS
  # 2. Every libFuzzer target for FUZZ_SECONDS from its committed seeds, two at a time; a crash,
  #    leak, timeout or out-of-memory fails the run (scripts/fuzz.sh; longer runs: docs/SECURITY.md).
  stage "fuzzing"
  BUILD_DIR="$SAN_BUILD_DIR" JOBS="$JOBS" FUZZ_JOBS="$JOBS" bash scripts/fuzz.sh "${FUZZ_SECONDS:-10}"
  # 3. Threading under ThreadSanitizer (build-tsan): the C ABI's threading tests, the forward pass
  #    on the thread pool, concurrent template renders and tokenizer encodes, RSA waves on two
  #    threads and a cancel from another thread.
  stage "TSan build and tests"
  BUILD_DIR="${BUILD_DIR}-tsan" JOBS="$JOBS" bash scripts/test-tsan.sh
fi
stage "all passed"
