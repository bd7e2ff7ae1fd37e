// src/cpu/kernels_avx512vnni.cpp - AVX-512 VNNI kernels for the block-quantized weights
// (compiled with -mavx512vnni -mavx512bf16; only run when cpu_has_avx512vnni()). f32/bf16
// entries are those of the AVX-512 table.
#include "kernels.h"

namespace zaya::cpu {

const KernelTable& kernels_avx512vnni() {
  static const KernelTable table = [] {
    KernelTable t = kernels_avx512();
    t.isa = "avx512vnni";
    return t;
  }();
  return table;
}

}  // namespace zaya::cpu
