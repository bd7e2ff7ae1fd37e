#!/usr/bin/env bash
# The README's "main job": builds zaya if needed, makes the default model and runs it.
# For now the default model is a small synthetic ZAYA1 checkpoint (exact architecture, random
# weights) with a ZAYA1-style tokenizer and chat template (scripts/make-default-model.sh): it
# proves the whole pipeline, text in to text out; it does not answer sensibly.
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
bash scripts/make-default-model.sh "$ZAYA" "$MODEL_DIR"

echo "== zaya info --model $MODEL_DIR"
"$ZAYA" info --model "$MODEL_DIR"
echo
QUESTION="A farmer has 3 pens with 4 sheep each and buys 5 more sheep. How many sheep are there?"
echo "== zaya generate --chat (user: $QUESTION)"
MESSAGES="$(mktemp)"
printf '[{"role": "user", "content": "%s"}]\n' "$QUESTION" > "$MESSAGES"
"$ZAYA" generate --model "$MODEL_DIR" --chat "$MESSAGES" --max-tokens 48 --temperature 0.8 --top-p 0.95 --seed 7
rm -f "$MESSAGES"
if "$ZAYA" help | grep -q "^  rsa "; then
  echo
  echo "== zaya rsa (Markovian RSA: N=4 candidates, C=2 tails each, T=1 aggregation round)"
  "$ZAYA" rsa --model "$MODEL_DIR" --prompt "$QUESTION" --n 4 --c 2 --t 1 --beta 32 --tau 16 --seed 1 --quiet
fi
