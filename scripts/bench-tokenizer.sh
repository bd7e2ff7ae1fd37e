#!/usr/bin/env bash
# Side-by-side tokenizer benchmark on the real Gemma 3 tokenizer.json: zaya vs the reference
# `tokenizers` library (npm @anush008/tokenizers 0.6.0 = huggingface/tokenizers 0.22.2), both
# encoding the same ~1 MB mixed-language text in one call, plus tokenizer.json load times.
# Not a test: timings depend on the machine. Both sides print an ids checksum, so the script also
# confirms that they produced the same ids.
#   scripts/bench-tokenizer.sh            (BUILD_DIR=build-bench, REPEATS=10)
set -euo pipefail
REPO_DIR="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO_DIR"
CACHE_DIR="${ZAYA_CACHE_DIR:-$REPO_DIR/.cache}"
BUILD_DIR="${BUILD_DIR:-build-bench}"
REPEATS="${REPEATS:-10}"
REF_DIR="$CACHE_DIR/tokenizers-reference"
TEXT="$CACHE_DIR/bench/mixed_1mb.txt"
TOKENIZER="${ZAYA_GEMMA3_TOKENIZER:-$CACHE_DIR/gemma3/tokenizer.json}"

bash scripts/fetch-tokenizer.sh
if [ ! -d "$REF_DIR/node_modules/@anush008/tokenizers" ]; then
  mkdir -p "$REF_DIR"
  (cd "$REF_DIR" && npm install --silent --no-save @anush008/tokenizers@0.6.0 >/dev/null)
fi
mkdir -p "$(dirname "$TEXT")"
[ -s "$TEXT" ] || node tools/tokenizer/bench_reference.mjs --make-text="$TEXT"

# Build only the tokenizer layer, then the bench program against it (Release, no sanitizers).
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DZAYA_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" --target zaya_tokenizer -j "${JOBS:-1}" >/dev/null
BENCH="$BUILD_DIR/tokenizer_bench"
${CXX:-c++} -O2 -std=c++20 -Iinclude tools/bench/tokenizer_bench.cpp "$BUILD_DIR/libzaya_tokenizer.a" \
  "$BUILD_DIR/libzaya_base.a" -lsimdjson -lfmt -pthread -o "$BENCH"

zaya_json="$("$BENCH" "$TOKENIZER" "$TEXT" "$REPEATS")"
ref_json="$(node tools/tokenizer/bench_reference.mjs --module="$REF_DIR" --tokenizer="$TOKENIZER" --text="$TEXT" \
  --repeats="$REPEATS")"
echo "$zaya_json"
echo "$ref_json"
node -e '
  const [z, r] = [JSON.parse(process.argv[1]), JSON.parse(process.argv[2])];
  const same = z.tokens === r.tokens && z.ids_checksum === r.ids_checksum;
  console.log(`same ids: ${same ? "yes" : "NO"} (${z.tokens} tokens)`);
  console.log(`encode throughput: zaya ${z.mb_per_second_median} MB/s, reference ${r.mb_per_second_median} MB/s, ` +
              `ratio ${(z.mb_per_second_median / r.mb_per_second_median).toFixed(2)}x`);
  console.log(`tokenizer.json load (median of 3): zaya ${z.load_seconds_median} s, reference ${r.load_seconds_median} s`);
  if (!same) process.exit(1);
' "$zaya_json" "$ref_json"
