#!/usr/bin/env bash
# test_install.sh <build dir> <consumer source dir> <scratch dir> <model dir>
# Installs the build into a scratch prefix, then builds and runs a consumer program with
# find_package(zaya) (shared and static) and one with pkg-config.
set -euo pipefail
build="$1"; consumer="$2"; scratch="$3"; model="$4"
rm -rf "$scratch"
mkdir -p "$scratch"
scratch=$(cd "$scratch" && pwd)
consumer=$(cd "$consumer" && pwd)
prefix="$scratch/prefix"
cmake --install "$build" --prefix "$prefix" --component Unspecified >/dev/null
cfg=$(find "$prefix" -name zayaConfig.cmake | head -1)
[ -n "$cfg" ] || { echo "install is missing zayaConfig.cmake"; find "$prefix" | sort; exit 1; }
libdir=$(dirname "$(dirname "$(dirname "$cfg")")")
for f in "$prefix/include/zaya.h" "$libdir/libzaya.a" "$libdir/pkgconfig/zaya.pc" "$libdir/cmake/zaya/zayaConfigVersion.cmake"; do
  [ -f "$f" ] || { echo "install is missing $f"; find "$prefix" | sort; exit 1; }
done
ls "$libdir"/libzaya.so.* >/dev/null || { echo "install is missing libzaya.so.*"; exit 1; }
if [ -d "$prefix/include/zaya" ]; then echo "install must not ship the C++ headers"; exit 1; fi

generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
cmake -S "$consumer" -B "$scratch/build" "${generator[@]}" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$scratch/build" -j1 >/dev/null
LD_LIBRARY_PATH="$libdir" "$scratch/build/consumer_shared" "$model"
"$scratch/build/consumer_static" "$model"
if ldd "$scratch/build/consumer_static" | grep -q libzaya; then
  echo "the static consumer links libzaya.so"; exit 1
fi

# pkg-config, plain cc
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc -std=c99 -Wall -Wextra -pedantic -Werror "$consumer/main.c" -o "$scratch/consumer_pkgconfig" \
   $(pkg-config --cflags --libs zaya)
LD_LIBRARY_PATH="$libdir" "$scratch/consumer_pkgconfig" "$model"
[ "$(pkg-config --modversion zaya)" = "$(sed -n 's/^#define ZAYA_VERSION_STRING "\(.*\)"/\1/p' "$prefix/include/zaya.h")" ]
echo "install test passed"
