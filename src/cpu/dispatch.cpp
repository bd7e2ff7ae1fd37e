// src/cpu/dispatch.cpp - picks the best kernel table for this CPU, once.
#include "kernels.h"

#include <zaya/error.h>

#include <xsimd/config/xsimd_cpuid.hpp>

#include <cstdlib>
#include <string_view>

namespace zaya::cpu {

namespace {
const KernelTable& choose() {
  auto cpu = xsimd::available_architectures();
  bool has_avx512 = cpu.avx512f && cpu.avx512bw && cpu.avx512dq;
  bool has_avx2 = cpu.avx2 && cpu.fma3_avx2;
  if (const char* forced = std::getenv("ZAYA_CPU_ISA"); forced && *forced) {
    std::string_view f(forced);
    if (f == "generic") return kernels_generic();
    if (f == "avx2" && has_avx2) return kernels_avx2();
    if (f == "avx512" && has_avx512) return kernels_avx512();
    // An unknown or unavailable ISA falls through to the automatic choice.
  }
  if (has_avx512) return kernels_avx512();
  if (has_avx2) return kernels_avx2();
  return kernels_generic();
}
}  // namespace

const KernelTable& kernels() {
  static const KernelTable& table = choose();
  return table;
}

}  // namespace zaya::cpu
