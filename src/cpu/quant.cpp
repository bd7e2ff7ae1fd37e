// src/cpu/quant.cpp - the scalar reference quantizers and dequantizers (zaya/quant.h).
#include <zaya/error.h>
#include <zaya/quant.h>

#include "kernels.h"
#include "q4k_search.h"
#include "rounding.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace zaya {

namespace {

void quantize_q8_0(const float* x, size_t nb, BlockQ8_0* y) {
  for (size_t b = 0; b < nb; ++b, x += kQK) {
    float amax = 0.0f;
    for (size_t k = 0; k < kQK; ++k) amax = std::max(amax, std::fabs(x[k]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = f32_to_f16(d);
    for (size_t k = 0; k < kQK; ++k)
      y[b].qs[k] = static_cast<int8_t>(round_away(clamp_finite(x[k] * id, -127.0f, 127.0f, 0.0f)));
  }
}

void quantize_q4_0(const float* x, size_t nb, BlockQ4_0* y) {
  for (size_t b = 0; b < nb; ++b, x += kQK) {
    float amax = 0.0f, max = 0.0f;  // max: the signed value of largest magnitude (first one wins)
    for (size_t k = 0; k < kQK; ++k) {
      if (std::fabs(x[k]) > amax) {
        amax = std::fabs(x[k]);
        max = x[k];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = f32_to_f16(d);
    for (size_t k = 0; k < kQK / 2; ++k) {
      // Truncation toward zero of a value >= ~0.5, so floor(x/d + 8.5) = round-half-up(x/d + 8).
      // (A NaN gives code 8, the zero weight.)
      const int lo = std::min(15, static_cast<int>(clamp_finite(x[k] * id + 8.5f, 0.0f, 16.0f, 8.0f)));
      const int hi = std::min(15, static_cast<int>(clamp_finite(x[k + kQK / 2] * id + 8.5f, 0.0f, 16.0f, 8.0f)));
      y[b].qs[k] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

// The Q2_0 level of x against d: the nearest of -3, -1, 1, 3, i.e. 2 floor(t) + 1 for
// t = x / 2d clamped to [-3, 3]; floor(t) >= k exactly when t >= k for an integer k, so the
// comparisons need no floor (and a NaN or an infinite quotient never reaches an int conversion).
inline int q2_level(float x, float d) noexcept {
  if (d == 0.0f) return 1;
  const float t = x / (2.0f * d);
  if (!(t >= -1.0f)) return -3;
  if (t >= 1.0f) return 3;
  return t >= 0.0f ? 1 : -1;
}

void quantize_q2_0(const float* x, size_t nb, BlockQ2_0* y) {
  for (size_t b = 0; b < nb; ++b, x += kQK) {
    float amax = 0.0f;
    for (size_t k = 0; k < kQK; ++k) amax = std::max(amax, std::fabs(x[k]));
    // Lloyd's algorithm from 0.7 * amax / 3 (a Gaussian block's best d is ~0.6-0.75 of it):
    // each assignment and each refit lowers the squared error or keeps it.
    float d = 0.7f * amax / 3.0f;
    for (int round = 0; round < 2 && d > 0.0f; ++round) {
      float xl = 0.0f, ll = 0.0f;
      for (size_t k = 0; k < kQK; ++k) {
        const auto l = static_cast<float>(q2_level(x[k], d));
        xl += x[k] * l;
        ll += l * l;
      }
      d = xl / ll;
    }
    y[b].d = f32_to_f16(d);
    const float dh = f16_to_f32(y[b].d);
    std::memset(y[b].qs, 0, sizeof(y[b].qs));
    for (size_t k = 0; k < kQK; ++k) {
      const auto q = static_cast<unsigned>((q2_level(x[k], dh) + 3) / 2);
      y[b].qs[q2_0_byte(k)] = static_cast<uint8_t>(y[b].qs[q2_0_byte(k)] | (q << q2_0_shift(k)));
    }
  }
}

void check_row(DType t, size_t n, const char* what) {
  if (!is_quantized(t)) fail(ErrorCode::invalid_argument, "{}: {} is not a block-quantized type", what, dtype_name(t));
  if (n % dtype_block_elems(t) != 0)
    fail(ErrorCode::invalid_argument, "{}: {} elements is not a whole number of {} blocks of {}", what, n,
         dtype_name(t), dtype_block_elems(t));
}

}  // namespace

void quantize_row(DType t, const float* x, size_t n, void* out) {
  check_row(t, n, "quantize_row");
  const size_t nb = n / dtype_block_elems(t);
  switch (t) {
    case DType::q8_0: quantize_q8_0(x, nb, static_cast<BlockQ8_0*>(out)); break;
    case DType::q4_0: quantize_q4_0(x, nb, static_cast<BlockQ4_0*>(out)); break;
    case DType::q4_k: {
      // Eight-float vectors where the CPU has AVX2: the same bytes (q4k_search.h), ~2x sooner.
      static const bool avx2 = cpu::cpu_has_avx2();
      if (avx2) {
        q4k::quantize_blocks_avx2(x, nb, static_cast<BlockQ4_K*>(out));
      } else {
        q4k::quantize_blocks<4>(x, nb, static_cast<BlockQ4_K*>(out));
      }
      break;
    }
    case DType::q2_0: quantize_q2_0(x, nb, static_cast<BlockQ2_0*>(out)); break;
    default: break;
  }
}

void dequantize_row(DType t, const void* in, size_t n, float* out) {
  check_row(t, n, "dequantize_row");
  const size_t nb = n / dtype_block_elems(t);
  switch (t) {
    case DType::q8_0: {
      const auto* b = static_cast<const BlockQ8_0*>(in);
      for (size_t i = 0; i < nb; ++i) {
        const float d = f16_to_f32(b[i].d);
        for (size_t k = 0; k < kQK; ++k) *out++ = d * static_cast<float>(b[i].qs[k]);
      }
      break;
    }
    case DType::q4_0: {
      const auto* b = static_cast<const BlockQ4_0*>(in);
      for (size_t i = 0; i < nb; ++i) {
        const float d = f16_to_f32(b[i].d);
        for (size_t k = 0; k < 16; ++k) out[k] = d * static_cast<float>((b[i].qs[k] & 15) - 8);
        for (size_t k = 0; k < 16; ++k) out[k + 16] = d * static_cast<float>((b[i].qs[k] >> 4) - 8);
        out += kQK;
      }
      break;
    }
    case DType::q4_k: {
      const auto* b = static_cast<const BlockQ4_K*>(in);
      for (size_t i = 0; i < nb; ++i) {
        const float d = f16_to_f32(b[i].d), dmin = f16_to_f32(b[i].dmin);
        for (int c = 0; c < 4; ++c) {
          uint8_t sc0, m0, sc1, m1;
          q4k_scale_min(2 * c, b[i].scales, sc0, m0);
          q4k_scale_min(2 * c + 1, b[i].scales, sc1, m1);
          const float d0 = d * static_cast<float>(sc0), o0 = dmin * static_cast<float>(m0);
          const float d1 = d * static_cast<float>(sc1), o1 = dmin * static_cast<float>(m1);
          const uint8_t* q = b[i].qs + 32 * c;
          for (size_t l = 0; l < 32; ++l) out[l] = d0 * static_cast<float>(q[l] & 15) - o0;
          for (size_t l = 0; l < 32; ++l) out[l + 32] = d1 * static_cast<float>(q[l] >> 4) - o1;
          out += 64;
        }
      }
      break;
    }
    case DType::q2_0: {
      const auto* b = static_cast<const BlockQ2_0*>(in);
      for (size_t i = 0; i < nb; ++i) {
        const float d = f16_to_f32(b[i].d);
        for (size_t k = 0; k < kQK; ++k) *out++ = d * static_cast<float>(q2_0_level(b[i].qs, k));
      }
      break;
    }
    default: break;
  }
}

size_t interleave_rows(DType t) noexcept {
  switch (t) {
    case DType::q4_0:
    case DType::q8_0:
    case DType::q4_k:
    case DType::q2_0: return 16;
    default: return 0;
  }
}

namespace {
// to_interleaved: ggml -> interleaved, else interleaved -> ggml.
void interleave_copy(DType t, const void* src, size_t rows, size_t cols, void* dst, bool to_interleaved) {
  const size_t G = interleave_rows(t);
  if (G == 0) fail(ErrorCode::invalid_argument, "interleaved layout: {} has none", dtype_name(t));
  check_row(t, cols, "interleaved layout");
  const size_t bb = dtype_block_bytes(t), nb = cols / dtype_block_elems(t), row = nb * bb;
  const auto* in = static_cast<const uint8_t*>(src);
  auto* out = static_cast<uint8_t*>(dst);
  const size_t whole = rows / G * G;
  auto move = [&](size_t packed, size_t plain, size_t len) {
    if (to_interleaved) {
      std::memcpy(out + packed, in + plain, len);
    } else {
      std::memcpy(out + plain, in + packed, len);
    }
  };
  if (t == DType::q4_k) {
    // (offset in the R16 super-block, offset in the ggml block, bytes) of each moved piece:
    // d[16], dmin[16], the three scale words of the 16 rows, then 32 vectors of 4-byte code pieces.
    auto q4k_pieces = [](size_t r, auto&& piece) {
      piece(2 * r, 0, 2);       // d
      piece(32 + 2 * r, 2, 2);  // dmin
      for (size_t w = 0; w < 3; ++w) piece(64 + 64 * w + 4 * r, 4 + 4 * w, 4);  // scale words
      for (size_t j = 0; j < 32; ++j) piece(256 + 64 * j + 4 * r, 16 + 4 * j, 4);  // qs[4j..4j+3]
    };
    for (size_t g = 0; g < whole; g += G)
      for (size_t b = 0; b < nb; ++b)
        for (size_t r = 0; r < G; ++r)
          q4k_pieces(r, [&](size_t po, size_t go, size_t len) { move(g * row + b * G * bb + po, (g + r) * row + b * bb + go, len); });
  } else {
    // R16: blocks in pairs [scales 2i | scales 2i+1 | codes 2i | codes 2i+1] (an odd last block
    // [scales | codes]); a block's codes in 4-byte pieces, one 64-byte vector per piece index j
    // holding the 16 rows' piece j (Q8_0 flipped to unsigned).
    const size_t codes = bb - 2, pieces = codes / 4;
    const bool flip = t == DType::q8_0;
    for (size_t g = 0; g < whole; g += G) {
      const size_t base = g * row;
      for (size_t b = 0; b < nb; ++b)
        for (size_t r = 0; r < G; ++r) {
          const size_t plain = base + r * row + b * bb;
          const R16Block block = r16_block(b, nb, G * codes);
          const size_t code_base = base + block.codes;
          move(base + block.scales + 2 * r, plain, 2);
          for (size_t j = 0; j < pieces; ++j) {
            const size_t packed = code_base + j * 4 * G + 4 * r;
            move(packed, plain + 2 + 4 * j, 4);
            if (flip) {
              uint8_t* at = out + (to_interleaved ? packed : plain + 2 + 4 * j);
              for (size_t k = 0; k < 4; ++k) at[k] ^= 0x80;
            }
          }
        }
    }
  }
  std::memcpy(out + whole * row, in + whole * row, (rows - whole) * row);
}
}  // namespace

void repack_interleaved(DType t, const void* src, size_t rows, size_t cols, void* dst) {
  interleave_copy(t, src, rows, cols, dst, true);
}
void unpack_interleaved(DType t, const void* src, size_t rows, size_t cols, void* dst) {
  interleave_copy(t, src, rows, cols, dst, false);
}

void quantize_activation_row(const float* x, size_t cols, void* out) noexcept {
  const size_t nb = cols / kQK;
  auto* qs = static_cast<int8_t*>(out);
  float* d = reinterpret_cast<float*>(static_cast<char*>(out) + cols);
  float* s = d + nb;
  for (size_t b = 0; b < nb; ++b) {
    const float* xb = x + b * kQK;
    float amax = 0.0f;
    for (size_t k = 0; k < kQK; ++k) amax = std::max(amax, std::fabs(xb[k]));
    const float db = amax / 127.0f;
    const float id = db != 0.0f ? 1.0f / db : 0.0f;
    int sum = 0;
    for (size_t k = 0; k < kQK; ++k) {
      const int q = round_even(xb[k] * id);
      qs[b * kQK + k] = static_cast<int8_t>(q);
      sum += q;
    }
    d[b] = db;
    s[b] = db * static_cast<float>(sum);
  }
  // Zero the padding so the buffer is deterministic.
  const size_t used = cols + 8 * nb;
  std::memset(static_cast<char*>(out) + used, 0, actq8::row_bytes(cols) - used);
}

}  // namespace zaya
