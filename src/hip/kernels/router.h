// src/hip/kernels/router.h - everything of the ZAYA1 router after its down-projection (ZAYA1 spec
// §2.4), one block per row, all fp32:
//   r = down + bias (+ carried * states_scale);  carried <- r                  (EDA, depth-wise)
//   u = RMSNorm(r); u = GELU(W1 u + b1); u = GELU(W2 u + b2); p = softmax(Wout u)   (E + 1 classes)
//   choice = argmax(p + balancing_biases) (ties to the lowest index); weight = p[choice]
#pragma once

#include "common.h"

namespace zaya::gpu {

struct Route {
  int32_t expert = 0;  // 0..E-1, or E for the skip class
  float weight = 0.0f;
};

inline constexpr int kMaxRouterWidth = 1024;
inline constexpr int kMaxClasses = 256;

struct RouterArgs {
  const float* down = nullptr;         // [n, R]: W_down h (no bias yet)
  const float* down_bias = nullptr;    // [R]
  const float* states_scale = nullptr; // [R] or null (block 0)
  float* state = nullptr;              // [n, R] carried across blocks
  const float* norm = nullptr;         // [R]
  float eps = 1e-5f;
  const void* fc1 = nullptr;           // [R, R]
  const float* fc1_bias = nullptr;
  const void* fc2 = nullptr;           // [R, R]
  const float* fc2_bias = nullptr;
  const void* out_proj = nullptr;      // [classes, R]
  const float* balancing = nullptr;    // [classes]
  int R = 0, classes = 0;
  Route* routes = nullptr;             // [n]
};

template <typename W>
ZAYA_DEVICE inline void router_linear(const void* weights, const float* bias, const float* in, float* out, int rows, int cols,
                                      bool gelu) {
  const W* w = static_cast<const W*>(weights);
  const int lane = static_cast<int>(threadIdx.x) % ZAYA_WARP_SIZE;
  const int warp = static_cast<int>(threadIdx.x) / ZAYA_WARP_SIZE;
  const int warps = static_cast<int>(blockDim.x) / ZAYA_WARP_SIZE;
  for (int o = warp; o < rows; o += warps) {
    float acc = 0.0f;
    for (int k = lane; k < cols; k += ZAYA_WARP_SIZE) acc += load_weight(w, static_cast<int64_t>(o) * cols + k) * in[k];
    acc = warp_sum(acc);
    if (lane == 0) out[o] = gelu ? gelu_erf(acc + bias[o]) : acc;
  }
  __syncthreads();
}

// grid (n). W: element type of fc1 / fc2 / out_proj.
template <typename W>
ZAYA_GLOBAL void router_mlp(RouterArgs a) {
  ZAYA_SHARED(float, r, kMaxRouterWidth);
  ZAYA_SHARED(float, u, kMaxRouterWidth);
  ZAYA_SHARED(float, logits, kMaxClasses);
  ZAYA_SHARED(float, scratch, kMaxWarpsPerBlock);
  const int64_t row = blockIdx.x;
  const int R = a.R;
  float ss = 0.0f;
  for (int j = static_cast<int>(threadIdx.x); j < R; j += static_cast<int>(blockDim.x)) {
    float v = a.down[row * R + j] + a.down_bias[j];
    if (a.states_scale) v += a.state[row * R + j] * a.states_scale[j];
    a.state[row * R + j] = v;
    r[j] = v;
    ss += v * v;
  }
  const float total = block_sum(ss, scratch);
  const float inv = 1.0f / sqrtf(total / static_cast<float>(R) + a.eps);
  for (int j = static_cast<int>(threadIdx.x); j < R; j += static_cast<int>(blockDim.x)) u[j] = a.norm[j] * (r[j] * inv);
  __syncthreads();
  router_linear<W>(a.fc1, a.fc1_bias, u, r, R, R, true);
  router_linear<W>(a.fc2, a.fc2_bias, r, u, R, R, true);
  router_linear<W>(a.out_proj, nullptr, u, logits, a.classes, R, false);
  if (threadIdx.x == 0) {
    float max_logit = logits[0];
    for (int e = 1; e < a.classes; ++e) max_logit = fmaxf(max_logit, logits[e]);
    double sum = 0.0;
    for (int e = 0; e < a.classes; ++e) sum += exp(static_cast<double>(logits[e]) - max_logit);
    int best = 0;
    double best_score = -INFINITY, best_prob = 0.0;
    for (int e = 0; e < a.classes; ++e) {
      const double p = exp(static_cast<double>(logits[e]) - max_logit) / sum;
      const double score = p + static_cast<double>(a.balancing[e]);
      if (score > best_score) {
        best_score = score;
        best = e;
        best_prob = p;
      }
    }
    a.routes[row] = Route{best, static_cast<float>(best_prob)};
  }
}

}  // namespace zaya::gpu
