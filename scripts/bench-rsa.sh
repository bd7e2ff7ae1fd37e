#!/usr/bin/env bash
# scripts/bench-rsa.sh [MODEL_DIR] [rsa-bench options...]
#
# Aggregate decode tokens/s of one Markovian RSA stage of N = 1, 4, 16 sequences decoding
# together (`zaya rsa-bench`): what batching the population buys.
#
#   scripts/bench-rsa.sh                      # a small synthetic model (made on first use)
#   scripts/bench-rsa.sh /data/zaya1-8b-synth # the 8B geometry, made beforehand with
#                                             #   zaya synth --preset zaya1-8b --out /data/zaya1-8b-synth
#                                             # (~17 GB of bf16 weights; needs that much free disk and RAM to run fast)
#   BUILD=build-rsa scripts/bench-rsa.sh "" --sizes 1,2,4,8,16 --tokens 64 --repeat 3
#
# Environment: BUILD (build directory, default build), THREADS (default: all cores).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
MODEL=${1:-}
shift || true

if [ ! -x "$BUILD/zaya" ]; then
  cmake -S . -B "$BUILD" -G Ninja >/dev/null
  cmake --build "$BUILD" --target zaya_cli -j1
fi
if [ -z "$MODEL" ]; then
  MODEL=${TMPDIR:-/tmp}/zaya-bench-small
  if [ ! -f "$MODEL/config.json" ]; then
    "$BUILD/zaya" synth --preset small --dtype bf16 --out "$MODEL" --quiet
  fi
fi
THREAD_ARGS=()
if [ -n "${THREADS:-}" ]; then THREAD_ARGS=(--threads "$THREADS"); fi
exec "$BUILD/zaya" rsa-bench --model "$MODEL" --sizes 1,4,16 "${THREAD_ARGS[@]}" "$@"
