#!/usr/bin/env bash
# Runs every libFuzzer target (fuzz/, docs/SECURITY.md) for a fixed time each.
#   scripts/fuzz.sh [seconds-per-target] [target ...]     (default: 60 s, every target)
# Environment:
#   BUILD_DIR   clang + ASan/UBSan + fuzz build directory (default build-fuzz; configured here
#               if needed; only the fuzz targets and the libraries they test are built)
#   JOBS        build parallelism (default 1)
#   FUZZ_JOBS   targets fuzzed at the same time (default 1)
#   FUZZ_ARGS   extra libFuzzer flags, e.g. "-only_ascii=1"
# Each target starts from its committed seeds (fuzz/corpus/<target>, read only) plus what earlier
# runs found ($BUILD_DIR/fuzz-corpus/<target>, where new inputs are written). Crashes, leaks,
# timeouts (> 10 s per input) and out-of-memory (> 2 GiB RSS, or a single allocation > 1 GiB)
# are saved as $BUILD_DIR/fuzz-artifacts/<target>-crash-* and fail the script.
# To reproduce a finding: $BUILD_DIR/fuzz/<target> <artifact file>
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-60}"
shift || true
BUILD_DIR="${BUILD_DIR:-build-fuzz}"
JOBS="${JOBS:-1}"
FUZZ_JOBS="${FUZZ_JOBS:-1}"
ALL_TARGETS=(fuzz_safetensors fuzz_safetensors_index fuzz_gguf fuzz_config fuzz_tokenizer_json fuzz_tokenizer_encode
             fuzz_json fuzz_chat_template fuzz_chat_output fuzz_capi)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi

if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz.sh: clang++ is needed (apt-get install clang libclang-rt-dev)" >&2
  exit 1
fi
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ] || ! grep -q '^ZAYA_FUZZ:BOOL=ON' "$BUILD_DIR/CMakeCache.txt"; then
  cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -gline-tables-only" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -gline-tables-only" \
        "-DCMAKE_CXX_FLAGS=-fno-sanitize-recover=all -D_GLIBCXX_ASSERTIONS" \
        -DZAYA_SANITIZE=address,undefined -DZAYA_FUZZ=ON -DZAYA_BUILD_TESTS=OFF >/dev/null
fi
cmake --build "$BUILD_DIR" -j "$JOBS" --target "${TARGETS[@]}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
ARTIFACTS="$BUILD_DIR/fuzz-artifacts"
LOGS="$BUILD_DIR/fuzz-logs"
mkdir -p "$ARTIFACTS" "$LOGS"

run_one() {
  local target="$1" name="${1#fuzz_}"
  local work="$BUILD_DIR/fuzz-corpus/$name" seeds="fuzz/corpus/$name"
  mkdir -p "$work"
  local dict=()
  [ -f "fuzz/dict/$name.dict" ] && dict=("-dict=fuzz/dict/$name.dict")
  local start end status=0
  start=$(date +%s)
  # shellcheck disable=SC2086
  "$BUILD_DIR/fuzz/$target" "$work" "$seeds" "${dict[@]}" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 \
      -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$ARTIFACTS/$target-" ${FUZZ_ARGS:-} >"$LOGS/$target.log" 2>&1 || status=$?
  end=$(date +%s)
  local execs corpus
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$LOGS/$target.log" | tail -1)
  corpus=$(find "$work" -type f | wc -l)
  printf '%-24s %5ss %10s execs %6s corpus  %s\n' "$target" "$((end - start))" "${execs:-?}" "$corpus" \
      "$([ $status -eq 0 ] && echo ok || echo "FAILED (exit $status, log $LOGS/$target.log)")"
  return $status
}

failed=0
echo "fuzz.sh: ${#TARGETS[@]} targets, ${SECONDS_PER_TARGET}s each (logs in $LOGS)"
if [ "$FUZZ_JOBS" -le 1 ]; then
  for t in "${TARGETS[@]}"; do run_one "$t" || failed=1; done
else
  pids=()
  for t in "${TARGETS[@]}"; do
    run_one "$t" & pids+=($!)
    while [ "$(jobs -rp | wc -l)" -ge "$FUZZ_JOBS" ]; do sleep 1; done
  done
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
fi
if [ $failed -ne 0 ]; then
  echo "fuzz.sh: FINDINGS - see the logs above and $ARTIFACTS" >&2
  for t in "${TARGETS[@]}"; do
    grep -m3 -E 'ERROR: |FUZZ CHECK FAILED|runtime error|Test unit written' "$LOGS/$t.log" 2>/dev/null | sed "s/^/  $t: /" >&2 || true
  done
  exit 1
fi
echo "fuzz.sh: no findings"
