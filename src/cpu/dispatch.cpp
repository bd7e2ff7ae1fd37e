// src/cpu/dispatch.cpp - picks the best kernel table for this CPU, once.
#include "kernels.h"

#include <zaya/error.h>

#include <xsimd/config/xsimd_cpuid.hpp>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <cstdlib>
#include <string_view>

namespace zaya::cpu {

namespace {
bool has_avx512() {
  auto cpu = xsimd::available_architectures();  // checks the OS saves the AVX-512 state too
  return cpu.avx512f && cpu.avx512bw && cpu.avx512dq;
}
}  // namespace

bool cpu_has_avx512vnni() {
#if defined(__x86_64__) || defined(__i386__)
  if (!has_avx512()) return false;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool vl = (b >> 31) & 1u, vnni = (c >> 11) & 1u;
  if (!(vl && vnni)) return false;
  if (a < 1) return false;  // leaf 7 sub-leaf 1 (AVX512_BF16) not reported
  unsigned a1 = 0, b1 = 0, c1 = 0, d1 = 0;
  if (!__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1)) return false;
  const bool bf16 = (a1 >> 5) & 1u;
  unsigned a2 = 0, b2 = 0, c2 = 0, d2 = 0;
  if (!__get_cpuid(1, &a2, &b2, &c2, &d2)) return false;
  const bool f16c = (c2 >> 29) & 1u;
  return bf16 && f16c;
#else
  return false;
#endif
}

bool cpu_has_avx2() { return xsimd::available_architectures().avx2; }

namespace {
const KernelTable& choose() {
  auto cpu = xsimd::available_architectures();
  const bool avx512 = has_avx512();
  const bool vnni = cpu_has_avx512vnni();
  const bool avx2 = cpu.avx2 && cpu.fma3_avx2;
  if (const char* forced = std::getenv("ZAYA_CPU_ISA"); forced && *forced) {
    std::string_view f(forced);
    if (f == "generic") return kernels_generic();
    if (f == "avx2" && avx2) return kernels_avx2();
    if (f == "avx512" && avx512) return kernels_avx512();
    if (f == "avx512vnni" && vnni) return kernels_avx512vnni();
    // An unknown or unavailable ISA falls through to the automatic choice.
  }
  if (vnni) return kernels_avx512vnni();
  if (avx512) return kernels_avx512();
  if (avx2) return kernels_avx2();
  return kernels_generic();
}
}  // namespace

const KernelTable& kernels() {
  static const KernelTable& table = choose();
  return table;
}

}  // namespace zaya::cpu
