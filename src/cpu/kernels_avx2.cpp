// src/cpu/kernels_avx2.cpp - AVX2 + FMA instantiation (compiled with -mavx2 -mfma).
#include "kernels_impl.h"

namespace zaya::cpu {
const KernelTable& kernels_avx2() {
  static const KernelTable table = Kernels<xsimd::fma3<xsimd::avx2>>::table("avx2");
  return table;
}
}  // namespace zaya::cpu
