#!/usr/bin/env bash
# check_impl_copy.sh <forward.cpp> <sequence_serialization.cpp>
# src/model/sequence_serialization.cpp carries a copy of `struct Context::Impl` from forward.cpp
# (identical definitions are allowed; different ones are undefined behaviour). This test fails as
# soon as the two definitions differ, long before a layout mismatch could bite at run time.
set -euo pipefail
extract() { sed -n '/^struct Context::Impl {/,/^};/p' "$1"; }
a=$(extract "$1")
b=$(extract "$2")
[ -n "$a" ] || { echo "no struct Context::Impl in $1"; exit 1; }
if [ "$a" != "$b" ]; then
  echo "struct Context::Impl differs between $1 and $2:"
  diff <(echo "$a") <(echo "$b") || true
  echo "update the copy in $2 (or give forward.cpp an accessor and drop the copy)"
  exit 1
fi
echo "OK: the two definitions of Context::Impl are identical"
