// src/cpu/kernels.h - the CPU kernel table: one implementation per ISA (kernels_impl.h compiled
// in kernels_generic.cpp / kernels_avx2.cpp / kernels_avx512.cpp; kernels_avx512vnni.cpp adds
// VNNI integer dot products for the quantized formats), chosen at first use from the CPU found.
// ZAYA_CPU_ISA=generic|avx2|avx512|avx512vnni forces one (for testing the fallback paths).
#pragma once

#include <cstddef>
#include <cstdint>

namespace zaya::cpu {

struct KernelTable {
  const char* isa = "";
  // Floats per SIMD register; bf16 activations are laid out in blocks of 2 * lanes.
  size_t lanes = 1;

  // Y[i * ldy + r] = dot(W[r, :], X[i, :]) for output rows r in [r_begin, r_end), i in [0, n).
  // W is f32 [rows, cols] (row stride cols).
  void (*matmul_f32)(const float* w, const float* x, size_t ldx, size_t n, size_t cols, float* y, size_t ldy,
                     size_t r_begin, size_t r_end) = nullptr;
  // Same with W in bfloat16; X must first be rearranged by permute_for_bf16 (same ISA).
  void (*matmul_bf16)(const uint16_t* w, const float* x_permuted, size_t ldx, size_t n, size_t cols, float* y,
                      size_t ldy, size_t r_begin, size_t r_end) = nullptr;
  // Rearranges each row of X [n, cols] so matmul_bf16 can multiply even and odd bf16 elements
  // without shuffles: every block of 2*lanes floats becomes [evens | odds]; the tail is kept.
  void (*permute_for_bf16)(const float* x, size_t ldx, size_t n, size_t cols, float* out, size_t ldo) = nullptr;
  float (*dot)(const float* a, const float* b, size_t n) = nullptr;
  // Softmax attention of one row's kv_heads * group query vectors of d floats (q[h * d + i]; heads
  // kvh * group .. kvh * group + group - 1 share kv head kvh) over the len cached positions of the
  // head-major cache of zaya/backend.h (AttentionRow): kv head kvh's keys at keys + kvh *
  // head_stride in transposed blocks of kv_key_block positions, its values at values + kvh *
  // head_stride + t * d + i:
  // out[h * d + i] = sum_t p_ht * values[..], p_h = softmax_t(scale * q_h . k_t).
  // scores: scratch for kv_heads * group * round_up(len, kv_key_block) floats. Whole key vectors
  // (of 16 positions or fewer) are read, up to round_up(len, kv_key_block); what they hold past
  // len does not count. Keys and values are read once, in order, per kv head (register tiles of
  // 4 heads x 2 vectors of positions for the scores, 2 heads x 8 vectors for the weighted sum).
  void (*attend)(const float* q, size_t kv_heads, size_t group, size_t d, const float* keys, const float* values,
                 size_t head_stride, size_t len, float scale, float* scores, float* out) = nullptr;
  // The same over a cache of IEEE halves (converted to f32 as they are loaded).
  void (*attend_f16)(const float* q, size_t kv_heads, size_t group, size_t d, const uint16_t* keys,
                     const uint16_t* values, size_t head_stride, size_t len, float scale, float* scores,
                     float* out) = nullptr;
  // out[j] = silu(gate[j]) * up[j] = gate[j] / (1 + exp(-gate[j])) * up[j] for j < n.
  void (*swiglu)(const float* gate, const float* up, float* out, size_t n) = nullptr;
  // bf16 x bf16 products (AVX512_BF16 vdpbf16ps; nullptr in tables without it): X [n, cols] is
  // first rounded to bf16 (round to nearest even, as f32_to_bf16) with to_bf16 into rows of
  // ldo >= cols elements; then as matmul_bf16 with the rounded activations, f32 accumulation
  // (pairs of products summed inside the instruction, denormal products flushed). Changes the
  // numerics (activations lose 16 mantissa bits), so the backend uses it only when enabled
  // (cpu_backend.h, set_bf16_prefill_min_rows; bf16_dp_min_rows is the recommended threshold)
  // and keeps matmul_bf16 below the threshold.
  void (*to_bf16)(const float* x, size_t ldx, size_t n, size_t cols, uint16_t* out, size_t ldo) = nullptr;
  void (*matmul_bf16_dp)(const uint16_t* w, const uint16_t* xb, size_t ldx, size_t n, size_t cols, float* y,
                         size_t ldy, size_t r_begin, size_t r_end) = nullptr;
  size_t bf16_dp_min_rows = 0;

  // Block-quantized weights (zaya/quant.h). X is first quantized once per matmul with
  // quantize_activations: row i of X [n, cols] (stride ldx) becomes actq8::row_bytes(cols) bytes
  // at xq + i * actq8::row_bytes(cols), identical to quantize_activation_row. cols must be a
  // multiple of 32 (of 256 for q4_k weights). Then, as for matmul_f32,
  // Y[i * ldy + r] = dot(W[r, :], X[i, :]) for r in [r_begin, r_end), i in [0, n), with W's rows
  // dtype_row_bytes(type, cols) apart; integer dot products per block, f32 accumulation.
  void (*quantize_activations)(const float* x, size_t ldx, size_t n, size_t cols, void* xq) = nullptr;
  using MatmulQuant = void (*)(const void* w, const void* xq, size_t n, size_t cols, float* y, size_t ldy,
                               size_t r_begin, size_t r_end);
  MatmulQuant matmul_q8_0 = nullptr;
  MatmulQuant matmul_q4_0 = nullptr;
  MatmulQuant matmul_q4_k = nullptr;
  MatmulQuant matmul_q2_0 = nullptr;
  // The same products with W in the row-interleaved layout (zaya/quant.h, repack_interleaved:
  // 16 rows per group) of a [rows, cols] matrix; any row range (a partial group computes the
  // group and stores only its rows).
  using MatmulQuantInterleaved = void (*)(const void* w, size_t rows, const void* xq, size_t n, size_t cols, float* y,
                                          size_t ldy, size_t r_begin, size_t r_end);
  MatmulQuantInterleaved matmul_q8_0_r16 = nullptr;
  MatmulQuantInterleaved matmul_q4_0_r16 = nullptr;
  MatmulQuantInterleaved matmul_q4_k_r16 = nullptr;
  MatmulQuantInterleaved matmul_q2_0_r16 = nullptr;
  // Sum of n floats with several independent streams: the memory-bandwidth probe's inner loop.
  float (*stream_sum)(const float* a, size_t n) = nullptr;
};

const KernelTable& kernels();

// Per-ISA tables (defined in the kernels_*.cpp files; the AVX ones only run on CPUs that have them).
const KernelTable& kernels_generic();
const KernelTable& kernels_avx2();
const KernelTable& kernels_avx512();
// AVX-512 F/BW/DQ/VL + VNNI + BF16 (Zen 4/5, Ice Lake and later server parts).
const KernelTable& kernels_avx512vnni();
// Whether this CPU (and OS) can run kernels_avx512vnni().
bool cpu_has_avx512vnni();
// AVX2 with the OS saving its state (the Q4_K quantizer's 8-float path, quant_avx2.cpp).
bool cpu_has_avx2();

}  // namespace zaya::cpu
