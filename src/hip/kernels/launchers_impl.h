// src/hip/kernels/launchers_impl.h - definitions of launchers.h (see there: one TU per binary).
#pragma once

#include "hip/kernels/launch.h"
#include "hip/kernels/launchers.h"

#include <algorithm>

namespace zaya::gpu {

#if defined(ZAYA_HIP_DEVICE_COMPILER)
static int g_wavefront = 64;
void set_device_wavefront(int size) { g_wavefront = size; }
int device_wavefront() { return g_wavefront; }
#else
void set_device_wavefront(int size) { emu::set_wavefront_size(size); }
int device_wavefront() { return emu::wavefront_size(); }
#endif

void run_matmul(const MatmulArgs& a, MatmulKernel kernel) {
  if (a.n <= 0 || a.rows <= 0 || a.batch <= 0) return;
  if (kernel == MatmulKernel::automatic) kernel = a.n >= kTiledMinRows ? MatmulKernel::tiled : MatmulKernel::rows;
  const auto z = static_cast<unsigned>(a.batch);
  if (kernel == MatmulKernel::tiled) {
    const dim3 grid(blocks_for(a.rows, kTile), blocks_for(a.n, kTile), z);
    if (a.weight_type == kWeightBF16) launch("matmul_tiled<bf16>", &matmul_tiled<uint16_t>, grid, dim3(kTiledThreads), 0, a);
    else launch("matmul_tiled<f32>", &matmul_tiled<float>, grid, dim3(kTiledThreads), 0, a);
    return;
  }
  // One wavefront per output row: kMatmulRowsThreads / wavefront rows per block.
  const dim3 grid(blocks_for(a.rows, kMatmulRowsThreads / device_wavefront()), blocks_for(a.n, kRowsTile), z);
  if (a.weight_type == kWeightBF16) launch("matmul_rows<bf16>", &matmul_rows<uint16_t>, grid, dim3(kMatmulRowsThreads), 0, a);
  else launch("matmul_rows<f32>", &matmul_rows<float>, grid, dim3(kMatmulRowsThreads), 0, a);
}

void run_embed(const void* embedding, int weight_type, const RowInfo* rows, int n, const float* bias, const float* scale, int H,
               float* x) {
  if (n <= 0) return;
  if (weight_type == kWeightBF16)
    launch("embed_input<bf16>", &embed_input<uint16_t>, dim3(static_cast<unsigned>(n)), dim3(kRowThreads), 0,
           static_cast<const uint16_t*>(embedding), rows, bias, scale, H, x);
  else
    launch("embed_input<f32>", &embed_input<float>, dim3(static_cast<unsigned>(n)), dim3(kRowThreads), 0,
           static_cast<const float*>(embedding), rows, bias, scale, H, x);
}

void run_rms_norm(const float* x, const int32_t* gather, const float* w, int cols, float eps, float* y, int n) {
  if (n > 0) launch("rms_norm", &rms_norm, dim3(static_cast<unsigned>(n)), dim3(kRowThreads), 0, x, gather, w, cols, eps, y);
}

void run_residual_merge(const MergeArgs& m, const float* o, float* x, int H, int n) {
  if (n > 0) launch("residual_merge", &residual_merge, dim3(static_cast<unsigned>(n)), dim3(kRowThreads), 0, m, o, x, H);
}

void run_swiglu(const float* gate_up, int I, float* act, int n) {
  if (n > 0) launch("swiglu", &swiglu, dim3(static_cast<unsigned>(n)), dim3(kRowThreads), 0, gate_up, I, act);
}

void run_cca_depthwise(const DepthwiseArgs& a) {
  if (a.n > 0) launch("cca_depthwise", &cca_depthwise, dim3(static_cast<unsigned>(a.n)), dim3(kRowThreads), 0, a);
}

void run_cca_state_update(const StateUpdateArgs& a, int sequences) {
  if (sequences > 0)
    launch("cca_state_update", &cca_state_update, dim3(static_cast<unsigned>(sequences)), dim3(kRowThreads), 0, a);
}

void run_qk_finish(const QkFinishArgs& a, int n) {
  if (a.g.D > kMaxHeadDim) fail(ErrorCode::unsupported, "hip: head_dim {} exceeds {}", a.g.D, kMaxHeadDim);
  if (n > 0)
    launch("qk_finish", &qk_finish, dim3(static_cast<unsigned>(n), static_cast<unsigned>(a.g.NQ + a.g.NK)), dim3(128), 0, a);
}

int attention_splits(int rows, int q_heads, int64_t max_length) {
  const int64_t blocks = static_cast<int64_t>(rows) * q_heads;
  if (blocks >= 256 || max_length < 2 * kAttnChunk) return 1;
  const int64_t by_fill = (256 + blocks - 1) / blocks;           // aim for ~256 blocks in flight
  const int64_t by_length = (max_length + kAttnChunk - 1) / kAttnChunk;  // at least one chunk each
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({by_fill, by_length, 64})));
}

void run_attention(const AttnArgs& a, int rows, AttnKernel kernel) {
  if (rows <= 0) return;
  if (a.D > 512) fail(ErrorCode::unsupported, "hip: head_dim {} exceeds 512", a.D);
  const dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>(a.q_heads));
  if (kernel != AttnKernel::split) {
    launch("attention_prefill", &attention_prefill, grid, dim3(kAttnThreads), 0, a);
    return;
  }
  launch("attention_decode_split", &attention_decode_split, dim3(grid.x, grid.y, static_cast<unsigned>(a.splits)),
         dim3(kAttnThreads), 0, a);
  launch("attention_combine", &attention_combine, grid, dim3(kAttnThreads), 0, a);
}

void run_router(const RouterArgs& a, int weight_type, int n) {
  if (a.R > kMaxRouterWidth || a.classes > kMaxClasses)
    fail(ErrorCode::unsupported, "hip: router width {} / {} classes exceed {} / {}", a.R, a.classes, kMaxRouterWidth, kMaxClasses);
  if (n <= 0) return;
  if (weight_type == kWeightBF16)
    launch("router_mlp<bf16>", &router_mlp<uint16_t>, dim3(static_cast<unsigned>(n)), dim3(kRowThreads), 0, a);
  else
    launch("router_mlp<f32>", &router_mlp<float>, dim3(static_cast<unsigned>(n)), dim3(kRowThreads), 0, a);
}

void run_group_by_expert(const Route* routes, int n, int E, int32_t* offsets, int32_t* perm, unsigned long long* skips) {
  if (E + 1 > kMaxClasses) fail(ErrorCode::unsupported, "hip: {} experts exceed {}", E, kMaxClasses - 1);
  launch("group_by_expert", &group_by_expert, dim3(1), dim3(kRowThreads), 0, routes, n, E, offsets, perm, skips);
}

void run_experts(const ExpertArgs& a, int weight_type) {
  if (a.n <= 0) return;
  const unsigned row_tiles = blocks_for(a.n, kRowsTile), E = static_cast<unsigned>(a.E);
  const int64_t per_block = kMatmulRowsThreads / device_wavefront();  // one wavefront per output row
  const dim3 gu_grid(blocks_for(a.I, per_block), row_tiles, E), down_grid(blocks_for(a.H, per_block), row_tiles, E);
  if (weight_type == kWeightBF16) {
    launch("expert_gate_up<bf16>", &expert_gate_up<uint16_t>, gu_grid, dim3(kMatmulRowsThreads), 0, a);
    launch("expert_down<bf16>", &expert_down<uint16_t>, down_grid, dim3(kMatmulRowsThreads), 0, a);
  } else {
    launch("expert_gate_up<f32>", &expert_gate_up<float>, gu_grid, dim3(kMatmulRowsThreads), 0, a);
    launch("expert_down<f32>", &expert_down<float>, down_grid, dim3(kMatmulRowsThreads), 0, a);
  }
  launch("expert_skip", &expert_skip, dim3(static_cast<unsigned>(a.n)), dim3(kRowThreads), 0, a);
}

}  // namespace zaya::gpu
