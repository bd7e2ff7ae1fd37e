// src/hip/kernels/launchers.h - host functions that launch the device kernels with their grid
// shapes. Declared here without any device code; defined in launchers_impl.h, which exactly one
// translation unit per binary compiles: src/hip/plugin/launchers_hip.cpp with hipcc for the GPU
// plugin, src/hip/emulation/launchers_emu.cpp with the host compiler for the emulation.
#pragma once

#include "hip/kernels/attention.h"
#include "hip/kernels/cca.h"
#include "hip/kernels/elementwise.h"
#include "hip/kernels/experts.h"
#include "hip/kernels/matmul.h"
#include "hip/kernels/router.h"

namespace zaya::gpu {

// The wavefront size of the device the launches go to (grids of one-wavefront-per-row kernels
// depend on it): set by the plugin from the device properties; in the emulation it is
// emu::set_wavefront_size.
void set_device_wavefront(int size);
int device_wavefront();

enum class MatmulKernel { automatic, rows, tiled };
enum class AttnKernel { automatic, prefill, split };

// Rows at or above this use the tiled kernel (automatic choice).
inline constexpr int64_t kTiledMinRows = 16;

void run_matmul(const MatmulArgs& a, MatmulKernel kernel = MatmulKernel::automatic);
void run_embed(const void* embedding, int weight_type, const RowInfo* rows, int n, const float* bias, const float* scale, int H,
               float* x);
void run_rms_norm(const float* x, const int32_t* gather, const float* w, int cols, float eps, float* y, int n);
void run_residual_merge(const MergeArgs& m, const float* o, float* x, int H, int n);
void run_swiglu(const float* gate_up, int I, float* act, int n);
void run_cca_depthwise(const DepthwiseArgs& a);
void run_cca_state_update(const StateUpdateArgs& a, int sequences);
void run_qk_finish(const QkFinishArgs& a, int n);
// Splits for the decode kernel: enough blocks to fill a GPU when rows are few and caches long.
int attention_splits(int rows, int q_heads, int64_t max_length);
// a.splits, a.partial and a.partial_ml must be set for the split kernel ([rows, heads, splits, D] and [.., 2]).
void run_attention(const AttnArgs& a, int rows, AttnKernel kernel);
void run_router(const RouterArgs& a, int weight_type, int n);
void run_group_by_expert(const Route* routes, int n, int E, int32_t* offsets, int32_t* perm, unsigned long long* skips);
void run_experts(const ExpertArgs& a, int weight_type);

}  // namespace zaya::gpu
