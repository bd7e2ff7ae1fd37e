// src/hip/kernels/matmul.h - Y[i, r] = sum_k W[r, k] X[i, k] for f32 or bf16 weights, fp32
// accumulate. Two kernels with one contract:
//   matmul_rows   one wavefront per output row, up to kRowsTile activation rows at once:
//                 decode-shaped (few rows), reads every weight once per kRowsTile rows.
//   matmul_tiled  64x64 output tiles through shared memory, 4x4 per thread: prefill-shaped.
// Both take a z batch (blockIdx.z): W, X and Y advance by w_batch, x_batch, y_batch elements,
// which runs e.g. the CCA grouped conv's per-head matrices in one launch. Rows of X and Y have
// strides ldx and ldy; nothing outside Y[i, 0..rows) is written.
#pragma once

#include "common.h"

namespace zaya::gpu {

struct MatmulArgs {
  const void* w = nullptr;  // [rows, cols] (+ z * w_batch)
  int weight_type = kWeightF32;
  int64_t w_batch = 0;
  const float* x = nullptr;
  int64_t ldx = 0, x_batch = 0;
  float* y = nullptr;
  int64_t ldy = 0, y_batch = 0;
  int64_t n = 0, rows = 0, cols = 0;
  int batch = 1;
};

inline constexpr int kRowsTile = 4;
inline constexpr int kMatmulRowsThreads = 256;

template <typename W>
ZAYA_GLOBAL void matmul_rows(MatmulArgs a) {
  const int lane = static_cast<int>(threadIdx.x) % ZAYA_WARP_SIZE;
  const int warp = static_cast<int>(threadIdx.x) / ZAYA_WARP_SIZE;
  const int warps = static_cast<int>(blockDim.x) / ZAYA_WARP_SIZE;
  const int64_t r = static_cast<int64_t>(blockIdx.x) * warps + warp;
  const int64_t i0 = static_cast<int64_t>(blockIdx.y) * kRowsTile;
  if (r >= a.rows) return;  // the whole wavefront leaves together: no shuffle is left half-done
  const int64_t z = blockIdx.z;
  const W* wr = static_cast<const W*>(a.w) + z * a.w_batch + r * a.cols;
  const float* x = a.x + z * a.x_batch + i0 * a.ldx;
  float* y = a.y + z * a.y_batch + i0 * a.ldy;
  const int64_t count = a.n - i0 < kRowsTile ? a.n - i0 : kRowsTile;
  float acc[kRowsTile] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int64_t k = lane; k < a.cols; k += ZAYA_WARP_SIZE) {
    const float wv = load_weight(wr, k);
    for (int t = 0; t < kRowsTile; ++t)
      if (t < count) acc[t] += wv * x[t * a.ldx + k];
  }
  for (int t = 0; t < kRowsTile; ++t)
    if (t < count) acc[t] = warp_sum(acc[t]);  // count is uniform: the wavefront stays converged
  if (lane == 0)
    for (int t = 0; t < kRowsTile; ++t)
      if (t < count) y[t * a.ldy + r] = acc[t];
}

inline constexpr int kTile = 64;       // output tile: kTile weight rows x kTile activation rows
inline constexpr int kTileK = 16;      // reduction step through shared memory
inline constexpr int kTiledThreads = 256;  // 16 x 16 threads, 4 x 4 outputs each

template <typename W>
ZAYA_GLOBAL void matmul_tiled(MatmulArgs a) {
  ZAYA_SHARED(float, w_tile, kTile * (kTileK + 1));
  ZAYA_SHARED(float, x_tile, kTile * (kTileK + 1));
  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % 16, ty = tid / 16;
  const int64_t r0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int64_t i0 = static_cast<int64_t>(blockIdx.y) * kTile;
  const int64_t z = blockIdx.z;
  const W* w = static_cast<const W*>(a.w) + z * a.w_batch;
  const float* x = a.x + z * a.x_batch;
  float* y = a.y + z * a.y_batch;
  float acc[4][4];
  for (int p = 0; p < 4; ++p)
    for (int q = 0; q < 4; ++q) acc[p][q] = 0.0f;
  for (int64_t k0 = 0; k0 < a.cols; k0 += kTileK) {
    for (int e = tid; e < kTile * kTileK; e += kTiledThreads) {
      const int rr = e / kTileK, kk = e % kTileK;
      const int64_t k = k0 + kk;
      const bool k_ok = k < a.cols;
      w_tile[rr * (kTileK + 1) + kk] = (k_ok && r0 + rr < a.rows) ? load_weight(w, (r0 + rr) * a.cols + k) : 0.0f;
      x_tile[rr * (kTileK + 1) + kk] = (k_ok && i0 + rr < a.n) ? x[(i0 + rr) * a.ldx + k] : 0.0f;
    }
    __syncthreads();
    for (int kk = 0; kk < kTileK; ++kk) {
      float wv[4], xv[4];
      for (int p = 0; p < 4; ++p) wv[p] = w_tile[(ty + 16 * p) * (kTileK + 1) + kk];
      for (int q = 0; q < 4; ++q) xv[q] = x_tile[(tx + 16 * q) * (kTileK + 1) + kk];
      for (int p = 0; p < 4; ++p)
        for (int q = 0; q < 4; ++q) acc[p][q] += wv[p] * xv[q];
    }
    __syncthreads();
  }
  for (int p = 0; p < 4; ++p)
    for (int q = 0; q < 4; ++q) {
      const int64_t r = r0 + ty + 16 * p, i = i0 + tx + 16 * q;
      if (r < a.rows && i < a.n) y[i * a.ldy + r] = acc[p][q];
    }
}

}  // namespace zaya::gpu
