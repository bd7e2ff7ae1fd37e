#!/usr/bin/env bash
# The README's "main job": builds zaya if needed and runs the default model, models/zaya-arith: a
# small ZAYA1-architecture MoE the project trained itself (docs/DEFAULT_MODEL.md) to solve
# multi-step arithmetic word problems with a short <think> chain and a \boxed{} answer. It asks
# the model one problem in chat (greedy) and solves another with Markovian RSA, with timings.
#
# ZAYA_DEFAULT_MODEL=synthetic runs the old demo instead: a small synthetic ZAYA1 checkpoint
# (exact architecture, random weights; scripts/make-default-model.sh) that proves the pipeline but
# does not answer sensibly. ZAYA_DEFAULT_MODEL=DIR runs any checkpoint directory.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
MODEL="${ZAYA_DEFAULT_MODEL:-models/zaya-arith}"

if [ ! -x "$BUILD_DIR/zaya" ]; then
  bash scripts/install-deps.sh
  generator=()
  command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
  cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release
  cmake --build "$BUILD_DIR" -j "$(nproc)" --target zaya_cli
fi
ZAYA="$BUILD_DIR/zaya"

if [ "$MODEL" = synthetic ]; then
  MODEL_DIR=.cache/models/zaya-synth-small
  bash scripts/make-default-model.sh "$ZAYA" "$MODEL_DIR"
  CHAT_QUESTION="A farmer has 3 pens with 4 sheep each and buys 5 more sheep. How many sheep are there?"
  RSA_QUESTION="$CHAT_QUESTION"
  GEN_ARGS=(--max-tokens 48 --temperature 0.8 --top-p 0.95 --seed 7)
  RSA_ARGS=(--n 4 --c 2 --t 1 --beta 32 --tau 16 --seed 1)
else
  MODEL_DIR="$MODEL"
  # Problems in the model's task format (tools/train/arith.py), not from its held-out set.
  CHAT_QUESTION="Mia has 47 shells. She finds 38 more. She sells 3 boxes of 12 shells. Her stock doubles. How many shells does Mia have now?"
  RSA_QUESTION="Leo has 58 cards. He buys 7 bags of 9 cards. He gives 29 to Eva. His stock doubles. He sells 46. How many cards does Leo have now?"
  GEN_ARGS=(--max-tokens 160 --greedy)
  RSA_ARGS=(--n 8 --c 3 --t 1 --beta 160 --tau 96 --temperature 1 --top-p 1 --seed 1)
fi

echo "== zaya info --model $MODEL_DIR"
"$ZAYA" info --model "$MODEL_DIR"
echo
echo "== zaya generate --chat (user: $CHAT_QUESTION)"
MESSAGES="$(mktemp)"
trap 'rm -f "$MESSAGES"' EXIT
printf '[{"role": "user", "content": "%s"}]\n' "$CHAT_QUESTION" > "$MESSAGES"
"$ZAYA" generate --model "$MODEL_DIR" --chat "$MESSAGES" "${GEN_ARGS[@]}"
echo
echo "== zaya rsa (Markovian RSA: ${RSA_ARGS[*]}; user: $RSA_QUESTION)"
"$ZAYA" rsa --model "$MODEL_DIR" --prompt "$RSA_QUESTION" "${RSA_ARGS[@]}" --quiet
