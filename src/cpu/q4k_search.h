// src/cpu/q4k_search.h - the Q4_K quantizer (ggml's make_qkx2_quants scale search), written once
// for vectors of W floats: quant.cpp instantiates W = 4 for the baseline x86-64 (SSE2), and
// quant_avx2.cpp W = 8 (AVX2, chosen at run time). Both give the same bytes for every finite
// input (tests/test_model_quant.cpp compares them): every sum over a sub-block of 32 runs in the
// same 8 partial sums, lane k taking elements k, k + 8, k + 16, k + 24 in that order, and the
// lanes are added in one fixed tree; every other step is the same IEEE operation element by
// element. Both files are built without FMA contraction (-ffp-contract=off), so no a * b + c
// rounds once. (A NaN or an infinity gives some codes in either; the minimum and maximum then
// depend on the lanes' grouping.)
#pragma once

#include <zaya/quant.h>

#include "rounding.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>

namespace zaya::q4k {

// The same templates are built for two ISAs: internal linkage keeps each file's copies its own.
namespace {

// GCC / Clang vector extensions: plain IEEE operations on W floats. (Spelled per width: GCC drops
// the attribute from a dependent alias.)
template <int W>
struct VecOf;
template <>
struct VecOf<4> {
  typedef float type __attribute__((vector_size(16)));
};
template <>
struct VecOf<8> {
  typedef float type __attribute__((vector_size(32)));
};
template <int W>
using Vec = typename VecOf<W>::type;

constexpr int kSums = 8;  // partial sums per sub-block of 32

template <int W>
inline Vec<W> splat(float v) {
  Vec<W> r;
  for (int k = 0; k < W; ++k) r[k] = v;
  return r;
}
template <int W>
inline Vec<W> load(const float* p) {
  Vec<W> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The 8 partial sums, kept in kSums / W accumulators: vector j (elements W j .. W j + W - 1)
// goes to accumulator j % (kSums / W), so lane k of the whole is elements k, k + 8, k + 16, k + 24.
template <int W>
struct Sums {
  static constexpr int kAcc = kSums / W;
  Vec<W> acc[kAcc] = {};
  void add(int j, Vec<W> v) { acc[j % kAcc] += v; }
  float total() const {
    float s[kSums];
    for (int a = 0; a < kAcc; ++a)
      for (int k = 0; k < W; ++k) s[a * W + k] = acc[a][k];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  }
};

// The nearest level to v in [0, nmax], half to even. Clamping before rounding gives what
// clamping the rounded value gives, for every v; a NaN becomes 0; and the clamped value is far
// below 2^22, where adding and subtracting 1.5 * 2^23 rounds exactly (rounding.h).
template <int W>
inline Vec<W> nearest_level(Vec<W> v, Vec<W> nmax) {
  const Vec<W> zero = {};
  v = 0.0f < v ? v : zero;  // NaN -> 0
  v = v < nmax ? v : nmax;
  const Vec<W> b = splat<W>(0x1.8p23f);
  return (v + b) - b;
}

// Weighted fit of x[i] ~ scale * q[i] - min over one sub-block of 32, q in [0, nmax] (ggml's
// make_qkx2_quants with rmin = -1, rdelta = 0.1, nstep = 20, squared error; its sums in lanes).
// Returns scale; *out_min = min >= 0.
template <int W>
float fit_scale_min(float nmax, const float* xp, const float* wp, uint8_t* q, float* out_min) {
  using V = Vec<W>;
  constexpr int kVecs = kQK / W;
  static_assert(kSums % W == 0 && kQK % kSums == 0);
  V x[kVecs], w[kVecs];
  for (int j = 0; j < kVecs; ++j) {
    x[j] = load<W>(xp + W * j);
    w[j] = load<W>(wp + W * j);
  }
  V lo_v = x[0], hi_v = x[0];
  Sums<W> sw, sx;
  for (int j = 0; j < kVecs; ++j) {
    lo_v = x[j] < lo_v ? x[j] : lo_v;
    hi_v = x[j] > hi_v ? x[j] : hi_v;
    sw.add(j, w[j]);
    sx.add(j, w[j] * x[j]);
  }
  float lo = lo_v[0], hi = hi_v[0];  // min and max do not depend on the order
  for (int k = 1; k < W; ++k) {
    lo = std::min(lo, lo_v[k]);
    hi = std::max(hi, hi_v[k]);
  }
  const float sum_w = sw.total(), sum_x = sx.total();
  if (lo > 0.0f) lo = 0.0f;  // the offset only ever shifts down: min >= 0
  if (hi == lo) {
    std::fill(q, q + kQK, uint8_t{0});
    *out_min = -lo;
    return 0.0f;
  }
  const V top = splat<W>(nmax);
  auto levels = [&](float iscale, V (&l)[kVecs]) {
    for (int j = 0; j < kVecs; ++j) l[j] = nearest_level<W>(splat<W>(iscale) * (x[j] - splat<W>(lo)), top);
  };
  auto weighted_error = [&](float scale, float offset, const V (&l)[kVecs]) {
    Sums<W> e;
    for (int j = 0; j < kVecs; ++j) {
      const V diff = splat<W>(scale) * l[j] + splat<W>(offset) - x[j];
      e.add(j, w[j] * (diff * diff));
    }
    return e.total();
  };
  V best_l[kVecs], cand[kVecs];
  float iscale = nmax / (hi - lo);
  float scale = 1.0f / iscale;
  levels(iscale, best_l);
  float best = weighted_error(scale, lo, best_l);
  for (int step = 0; step <= 20; ++step) {
    iscale = (-1.0f + 0.1f * static_cast<float>(step) + nmax) / (hi - lo);
    levels(iscale, cand);
    Sums<W> sl, sl2, sxl;
    for (int j = 0; j < kVecs; ++j) {
      const V wl = w[j] * cand[j];
      sl.add(j, wl);
      sl2.add(j, wl * cand[j]);
      sxl.add(j, wl * x[j]);
    }
    const float sum_l = sl.total(), sum_l2 = sl2.total(), sum_xl = sxl.total();
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
    for (int k = 0; k < W; ++k) q[W * j + k] = static_cast<uint8_t>(best_l[j][k]);
  *out_min = -lo;
  return scale;
}

template <int W>
void quantize_blocks(const float* x, size_t nb, BlockQ4_K* y) {
  using V = Vec<W>;
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
      scales[j] = fit_scale_min<W>(15.0f, xs, w, q + kQK * static_cast<size_t>(j), &mins[j]);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    std::memset(y[b].scales, 0, sizeof(y[b].scales));
    for (int j = 0; j < 8; ++j) {
      const auto ls = static_cast<uint8_t>(round_even(clamp_finite(inv_scale * scales[j], 0.0f, 63.0f, 0.0f)));
      const auto lm = static_cast<uint8_t>(round_even(clamp_finite(inv_min * mins[j], 0.0f, 63.0f, 0.0f)));
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
      for (size_t v = 0; v < kQK; v += W) {
        const size_t i = kQK * static_cast<size_t>(j) + v;
        const V l = nearest_level<W>((load<W>(x + i) + splat<W>(dm)) / splat<W>(ds), splat<W>(15.0f));
        for (int k = 0; k < W; ++k) q[i + static_cast<size_t>(k)] = static_cast<uint8_t>(l[k]);
      }
    }
    for (size_t c = 0; c < 4; ++c)
      for (size_t l = 0; l < 32; ++l)
        y[b].qs[32 * c + l] = static_cast<uint8_t>(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
  }
}

}  // namespace

// The same with 8-float vectors, built for AVX2 (quant_avx2.cpp); call only where the CPU has it
// (cpu::cpu_has_avx2, src/cpu/kernels.h).
void quantize_blocks_avx2(const float* x, size_t nb, BlockQ4_K* y);

}  // namespace zaya::q4k
