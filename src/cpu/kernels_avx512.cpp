// src/cpu/kernels_avx512.cpp - AVX-512 (F/BW/DQ/VL) instantiation.
#include "kernels_impl.h"

namespace zaya::cpu {
const KernelTable& kernels_avx512() {
  static const KernelTable table = Kernels<xsimd::avx512bw>::table("avx512");
  return table;
}
}  // namespace zaya::cpu
