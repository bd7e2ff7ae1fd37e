#!/usr/bin/env bash
# Makes the synthetic demo model of `ZAYA_DEFAULT_MODEL=synthetic scripts/run.sh` (the default
# model is the trained models/zaya-arith, docs/DEFAULT_MODEL.md): a small synthetic ZAYA1 checkpoint (exact
# architecture, random weights) with a ZAYA1-style tokenizer derived from the Gemma 3 one and a
# ChatML chat template with <think>. Idempotent.   usage: make-default-model.sh ZAYA OUT_DIR
set -euo pipefail
ZAYA="$1"
OUT="$2"
cd "$(dirname "$0")/.."
[ -f "$OUT/tokenizer.json" ] && [ -f "$OUT/config.json" ] && exit 0
bash scripts/fetch-tokenizer.sh >/dev/null
CACHE="${ZAYA_CACHE_DIR:-$PWD/.cache}"
TOK="$CACHE/zaya1-style-tokenizer"
[ -f "$TOK/tokenizer.json" ] || node tools/default-model/make-tokenizer.js "$CACHE/gemma3" "$TOK"
"$ZAYA" synth --preset small --dtype bf16 --seed 1 --tokenizer "$TOK" --quiet --out "$OUT"
