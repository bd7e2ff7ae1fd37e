// src/cpu/kernels_generic.cpp - baseline x86-64 (SSE2) instantiation: runs on any x86-64 CPU.
#include "kernels_impl.h"

namespace zaya::cpu {
const KernelTable& kernels_generic() {
  static const KernelTable table = Kernels<xsimd::sse2>::table("generic-sse2");
  return table;
}
}  // namespace zaya::cpu
