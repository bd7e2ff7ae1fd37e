#!/usr/bin/env bash
# Retrains the default model models/zaya-arith from scratch (docs/DEFAULT_MODEL.md), on the CPU.
#
#   scripts/train-default-model.sh [OUT_DIR]        (default: models/zaya-arith)
#
# 1. installs PyTorch + OpenBLAS from Debian (scripts/install-train-deps.sh)
# 2. builds the engine (zaya CLI and libzaya.so) in $BUILD_DIR (default build-train): training
#    samples the model's own candidates through the engine, and evaluation runs on it
# 3. trains (tools/train/train.py; ~40 min on one core of a 2-core machine, one thread, fixed
#    seeds and step counts)
# 4. checks the checkpoint against the engine (tokenizer, chat template, logits),
#    evaluates it through the engine (tools/train/evaluate.py -> eval.json) and records the
#    seeded RSA run the tests replay (tools/train/record.py -> rsa_reference.json)
#
# Environment: BUILD_DIR, JOBS (parallel build jobs, default nproc), WORK_DIR (default .cache/train-default-model), TRAIN_ARGS (extra
# arguments for train.py, e.g. "--p1-steps 100 --p2-steps 40" for a quick smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-models/zaya-arith}"
BUILD_DIR="${BUILD_DIR:-build-train}"
WORK_DIR="${WORK_DIR:-.cache/train-default-model}"

bash scripts/install-train-deps.sh
bash scripts/install-deps.sh
if [ ! -x "$BUILD_DIR/zaya" ] || [ ! -e "$BUILD_DIR/capi/libzaya.so" ]; then
  generator=()
  command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
  cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}" --target zaya_cli zaya_shared
export ZAYA_LIBRARY="$PWD/$BUILD_DIR/capi/libzaya.so"
export OMP_NUM_THREADS=1

mkdir -p "$WORK_DIR"
# shellcheck disable=SC2086
/usr/bin/python3 tools/train/train.py --out "$OUT" --work "$WORK_DIR" --batch 16 --p1-steps 4500 --p2-steps 1400 \
  --sample-problems 800 --sample-k 6 ${TRAIN_ARGS:-} 2>&1 | tee "$WORK_DIR/train.out"
/usr/bin/python3 tools/train/check_engine.py --model "$OUT" --zaya "$BUILD_DIR/zaya"
/usr/bin/python3 tools/train/evaluate.py --model "$OUT" --problems 200 --n 4,8 --c 3 --t 1,2 --k-max 24 --json "$OUT/eval.json"
/usr/bin/python3 tools/train/record.py --model "$OUT"
echo "done: $OUT (see $OUT/training.json, $OUT/eval.json)"
