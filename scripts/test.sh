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
# The AMD GPU plugin (libzaya-hip.so): a separate configure that builds only the plugin, with
# hipcc for gfx90a (CDNA2) and gfx1030 (RDNA2), warnings as errors. A HIP compile error fails
# here; the plugin's kernels are tested by the emulated-device tests in ctest below.
HIP_BUILD_DIR="${BUILD_DIR}-hip"
cmake -S . -B "$HIP_BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DZAYA_WERROR=ON -DZAYA_BUILD_TESTS=OFF \
  -DZAYA_BACKEND_HIP=ON -DZAYA_HIP_ARCHS="gfx90a;gfx1030"
cmake --build "$HIP_BUILD_DIR" -j "$JOBS" --target zaya_hip_plugin
# The core loads it (no GPU here: the log says why it runs on the CPU).
ZAYA_HIP_PLUGIN="$(cd "$HIP_BUILD_DIR" && pwd)/libzaya-hip.so" "$BUILD_DIR/zaya" info \
  --model tests/data/checkpoints/tiny-a/native-f32 --backend auto
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"

# ---- Always: the file parsers and hostile-input tests under AddressSanitizer + UBSan --------------
# (GCC, -O1, build-asan-parsers): safetensors / GGUF / config / tokenizer / template limits and the
# quantized-block code. Timed at ~2.5 min build + 15 s run on 2 cores; the full sanitizer suite,
# TSan and fuzzing below stay opt-in (three more full builds would take CI past 20 minutes).
if [ "${ZAYA_SANITIZERS:-0}" != 1 ]; then
  PARSERS_DIR="${BUILD_DIR}-asan-parsers"
  PARSER_TESTS=(test_gguf test_model_malformed test_hardening_files test_hardening_limits test_hardening_text test_model_quant)
  cmake -S . -B "$PARSERS_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1" \
    "-DCMAKE_CXX_FLAGS=-fno-sanitize-recover=all -D_GLIBCXX_ASSERTIONS" "-DCMAKE_C_FLAGS=-fno-sanitize-recover=all" \
    -DZAYA_SANITIZE=address,undefined
  cmake --build "$PARSERS_DIR" -j "$JOBS" --target "${PARSER_TESTS[@]}"
  ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    ctest --test-dir "$PARSERS_DIR" --output-on-failure -j "$JOBS" -R "^($(IFS='|'; echo "${PARSER_TESTS[*]}"))\$"
fi

# ---- Hardening (docs/SECURITY.md): sanitizers and fuzzing -----------------------------------------
# Opt-in until a full CI run of it has been timed and seen green: ZAYA_SANITIZERS=1 runs it;
# FUZZ_SECONDS sets the fuzz time.
if [ "${ZAYA_SANITIZERS:-0}" = 1 ]; then
  # 1. The whole doctest suite under AddressSanitizer + UndefinedBehaviorSanitizer (GCC; any
  #    report aborts the test; _GLIBCXX_ASSERTIONS also traps out-of-range container access).
  ASAN_BUILD_DIR="${ASAN_BUILD_DIR:-build-asan}"
  cmake -S . -B "$ASAN_BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g1" \
    "-DCMAKE_CXX_FLAGS=-fno-sanitize-recover=all -D_GLIBCXX_ASSERTIONS" "-DCMAKE_C_FLAGS=-fno-sanitize-recover=all" \
    -DZAYA_SANITIZE=address,undefined
  cmake --build "$ASAN_BUILD_DIR" -j "$JOBS"
  # Not run here (documented in docs/SECURITY.md):
  #  - packaging / FFI tests that load the instrumented libzaya into uninstrumented programs
  #    (Python, Rust, an installed-package consumer): ASan needs to be the first library loaded;
  #    the C ABI they wrap is covered by test_capi, test_capi_threads and the C examples;
  #  - test_hip_forward: purely numeric (emulated GPU forward vs the CPU), ~8 minutes under ASan;
  #  - test_sampling's throughput bound (wall-clock, meaningless under ASan): the rest of
  #    test_sampling runs below.
  ASAN_SKIP='^(capi_install|python_bindings|rust_bindings|example_python|example_rust|test_hip_forward|test_sampling)$'
  export ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  ctest --test-dir "$ASAN_BUILD_DIR" --output-on-failure -j "$JOBS" -E "$ASAN_SKIP"
  "$ASAN_BUILD_DIR/test_sampling" --test-case-exclude="sampling a full-size vocabulary is fast"
  unset ASAN_OPTIONS UBSAN_OPTIONS
  # 2. Threading under ThreadSanitizer (build-tsan): the C ABI's threading tests
  #    (scripts/test-tsan.sh), then the other tests that run threads: the forward pass on the
  #    thread pool, concurrent template renders and tokenizer encodes, RSA waves on two threads
  #    and a cancel from another thread.
  JOBS="$JOBS" bash scripts/test-tsan.sh
  cmake --build build-tsan -j "$JOBS" --target test_model_golden test_chat_template_api test_tokenizer test_rsa_model
  tsan_run=()
  command -v setarch >/dev/null 2>&1 && setarch "$(uname -m)" -R true 2>/dev/null && tsan_run=(setarch "$(uname -m)" -R)
  export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
  "${tsan_run[@]}" build-tsan/test_model_golden
  "${tsan_run[@]}" build-tsan/test_chat_template_api -tc='*concurrently*'
  "${tsan_run[@]}" build-tsan/test_tokenizer -tc='*concurrent*'
  "${tsan_run[@]}" build-tsan/test_rsa_model -tc='end?to?end:?same?seed*,end?to?end:?the?decode?budget*'
  unset TSAN_OPTIONS
  # 3. Every libFuzzer target for a short time (clang, build-fuzz); a finding fails the run.
  JOBS="$JOBS" FUZZ_JOBS="$JOBS" bash scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
fi
