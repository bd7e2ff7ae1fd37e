#!/usr/bin/env bash
# check_exports.sh <libzaya.so> <zaya.h> - the shared library exports exactly the C ABI:
# every defined dynamic symbol is a zaya_* function, and every function the header declares
# with ZAYA_API is exported.
set -euo pipefail
lib="$1"
header="$2"

exported=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | sort -u)
[ -n "$exported" ] || { echo "no symbols exported from $lib"; exit 1; }

# Anything that is not zaya_* (the version node ZAYA_1 itself is listed as an absolute symbol).
stray=$(echo "$exported" | grep -v -e '^zaya_' -e '^ZAYA_1$' || true)
if [ -n "$stray" ]; then
  echo "symbols other than zaya_* are exported:"
  echo "$stray" | head -50
  exit 1
fi

exported=$(echo "$exported" | grep '^zaya_')
declared=$(grep -E '^ZAYA_API' "$header" | grep -oE 'zaya_[a-z0-9_]+\(' | tr -d '(' | sort -u)
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
if [ -n "$missing" ]; then
  echo "declared in $header but not exported:"
  echo "$missing"
  exit 1
fi
extra=$(comm -13 <(echo "$declared") <(echo "$exported"))
if [ -n "$extra" ]; then
  echo "exported but not declared in $header:"
  echo "$extra"
  exit 1
fi
echo "OK: $(echo "$exported" | grep -c '^zaya_') zaya_* functions exported, nothing else"
