// src/model/math.h - the small element-wise pieces of the forward pass (fp32, exact forms).
#pragma once

#include <cmath>
#include <cstddef>

namespace zaya::model {

// sum of x[i]^2 in double, in eight interleaved partial sums added pairwise at the end. One
// running sum was a chain of dependent double adds (~4 cycles each, 2048 per norm of the 8B
// model): half the forward pass's own time outside the products in a prefill profile. The
// order depends on n alone, so a row sums the same in any batch.
inline double sum_of_squares(const float* x, size_t n) {
  double acc[8] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (size_t j = 0; j < 8; ++j) acc[j] += static_cast<double>(x[i + j]) * x[i + j];
  for (size_t j = 0; i < n; ++i, ++j) acc[j] += static_cast<double>(x[i]) * x[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// y = w * x / sqrt(mean(x^2) + eps): plain weight, no +1 offset (ZAYA1's RMSNorm).
inline void rms_norm(const float* x, const float* w, size_t n, double eps, float* y) {
  const double sum = sum_of_squares(x, n);
  const float inv = static_cast<float>(1.0 / std::sqrt(sum / static_cast<double>(n) + eps));
  for (size_t i = 0; i < n; ++i) y[i] = w[i] * (x[i] * inv);
}

// Exact (erf) GELU, as torch.nn.GELU(); the tanh approximation can flip near-tie routes.
inline float gelu(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }

inline float silu(float x) { return x / (1.0f + std::exp(-x)); }

// Scales v to L2 norm `target` (HF clamps the norm at float epsilon).
inline void l2_normalize(float* v, size_t n, float target) {
  double norm = std::sqrt(sum_of_squares(v, n));
  if (norm < 1.1920929e-07) norm = 1.1920929e-07;
  const float scale = static_cast<float>(target / norm);
  for (size_t i = 0; i < n; ++i) v[i] *= scale;
}

}  // namespace zaya::model
