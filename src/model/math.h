// src/model/math.h - the small element-wise pieces of the forward pass (fp32, exact forms).
#pragma once

#include <cmath>
#include <cstddef>

namespace zaya::model {

// y = w * x / sqrt(mean(x^2) + eps): plain weight, no +1 offset (ZAYA1's RMSNorm).
inline void rms_norm(const float* x, const float* w, size_t n, double eps, float* y) {
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float inv = static_cast<float>(1.0 / std::sqrt(sum / static_cast<double>(n) + eps));
  for (size_t i = 0; i < n; ++i) y[i] = w[i] * (x[i] * inv);
}

// Exact (erf) GELU, as torch.nn.GELU(); the tanh approximation can flip near-tie routes.
inline float gelu(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }

inline float silu(float x) { return x / (1.0f + std::exp(-x)); }

// Scales v to L2 norm `target` (HF clamps the norm at float epsilon).
inline void l2_normalize(float* v, size_t n, float target) {
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += static_cast<double>(v[i]) * v[i];
  double norm = std::sqrt(sum);
  if (norm < 1.1920929e-07) norm = 1.1920929e-07;
  const float scale = static_cast<float>(target / norm);
  for (size_t i = 0; i < n; ++i) v[i] *= scale;
}

}  // namespace zaya::model
