// src/cpu/rounding.h - float -> int rounding for the scalar quantizers, without libm calls.
#pragma once

#include <algorithm>
#include <cmath>

namespace zaya {

// quant.cpp is compiled for the baseline x86-64 (SSE2), which has no rounding instruction: there
// std::nearbyint and std::round are calls into libm, one per weight (21 per weight in the Q4_K
// scale search). Below 2^22 in magnitude these round inline instead, with the same results
// (tests/test_model_quant.cpp compares them with libm).

// Round half to even (the current FP mode, nearest by default): ggml's nearest_int. Adding
// 1.5 * 2^23 leaves a float whose unit is 1, so the FPU rounds v to an integer, and subtracting
// it again is exact.
inline int round_even(float v) noexcept {
  if (!(std::fabs(v) < 0x1p22f)) return static_cast<int>(std::nearbyint(v));  // large, inf, NaN
  // IEEE arithmetic forbids folding (v + b) - b to v; the build never uses -ffast-math, and the
  // test compares every rounding against std::nearbyint.
  constexpr float b = 0x1.8p23f;
  return static_cast<int>((v + b) - b);
}
// Round half away from zero (C roundf): ggml's Q8_0 rule. round_even differs only at the halves.
inline int round_away(float v) noexcept {
  if (!(std::fabs(v) < 0x1p22f)) return static_cast<int>(std::round(v));
  int r = round_even(v);
  const float diff = v - static_cast<float>(r);  // exact
  if (diff == 0.5f && v > 0.0f) ++r;        // v = k + 1/2 > 0 rounded down to an even k
  else if (diff == -0.5f && v < 0.0f) --r;  // v = -(k + 1/2) rounded up to an even -k
  return r;
}

// v clamped to [lo, hi], and if_nan for a NaN. A quantizer clamps a value this way before it
// becomes an integer: a non-finite weight (a corrupt checkpoint; the big matrices are not scanned
// for them at load) then gives some code instead of a float-to-int conversion of a NaN or an
// infinity, which is undefined. For finite weights the values already lie in [lo, hi]: no change.
inline float clamp_finite(float v, float lo, float hi, float if_nan) noexcept {
  return v == v ? std::min(std::max(v, lo), hi) : if_nan;
}

}  // namespace zaya
