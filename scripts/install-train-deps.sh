#!/usr/bin/env bash
# Installs what tools/train/ needs to (re)train the default model models/zaya-arith/, from Debian's
# archive: PyTorch (CPU) for /usr/bin/python3 and OpenBLAS (OpenMP build) as the BLAS it loads.
# CI never trains, so scripts/install-deps.sh does not install any of this.
# Idempotent; run as root (or with sudo available).
#
# Why OpenBLAS: Debian's python3-torch links the generic libblas.so.3, which resolves to the
# reference BLAS by default (slow). Registering libopenblas0-openmp as the libblas.so.3
# alternative made training ~6x faster on 2 cores. tools/train/train.py checks which BLAS the
# process actually loaded and prints it.
set -euo pipefail

PACKAGES=(
  python3 python3-numpy
  python3-torch          # PyTorch 1.13 (CPU)
  libopenblas0-openmp    # OpenBLAS, OpenMP threading
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Select OpenBLAS as the system libblas.so.3 / liblapack.so.3 (what torch's libraries load).
arch="$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)"
for lib in libblas.so.3 liblapack.so.3; do
  target="/usr/lib/${arch}/openblas-openmp/${lib}"
  if [ -e "$target" ]; then
    $SUDO update-alternatives --set "${lib}-${arch}" "$target" >/dev/null
  fi
done

/usr/bin/python3 - <<'EOF'
import torch
print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
with open("/proc/self/maps") as f:
    libs = sorted({l.split()[-1] for l in f if "blas" in l or "lapack" in l})
print("BLAS loaded:", ", ".join(libs) if libs else "(none found)")
EOF
