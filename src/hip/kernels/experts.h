// src/hip/kernels/experts.h - top-1 SwiGLU experts with rows grouped by expert, all on the device
// (no routes go back to the host):
//   group_by_expert  one block: stable counting sort of the rows by chosen class (E + 1 with skip),
//                    offsets[e] .. offsets[e+1] index perm[]; adds the skip count to a counter.
//   expert_gate_up   grid (I / warps, n / kRowsTile, E): act[slot] = silu(G_e x) * (U_e x)
//   expert_down      grid (H / warps, n / kRowsTile, E): out[row] = weight * D_e act[slot]
//   expert_skip      rows that chose the skip class: weight * h, or 0.
// Blocks past an expert's row count return at once, so each expert's weights are read once
// per kRowsTile of its rows.
#pragma once

#include "common.h"
#include "matmul.h"
#include "router.h"

namespace zaya::gpu {

struct ExpertArgs {
  const Route* routes = nullptr;
  int n = 0, E = 0, H = 0, I = 0;
  const int32_t* offsets = nullptr;  // [E + 2]
  const int32_t* perm = nullptr;     // [n]
  const void* gate_up = nullptr;     // [E, 2I, H]
  const void* down = nullptr;        // [E, H, I]
  const float* h = nullptr;          // [n, H] expert input
  float* act = nullptr;              // [n, I] in grouped (slot) order
  float* out = nullptr;              // [n, H]
  int skip_scales_input = 1;         // skip class: weight * h (1) or 0 (0)
};

// grid (1), any block size; offsets [E + 2], perm [n], skips += rows that chose class E.
ZAYA_GLOBAL void group_by_expert(const Route* routes, int n, int E, int32_t* offsets, int32_t* perm,
                                 unsigned long long* skips) {
  ZAYA_SHARED(int32_t, counts, kMaxClasses);
  const int classes = E + 1;
  for (int e = static_cast<int>(threadIdx.x); e < classes; e += static_cast<int>(blockDim.x)) {
    int32_t c = 0;
    for (int i = 0; i < n; ++i) c += routes[i].expert == e;
    counts[e] = c;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int32_t running = 0;
    for (int e = 0; e < classes; ++e) {
      offsets[e] = running;
      running += counts[e];
    }
    offsets[classes] = running;
    *skips += static_cast<unsigned long long>(counts[E]);
  }
  __syncthreads();
  for (int e = static_cast<int>(threadIdx.x); e < classes; e += static_cast<int>(blockDim.x)) {
    int32_t slot = 0;
    for (int i = 0; i < n; ++i) slot += routes[i].expert < e;
    for (int i = 0; i < n; ++i)
      if (routes[i].expert == e) perm[slot++] = i;
  }
}

template <typename W>
ZAYA_GLOBAL void expert_gate_up(ExpertArgs a) {
  const int lane = static_cast<int>(threadIdx.x) % ZAYA_WARP_SIZE;
  const int warp = static_cast<int>(threadIdx.x) / ZAYA_WARP_SIZE;
  const int warps = static_cast<int>(blockDim.x) / ZAYA_WARP_SIZE;
  const int e = static_cast<int>(blockIdx.z);
  const int first = a.offsets[e], count_all = a.offsets[e + 1] - first;
  const int k0 = static_cast<int>(blockIdx.y) * kRowsTile;
  const int j = static_cast<int>(blockIdx.x) * warps + warp;
  if (k0 >= count_all || j >= a.I) return;
  const int count = count_all - k0 < kRowsTile ? count_all - k0 : kRowsTile;
  const int64_t H = a.H, I = a.I;
  const W* gate = static_cast<const W*>(a.gate_up) + e * 2 * I * H + j * H;
  const W* up = gate + I * H;
  const float* x[kRowsTile];
  for (int t = 0; t < kRowsTile; ++t) x[t] = a.h + static_cast<int64_t>(a.perm[first + k0 + (t < count ? t : 0)]) * H;
  float g[kRowsTile] = {0.0f, 0.0f, 0.0f, 0.0f}, u[kRowsTile] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int64_t k = lane; k < H; k += ZAYA_WARP_SIZE) {
    const float gw = load_weight(gate, k), uw = load_weight(up, k);
    for (int t = 0; t < kRowsTile; ++t)
      if (t < count) {
        g[t] += gw * x[t][k];
        u[t] += uw * x[t][k];
      }
  }
  for (int t = 0; t < kRowsTile; ++t)
    if (t < count) {
      g[t] = warp_sum(g[t]);
      u[t] = warp_sum(u[t]);
    }
  if (lane == 0)
    for (int t = 0; t < kRowsTile; ++t)
      if (t < count) a.act[static_cast<int64_t>(first + k0 + t) * I + j] = g[t] / (1.0f + expf(-g[t])) * u[t];
}

template <typename W>
ZAYA_GLOBAL void expert_down(ExpertArgs a) {
  const int lane = static_cast<int>(threadIdx.x) % ZAYA_WARP_SIZE;
  const int warp = static_cast<int>(threadIdx.x) / ZAYA_WARP_SIZE;
  const int warps = static_cast<int>(blockDim.x) / ZAYA_WARP_SIZE;
  const int e = static_cast<int>(blockIdx.z);
  const int first = a.offsets[e], count_all = a.offsets[e + 1] - first;
  const int k0 = static_cast<int>(blockIdx.y) * kRowsTile;
  const int j = static_cast<int>(blockIdx.x) * warps + warp;
  if (k0 >= count_all || j >= a.H) return;
  const int count = count_all - k0 < kRowsTile ? count_all - k0 : kRowsTile;
  const int64_t H = a.H, I = a.I;
  const W* w = static_cast<const W*>(a.down) + e * H * I + j * I;
  const float* act = a.act + static_cast<int64_t>(first + k0) * I;
  float acc[kRowsTile] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int64_t k = lane; k < I; k += ZAYA_WARP_SIZE) {
    const float wv = load_weight(w, k);
    for (int t = 0; t < kRowsTile; ++t)
      if (t < count) acc[t] += wv * act[t * I + k];
  }
  for (int t = 0; t < kRowsTile; ++t)
    if (t < count) acc[t] = warp_sum(acc[t]);
  if (lane == 0)
    for (int t = 0; t < kRowsTile; ++t)
      if (t < count) {
        const int row = a.perm[first + k0 + t];
        a.out[static_cast<int64_t>(row) * H + j] = a.routes[row].weight * acc[t];
      }
}

// grid (n): rows whose route is the skip class E.
ZAYA_GLOBAL void expert_skip(ExpertArgs a) {
  const int64_t row = blockIdx.x;
  const Route route = a.routes[row];
  if (route.expert != a.E) return;
  for (int j = static_cast<int>(threadIdx.x); j < a.H; j += static_cast<int>(blockDim.x))
    a.out[row * a.H + j] = a.skip_scales_input ? route.weight * a.h[row * a.H + j] : 0.0f;
}

}  // namespace zaya::gpu
