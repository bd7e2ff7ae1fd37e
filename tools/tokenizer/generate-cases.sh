#!/usr/bin/env bash
# Regenerates the reference outputs in tests/data/tokenizer/ with the reference `tokenizers`
# library (npm @anush008/tokenizers, installed into .cache/tokenizers-reference). Needs the Gemma 3
# tokenizer (scripts/fetch-tokenizer.sh). The tests themselves never run node.
set -euo pipefail
REPO_DIR="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE_DIR="${ZAYA_CACHE_DIR:-$REPO_DIR/.cache}"
REF_DIR="$CACHE_DIR/tokenizers-reference"
if [ ! -d "$REF_DIR/node_modules/@anush008/tokenizers" ]; then
  mkdir -p "$REF_DIR"
  (cd "$REF_DIR" && npm install --silent --no-save @anush008/tokenizers@0.6.0 >/dev/null)
fi
bash "$REPO_DIR/scripts/fetch-tokenizer.sh"
cd "$REPO_DIR"
node tools/tokenizer/generate_cases.mjs --module="$REF_DIR" --gemma="$CACHE_DIR/gemma3/tokenizer.json" \
  --out=tests/data/tokenizer
