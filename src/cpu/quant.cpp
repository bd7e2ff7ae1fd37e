// src/cpu/quant.cpp - the scalar reference quantizers and dequantizers (zaya/quant.h).
#include <zaya/error.h>
#include <zaya/quant.h>

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
    for (size_t k = 0; k < kQK; ++k) y[b].qs[k] = static_cast<int8_t>(round_away(x[k] * id));
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
      const int lo = std::min(15, static_cast<int>(static_cast<int8_t>(x[k] * id + 8.5f)));
      const int hi = std::min(15, static_cast<int>(static_cast<int8_t>(x[k + kQK / 2] * id + 8.5f)));
      y[b].qs[k] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

// The Q4_K scale search works on a sub-block of 32 as 8 vectors of 4 floats (GCC / Clang vector
// extensions: SSE2 on the baseline x86-64 this file is built for, NEON elsewhere, plain IEEE
// operations element by element). Its sums are 8 partial sums, lane k taking elements k, k + 8,
// k + 16, k + 24 (vectors 2m and 2m + 1 go to two accumulators), added in a fixed tree at the
// end: every result is the same whatever the vector unit. No FMA contraction (baseline ISA).
typedef float F4 __attribute__((vector_size(16)));
constexpr int kVecs = kQK / 4;

inline F4 splat(float v) { return F4{v, v, v, v}; }
inline F4 load4(const float* p) {
  F4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline float lane_total(F4 a, F4 b) { return ((a[0] + a[1]) + (a[2] + a[3])) + ((b[0] + b[1]) + (b[2] + b[3])); }

// The nearest level to v in [0, nmax], half to even. Clamping before rounding gives what
// clamping the rounded value gives, for every v; a NaN becomes 0; and the clamped value is far
// below 2^22, where adding and subtracting 1.5 * 2^23 rounds exactly (rounding.h).
inline F4 nearest_level(F4 v, F4 nmax) {
  const F4 zero = {};
  v = 0.0f < v ? v : zero;  // NaN -> 0
  v = v < nmax ? v : nmax;
  const F4 b = splat(0x1.8p23f);
  return (v + b) - b;
}

// Weighted fit of x[i] ~ scale * q[i] - min over one sub-block of 32, q in [0, nmax] (ggml's
// make_qkx2_quants with rmin = -1, rdelta = 0.1, nstep = 20, squared error; its sums in lanes).
// Returns scale; *out_min = min >= 0.
float fit_scale_min(float nmax, const float* xp, const float* wp, uint8_t* q, float* out_min) {
  F4 x[kVecs], w[kVecs];
  for (int j = 0; j < kVecs; ++j) {
    x[j] = load4(xp + 4 * j);
    w[j] = load4(wp + 4 * j);
  }
  F4 lo4 = x[0], hi4 = x[0], sw[2] = {}, sx[2] = {};
  for (int j = 0; j < kVecs; ++j) {
    lo4 = x[j] < lo4 ? x[j] : lo4;
    hi4 = x[j] > hi4 ? x[j] : hi4;
    sw[j & 1] += w[j];
    sx[j & 1] += w[j] * x[j];
  }
  float lo = std::min(std::min(lo4[0], lo4[1]), std::min(lo4[2], lo4[3]));
  const float hi = std::max(std::max(hi4[0], hi4[1]), std::max(hi4[2], hi4[3]));
  const float sum_w = lane_total(sw[0], sw[1]), sum_x = lane_total(sx[0], sx[1]);
  if (lo > 0.0f) lo = 0.0f;  // the offset only ever shifts down: min >= 0
  if (hi == lo) {
    std::fill(q, q + kQK, uint8_t{0});
    *out_min = -lo;
    return 0.0f;
  }
  const F4 top = splat(nmax);
  auto levels = [&](float iscale, F4 (&l)[kVecs]) {
    for (int j = 0; j < kVecs; ++j) l[j] = nearest_level(splat(iscale) * (x[j] - splat(lo)), top);
  };
  auto weighted_error = [&](float scale, float offset, const F4 (&l)[kVecs]) {
    F4 e[2] = {};
    for (int j = 0; j < kVecs; ++j) {
      const F4 diff = splat(scale) * l[j] + splat(offset) - x[j];
      e[j & 1] += w[j] * (diff * diff);
    }
    return lane_total(e[0], e[1]);
  };
  F4 best_l[kVecs], cand[kVecs];
  float iscale = nmax / (hi - lo);
  float scale = 1.0f / iscale;
  levels(iscale, best_l);
  float best = weighted_error(scale, lo, best_l);
  for (int step = 0; step <= 20; ++step) {
    iscale = (-1.0f + 0.1f * static_cast<float>(step) + nmax) / (hi - lo);
    levels(iscale, cand);
    F4 sl[2] = {}, sl2[2] = {}, sxl[2] = {};
    for (int j = 0; j < kVecs; ++j) {
      const F4 wl = w[j] * cand[j];
      sl[j & 1] += wl;
      sl2[j & 1] += wl * cand[j];
      sxl[j & 1] += wl * x[j];
    }
    const float sum_l = lane_total(sl[0], sl[1]), sum_l2 = lane_total(sl2[0], sl2[1]),
                sum_xl = lane_total(sxl[0], sxl[1]);
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (det > 0.0f) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
      float this_lo = (sum_l2 * sum_x - sum_l * sum_xl) / det;
      if (this_lo > 0.0f) {
        this_lo = 0.0f;
        this_scale = sum_xl / sum_l2;
      }
      const float err = weighted_error(this_scale, this_lo, cand);
      if (err < best) {
        std::copy(std::begin(cand), std::end(cand), best_l);
        best = err;
        scale = this_scale;
        lo = this_lo;
      }
    }
  }
  for (int j = 0; j < kVecs; ++j)
    for (int k = 0; k < 4; ++k) q[4 * j + k] = static_cast<uint8_t>(best_l[j][k]);
  *out_min = -lo;
  return scale;
}

void quantize_q4_k(const float* x, size_t nb, BlockQ4_K* y) {
  for (size_t b = 0; b < nb; ++b, x += kQKK) {
    uint8_t q[kQKK];
    float scales[8], mins[8], w[kQK];
    float max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 8; ++j) {
      const float* xs = x + kQK * static_cast<size_t>(j);
      float sum_x2 = 0.0f;
      for (size_t l = 0; l < kQK; ++l) sum_x2 += xs[l] * xs[l];
      const float rms = std::sqrt(sum_x2 / 32.0f);
      for (size_t l = 0; l < kQK; ++l) w[l] = rms + std::fabs(xs[l]);
      scales[j] = fit_scale_min(15.0f, xs, w, q + kQK * static_cast<size_t>(j), &mins[j]);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    std::memset(y[b].scales, 0, sizeof(y[b].scales));
    for (int j = 0; j < 8; ++j) {
      const auto ls = static_cast<uint8_t>(std::min(63, round_even(inv_scale * scales[j])));
      const auto lm = static_cast<uint8_t>(std::min(63, round_even(inv_min * mins[j])));
      if (j < 4) {
        y[b].scales[j] = ls;
        y[b].scales[j + 4] = lm;
      } else {  // low 4 bits in byte j+4, high 2 bits in the top of bytes j-4 (scale) and j (min)
        y[b].scales[j + 4] = static_cast<uint8_t>((ls & 15) | ((lm & 15) << 4));
        y[b].scales[j - 4] = static_cast<uint8_t>(y[b].scales[j - 4] | ((ls >> 4) << 6));
        y[b].scales[j] = static_cast<uint8_t>(y[b].scales[j] | ((lm >> 4) << 6));
      }
    }
    y[b].d = f32_to_f16(max_scale / 63.0f);
    y[b].dmin = f32_to_f16(max_min / 63.0f);
    const float d = f16_to_f32(y[b].d), dmin = f16_to_f32(y[b].dmin);
    for (int j = 0; j < 8; ++j) {  // re-round q against the 6-bit scale and min actually stored
      uint8_t sc, m;
      q4k_scale_min(j, y[b].scales, sc, m);
      const float ds = d * static_cast<float>(sc);
      if (ds == 0.0f) continue;
      const float dm = dmin * static_cast<float>(m);
      for (size_t v = 0; v < kQK; v += 4) {
        const size_t i = kQK * static_cast<size_t>(j) + v;
        const F4 l = nearest_level((load4(x + i) + splat(dm)) / splat(ds), splat(15.0f));
        for (int k = 0; k < 4; ++k) q[i + static_cast<size_t>(k)] = static_cast<uint8_t>(l[k]);
      }
    }
    for (size_t c = 0; c < 4; ++c)
      for (size_t l = 0; l < 32; ++l)
        y[b].qs[32 * c + l] = static_cast<uint8_t>(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
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
    case DType::q4_k: quantize_q4_k(x, nb, static_cast<BlockQ4_K*>(out)); break;
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
