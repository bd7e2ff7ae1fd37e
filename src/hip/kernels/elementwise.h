// src/hip/kernels/elementwise.h - per-row kernels of the forward pass: embedding + input
// affine, RMSNorm (optionally gathering rows), the learned residual merge, SwiGLU.
#pragma once

#include "cca.h"
#include "common.h"

namespace zaya::gpu {

inline constexpr int kRowThreads = 256;

// x[i] = (E[token_i] + bias) * scale. grid (n).
template <typename W>
ZAYA_GLOBAL void embed_input(const W* embedding, const RowInfo* rows, const float* bias, const float* scale, int H, float* x) {
  const int64_t row = blockIdx.x;
  const W* e = embedding + static_cast<int64_t>(rows[row].token) * H;
  for (int j = static_cast<int>(threadIdx.x); j < H; j += static_cast<int>(blockDim.x))
    x[row * H + j] = (load_weight(e, j) + bias[j]) * scale[j];
}

// y[i] = w * x[src_i] / sqrt(mean(x[src_i]^2) + eps), src_i = gather ? gather[i] : i. grid (n).
ZAYA_GLOBAL void rms_norm(const float* x, const int32_t* gather, const float* w, int cols, float eps, float* y) {
  ZAYA_SHARED(float, scratch, kMaxWarpsPerBlock);
  const int64_t row = blockIdx.x;
  const int64_t src = gather ? gather[row] : row;
  const float* xr = x + src * cols;
  float ss = 0.0f;
  for (int j = static_cast<int>(threadIdx.x); j < cols; j += static_cast<int>(blockDim.x)) ss += xr[j] * xr[j];
  const float total = block_sum(ss, scratch);
  const float inv = 1.0f / sqrtf(total / static_cast<float>(cols) + eps);
  for (int j = static_cast<int>(threadIdx.x); j < cols; j += static_cast<int>(blockDim.x)) y[row * cols + j] = w[j] * (xr[j] * inv);
}

struct MergeArgs {
  const float* hidden_scale = nullptr;
  const float* hidden_bias = nullptr;
  const float* residual_scale = nullptr;
  const float* residual_bias = nullptr;
};

// x = (o + hidden_bias) * hidden_scale + (x + residual_bias) * residual_scale. grid (n).
ZAYA_GLOBAL void residual_merge(MergeArgs m, const float* o, float* x, int H) {
  const int64_t row = blockIdx.x;
  for (int j = static_cast<int>(threadIdx.x); j < H; j += static_cast<int>(blockDim.x)) {
    const int64_t k = row * H + j;
    x[k] = (o[k] + m.hidden_bias[j]) * m.hidden_scale[j] + (x[k] + m.residual_bias[j]) * m.residual_scale[j];
  }
}

// act[i, j] = silu(gu[i, j]) * gu[i, I + j]. grid (n).
ZAYA_GLOBAL void swiglu(const float* gate_up, int I, float* act) {
  const int64_t row = blockIdx.x;
  for (int j = static_cast<int>(threadIdx.x); j < I; j += static_cast<int>(blockDim.x)) {
    const float g = gate_up[row * 2 * I + j], u = gate_up[row * 2 * I + I + j];
    act[row * I + j] = g / (1.0f + expf(-g)) * u;
  }
}

}  // namespace zaya::gpu
