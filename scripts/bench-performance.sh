#!/usr/bin/env bash
# scripts/bench-performance.sh - regenerates the measurements of docs/PERFORMANCE.md.
#
#   scripts/bench-performance.sh [WORK_DIR]      (default .cache/perf)
#
# 1. makes the synthetic ZAYA1-8B checkpoint (zaya synth --preset zaya1-8b: the exact geometry,
#    random BF16 weights, 16.5 GB) if WORK_DIR has none;
# 2. writes Q8_0, Q4_0 and Q4_K GGUF files of it (zaya quantize; ~19 GB more disk);
# 3. runs `zaya bench --json` on each (BF16 from the HF directory, the others from their GGUF
#    files): the read bandwidth probe, prefill of PROMPT tokens, decode of GEN tokens at batch
#    1, 4 and 16, weights in the huge-page arena (--load copy), once per KV cache type
#    (KV_CACHES: the exact f32 cache and the opt-in f16 one); every format once more with the
#    opt-in LM-head shortlist (--head-shortlist SHORTLIST, f32 KV cache); the MAPPED formats
#    also memory-mapped (--load mmap, f32 KV cache), from their ggml-layout GGUF and from one
#    written with --layout r16 (zaya's interleaved types);
# 4. measures quality with `zaya compare` on the trained default model (models/zaya-arith) and
#    on the 8B synthetic checkpoint; of the f16 KV cache on the default model; of the shortlist
#    on both, against BF16 and (Q8_0 / Q4_0 / Q4_K heads) against the same file's full head;
# 5. renders the tables into docs/PERFORMANCE.md (tools/bench/render_performance.py) between
#    its BEGIN/END markers.
# Needs a quiet machine: the VM's bandwidth varies between runs, so every roofline fraction is
# computed against the bandwidth measured in the same run.
#
# Environment: BUILD (default build), THREADS (default 2), PROMPT (512), GEN (64), BATCHES (1,4,16),
# FORMATS (default "bf16 q8_0 q4_0 q4_k"), KV_CACHES (default "f32 f16"), SHORTLIST (default 64;
# 0 skips the shortlist runs), MAPPED (default "q8_0 q4_0 q4_k").
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
WORK=${1:-.cache/perf}
THREADS=${THREADS:-2}
PROMPT=${PROMPT:-512}
GEN=${GEN:-64}
BATCHES=${BATCHES:-1,4,16}
FORMATS=${FORMATS:-bf16 q8_0 q4_0 q4_k}
KV_CACHES=${KV_CACHES:-f32 f16}
SHORTLIST=${SHORTLIST:-64}
MAPPED=${MAPPED:-q8_0 q4_0 q4_k}
ZAYA="$BUILD/zaya"
mkdir -p "$WORK"
if [ ! -x "$ZAYA" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" --target zaya_cli -j "$(nproc)"
fi
MODEL="$WORK/zaya1-8b-synth"
[ -f "$MODEL/config.json" ] || "$ZAYA" synth --preset zaya1-8b --out "$MODEL"

RESULTS="$WORK/bench.jsonl"
QUALITY="$WORK/quality.jsonl"
LOADS="$WORK/load-mmap.jsonl"
: > "$RESULTS"
: > "$QUALITY"
: > "$LOADS"
for fmt in $FORMATS; do
  path="$MODEL"
  if [ "$fmt" != bf16 ]; then
    path="$WORK/zaya1-8b-$fmt.gguf"
    [ -f "$path" ] || "$ZAYA" quantize --model "$MODEL" --type "$fmt" --out "$path"
  fi
  echo "== mmap load $fmt ($path)" >&2   # validates every header and small tensor; touches no matrix
  # Warm: the target is a load of a file in the page cache; the first run pages the headers in.
  "$ZAYA" bench --model "$path" --threads "$THREADS" --prompt-tokens 1 --gen-tokens 1 --no-bandwidth --json > /dev/null
  "$ZAYA" bench --model "$path" --threads "$THREADS" --prompt-tokens 1 --gen-tokens 1 --no-bandwidth --json | tee -a "$LOADS"
  for kv in $KV_CACHES; do
    echo "== bench $fmt ($path), $kv KV cache" >&2
    "$ZAYA" bench --model "$path" --threads "$THREADS" --prompt-tokens "$PROMPT" --gen-tokens "$GEN" \
      --batch "$BATCHES" --load copy --kv-cache "$kv" --json | tee -a "$RESULTS"
  done
  if [ "$SHORTLIST" != 0 ]; then
    echo "== bench $fmt ($path), LM-head shortlist of $SHORTLIST" >&2
    "$ZAYA" bench --model "$path" --threads "$THREADS" --prompt-tokens "$PROMPT" --gen-tokens "$GEN" \
      --batch "$BATCHES" --load copy --head-shortlist "$SHORTLIST" --json | tee -a "$RESULTS"
  fi
done
for fmt in $MAPPED; do
  r16="$WORK/zaya1-8b-$fmt-r16.gguf"
  # The ggml file's bytes reordered (no second quantization).
  [ -f "$r16" ] || "$ZAYA" quantize --model "$WORK/zaya1-8b-$fmt.gguf" --type keep --layout r16 --out "$r16"
  for path in "$WORK/zaya1-8b-$fmt.gguf" "$r16"; do
    echo "== bench $fmt ($path), memory-mapped" >&2
    cat "$path" > /dev/null  # in the page cache, as a warm load finds it
    "$ZAYA" bench --model "$path" --threads "$THREADS" --prompt-tokens "$PROMPT" --gen-tokens "$GEN" \
      --batch "$BATCHES" --load mmap --json | tee -a "$RESULTS"
  done
done
for fmt in $FORMATS; do
  [ "$fmt" = bf16 ] && continue
  echo "== quality $fmt" >&2
  "$ZAYA" compare --model models/zaya-arith --quantize "$fmt" --prompts 8 --tokens 64 --threads "$THREADS" --json | tee -a "$QUALITY"
  "$ZAYA" compare --model "$MODEL" --other "$WORK/zaya1-8b-$fmt.gguf" --prompts 2 --tokens 32 --threads "$THREADS" --json | tee -a "$QUALITY"
done
if [[ " $KV_CACHES " == *" f16 "* ]]; then
  echo "== quality f16 KV cache" >&2
  "$ZAYA" compare --model models/zaya-arith --kv-cache f16 --prompts 8 --tokens 64 --threads "$THREADS" --json | tee -a "$QUALITY"
fi
if [ "$SHORTLIST" != 0 ]; then
  echo "== quality of the LM-head shortlist" >&2
  "$ZAYA" compare --model models/zaya-arith --head-shortlist "$SHORTLIST" --prompts 8 --tokens 64 --threads "$THREADS" --json | tee -a "$QUALITY"
  "$ZAYA" compare --model "$MODEL" --head-shortlist "$SHORTLIST" --prompts 8 --tokens 32 --threads "$THREADS" --json | tee -a "$QUALITY"
  if [[ " $FORMATS " == *" q8_0 "* ]]; then
    "$ZAYA" compare --model "$MODEL" --other "$WORK/zaya1-8b-q8_0.gguf" --head-shortlist "$SHORTLIST" --prompts 2 --tokens 32 \
      --threads "$THREADS" --json | tee -a "$QUALITY"
  fi
  # A 4-bit head's 2-bit approximation, against the same file's full head.
  for fmt in $FORMATS; do
    { [ "$fmt" = q4_0 ] || [ "$fmt" = q4_k ]; } || continue
    small="$WORK/zaya-arith-$fmt.gguf"
    [ -f "$small" ] || "$ZAYA" quantize --model models/zaya-arith --type "$fmt" --out "$small" --quiet
    "$ZAYA" compare --model "$small" --head-shortlist "$SHORTLIST" --prompts 8 --tokens 64 --threads "$THREADS" --json | tee -a "$QUALITY"
    "$ZAYA" compare --model "$WORK/zaya1-8b-$fmt.gguf" --head-shortlist "$SHORTLIST" --prompts 8 --tokens 32 --threads "$THREADS" \
      --json | tee -a "$QUALITY"
  done
fi
/usr/bin/python3 tools/bench/render_performance.py "$RESULTS" "$QUALITY" docs/PERFORMANCE.md "$LOADS"
echo "docs/PERFORMANCE.md updated from $RESULTS and $QUALITY" >&2
