// src/model/residual_scale.h - ZAYA1's learned residual merge, used after attention and MoE:
//   x = (o + hidden_bias) * hidden_scale + (x + residual_bias) * residual_scale
// The stream itself is rescaled at every add, so it must stay fp32.
#pragma once

#include "weights.h"

namespace zaya::model {

inline void residual_merge(const ResidualScale& s, const float* o, float* x, size_t n_rows, size_t hidden) {
  for (size_t i = 0; i < n_rows; ++i) {
    const float* oi = o + i * hidden;
    float* xi = x + i * hidden;
    for (size_t j = 0; j < hidden; ++j)
      xi[j] = (oi[j] + s.hidden_bias[j]) * s.hidden_scale[j] + (xi[j] + s.residual_bias[j]) * s.residual_scale[j];
  }
}

}  // namespace zaya::model
