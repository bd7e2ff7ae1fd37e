#!/usr/bin/env bash
# The README's "main job": builds zaya if needed, makes the default model and runs it.
# For now the default model is a small synthetic ZAYA1 checkpoint (random weights, exact
# architecture) written by `zaya synth`; it proves the whole pipeline, not language ability.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
MODEL_DIR="${ZAYA_DEFAULT_MODEL:-.cache/models/zaya-synth-small}"

if [ ! -x "$BUILD_DIR/zaya" ]; then
  bash scripts/install-deps.sh
  generator=()
  command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
  cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release
  cmake --build "$BUILD_DIR" -j "$(nproc)" --target zaya_cli
fi
ZAYA="$BUILD_DIR/zaya"

if [ ! -f "$MODEL_DIR/config.json" ]; then
  "$ZAYA" synth --preset small --dtype bf16 --seed 1 --out "$MODEL_DIR"
fi

echo "== zaya info"
"$ZAYA" info --model "$MODEL_DIR"
echo
echo "== zaya generate (greedy, 24 tokens from ids 2,17,5)"
start=$(date +%s.%N)
"$ZAYA" generate --model "$MODEL_DIR" --ids 2,17,5 --max-tokens 24 --greedy --ignore-eos --json
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "(load + prefill + 24 decode steps: %.2f s)\n", e - s }'
