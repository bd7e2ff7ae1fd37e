// src/cpu/quant_avx2.cpp - the Q4_K quantizer's scale search on 8-float vectors (q4k_search.h),
// compiled with -mavx2 and -ffp-contract=off (CMakeLists.txt); quant.cpp calls it only on CPUs
// with AVX2, and it writes the bytes the baseline build's 4-float version writes.
#include "q4k_search.h"

namespace zaya::q4k {

void quantize_blocks_avx2(const float* x, size_t nb, BlockQ4_K* y) { quantize_blocks<8>(x, nb, y); }

}  // namespace zaya::q4k
