// zaya/quant.h - block-quantized weight formats (ggml's bit layouts) and the activation format
// the CPU kernels multiply them against.
//
// Weight blocks are byte-for-byte those of ggml / llama.cpp (GGUF tensor types Q8_0 = 8,
// Q4_0 = 2, Q4_K = 12), so a row zaya writes is read by llama.cpp and the other way round:
//
//   Q8_0  32 weights, 34 bytes: f16 d, int8 qs[32];                     w_k = d * qs[k]
//   Q4_0  32 weights, 18 bytes: f16 d, uint8 qs[16];                     w_k = d * (q_k - 8)
//         q_k = qs[k] & 15 for k < 16, q_k = qs[k - 16] >> 4 for k >= 16
//   Q4_K 256 weights, 144 bytes: f16 d, f16 dmin, uint8 scales[12], uint8 qs[128]
//         8 sub-blocks of 32 with 6-bit scale sc_j and 6-bit min m_j (q4k_scale_min),
//         w = d * sc_j * q - dmin * m_j, q in [0, 15]. The 256 weights are 4 chunks of 64:
//         chunk c holds qs[32c .. 32c+31]; its first 32 weights (sub-block 2c) are the low
//         nibbles, the next 32 (sub-block 2c+1) the high nibbles.
//
// Quantizers (the ggml reference quantizers' rules; f16 rounding is round-to-nearest-even):
//   Q8_0  d = amax / 127, qs = round-half-away(x / d)                (same bytes as ggml)
//   Q4_0  m = the signed value of largest magnitude, d = m / -8,
//         q = min(15, trunc(x / d + 8.5))                             (same bytes as ggml)
//   Q4_K  per sub-block, a weighted least-squares fit of (scale, min) with x ~ scale*q - min
//         (weights |x| + rms(sub-block), 21 candidate inverse scales (nmax-1 .. nmax+1 in steps
//         of 0.1) around (max-min)/15, each refined by the closed-form 2-parameter least
//         squares on its rounded q, keeping the lowest weighted error; min is clamped >= 0
//         (i.e. never shifts upward)). The 8 scales and mins are then quantized to 6 bits
//         against the super-block's largest (d = max scale / 63, dmin = max min / 63) and q is
//         re-rounded against the 6-bit values. That is ggml's make_qkx2_quants procedure; the
//         bytes can differ from ggml's in rare last-bit ties (float contraction), never in format.
//   Q2_0  levels {-3, -1, 1, 3} * d: d starts at 0.7 * amax / 3, then two rounds of Lloyd's
//         algorithm (assign each weight the nearest level, refit d = sum(x l) / sum(l^2)), each
//         never raising the squared error; the last assignment is against d rounded to f16.
//
// Contract: n (elements in the row) must be a multiple of dtype_block_elems(t); quantize_row
// and dequantize_row throw zaya::Error(invalid_argument) otherwise, or when t is not a
// quantized type. A loader only quantizes matrices whose row length is whole blocks.
//
// Activations (ActQ8, used inside the CPU backend, never stored): each row of X is quantized
// once per matmul to blocks of 32: int8 q = round(x / d), d = amax / 127 in f32, and
// s = d * sum(q) in f32 (for the Q4_0 offset, the Q4_K mins and the unsigned-operand
// correction of VNNI). A row of `cols` elements (cols a multiple of 32, nb = cols / 32) is laid
// out [int8 qs[cols]] [f32 d[nb]] [f32 s[nb]], padded to a multiple of 64 bytes
// (act_row_bytes). Integer dot products of weight blocks with these blocks are exact; each
// block's integer sum is scaled and accumulated in f32.
#pragma once

#include <zaya/dtype.h>

#include <cstddef>
#include <cstdint>

namespace zaya {

inline constexpr size_t kQK = 32;    // elements per Q8_0 / Q4_0 block and per activation block
inline constexpr size_t kQKK = 256;  // elements per Q4_K super-block

struct BlockQ8_0 {
  uint16_t d;  // f16
  int8_t qs[32];
};
struct BlockQ4_0 {
  uint16_t d;  // f16
  uint8_t qs[16];
};
struct BlockQ4_K {
  uint16_t d;     // f16, scale of the 6-bit sub-block scales
  uint16_t dmin;  // f16, scale of the 6-bit sub-block mins
  uint8_t scales[12];
  uint8_t qs[128];
};
struct BlockQ2_0 {
  uint16_t d;  // f16
  uint8_t qs[8];
};
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_K) == 144 && sizeof(BlockQ2_0) == 10);

// Where element k (0..31) of a Q2_0 block keeps its code: byte and bit shift (see above).
constexpr size_t q2_0_byte(size_t k) noexcept { return 4 * (k / 16) + k % 4; }
constexpr unsigned q2_0_shift(size_t k) noexcept { return static_cast<unsigned>(2 * ((k / 4) % 4)); }
// Element k's level 2q - 3 (-3, -1, 1 or 3) from a block's 8 code bytes qs.
constexpr int q2_0_level(const uint8_t* qs, size_t k) noexcept { return 2 * ((qs[q2_0_byte(k)] >> q2_0_shift(k)) & 3) - 3; }

// ggml's get_scale_min_k4: sub-block j (0..7) of a Q4_K block's 12 scale bytes.
//   j < 4: sc = scales[j] & 63, m = scales[j + 4] & 63
//   j >= 4: sc = (scales[j + 4] & 15) | (scales[j - 4] >> 6) << 4,
//           m  = (scales[j + 4] >> 4) | (scales[j] >> 6) << 4
inline void q4k_scale_min(int j, const uint8_t* scales, uint8_t& sc, uint8_t& m) noexcept {
  if (j < 4) {
    sc = scales[j] & 63;
    m = scales[j + 4] & 63;
  } else {
    sc = static_cast<uint8_t>((scales[j + 4] & 15) | ((scales[j - 4] >> 6) << 4));
    m = static_cast<uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

// Quantizes n floats into dtype_row_bytes(t, n) bytes at out (see the contract above).
void quantize_row(DType t, const float* x, size_t n, void* out);
// Expands n elements of a quantized row back to floats.
void dequantize_row(DType t, const void* in, size_t n, float* out);

// ---- row-interleaved layouts for the CPU kernels -----------------------------------------------
// Same information, reordered so a matmul reads one linear stream per group of G rows and every
// int32 vector lane belongs to one output row. G = interleave_rows(t): rows [0, rows / G * G)
// form groups; group g occupies the same G * row_bytes bytes as its G ggml rows (nb blocks each).
//   Q4_0, Q8_0 and Q2_0, G = 16 (R16): blocks in pairs, [d of block 2i | d of block 2i+1 | codes of 2i |
//         codes of 2i+1] with d the 16 rows' f16 scales (32 bytes); an odd last block is [d | codes].
//         Q4_0 codes, 256 bytes a block: byte 64p + 4r + t (p, t = 0..3) is row r's ggml qs[4p + t],
//         so a 32-bit lane holds elements 4p..4p+3 (low nibbles) and 16+4p.. (high nibbles).
//         Q8_0 codes, 512 bytes a block: byte 64j + 4r + t (j = 0..7) is row r's qs[4j + t] + 128
//         (stored unsigned: the operand vpdpbusd needs).
//         Q2_0 codes, 128 bytes a block: byte 64p + 4r + t (p = 0, 1) is row r's qs[4p + t].
//   Q4_K, G = 16 (R16; 2304 bytes per super-block index): f16 d[16], f16 dmin[16], the 12 scale
//         bytes as three 32-bit words w = 0..2, each for rows 0..15 (64 bytes per word), then 32
//         vectors of 64 bytes: byte 64j + 4r + t is row r's qs[4j + t] (j = 0..31), so vectors
//         8c..8c+7 hold sub-block 2c in their low nibbles and sub-block 2c+1 in their high ones.
// The rows past the last whole group keep the ggml layout (at the same offsets). Both calls throw
// zaya::Error(invalid_argument) for a type without a layout (interleave_rows 0) or a cols that is
// not whole blocks. dst and src must not overlap.
size_t interleave_rows(DType t) noexcept;
// Where block b of an R16 group of nb Q4_0 / Q8_0 / Q2_0 blocks keeps its 16 scales and its codes
// (code_bytes per block of 16 rows: 256 for Q4_0, 512 for Q8_0, 128 for Q2_0), in bytes from the
// group start.
struct R16Block {
  size_t scales, codes;
};
constexpr R16Block r16_block(size_t b, size_t nb, size_t code_bytes) noexcept {
  const size_t pair = b / 2 * 2 * (32 + code_bytes);
  if (b + 1 == nb && nb % 2 == 1) return {pair, pair + 32};  // an odd last block: [d | codes]
  return {pair + 32 * (b % 2), pair + 64 + code_bytes * (b % 2)};
}
void repack_interleaved(DType t, const void* src, size_t rows, size_t cols, void* dst);
void unpack_interleaved(DType t, const void* src, size_t rows, size_t cols, void* dst);

// ---- activation blocks (ActQ8) ------------------------------------------------------------------
namespace actq8 {
// Bytes of one quantized activation row of `cols` elements (a multiple of 32), 64-byte multiple.
inline constexpr size_t row_bytes(size_t cols) noexcept { return (cols + 8 * (cols / kQK) + 63) / 64 * 64; }
inline const int8_t* qs(const void* row) noexcept { return static_cast<const int8_t*>(row); }
inline const float* d(const void* row, size_t cols) noexcept {
  return reinterpret_cast<const float*>(static_cast<const char*>(row) + cols);
}
inline const float* s(const void* row, size_t cols) noexcept { return d(row, cols) + cols / kQK; }
}  // namespace actq8

// The scalar reference for one activation row (the kernels' quantize_activations produce
// exactly these bytes). cols must be a multiple of 32.
void quantize_activation_row(const float* x, size_t cols, void* out) noexcept;

}  // namespace zaya
