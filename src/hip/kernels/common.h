// src/hip/kernels/common.h - helpers shared by the device kernels: weight element loads (f32 and
// bf16, fp32 accumulate everywhere), wavefront and block reductions, the exact activations.
#pragma once

#include "device.h"

#include <math.h>

namespace zaya::gpu {

// Weight element types on the device (the same codes as the plugin ABI).
enum WeightType : int { kWeightF32 = 0, kWeightBF16 = 1 };

inline constexpr int kMaxWarpsPerBlock = 32;  // 1024 threads / 32 lanes

ZAYA_DEVICE inline float bf16_to_float(uint16_t b) { return __builtin_bit_cast(float, static_cast<uint32_t>(b) << 16); }

ZAYA_DEVICE inline float load_weight(const float* w, int64_t i) { return w[i]; }
ZAYA_DEVICE inline float load_weight(const uint16_t* w, int64_t i) { return bf16_to_float(w[i]); }

// Wavefront reductions: the xor butterfly, every lane gets the result.
ZAYA_DEVICE inline float warp_sum_shuffles(float v) {
  for (int offset = ZAYA_WARP_SIZE / 2; offset > 0; offset >>= 1) v += ZAYA_SHFL_XOR(v, offset);
  return v;
}

ZAYA_DEVICE inline float warp_max_shuffles(float v) {
  for (int offset = ZAYA_WARP_SIZE / 2; offset > 0; offset >>= 1) v = fmaxf(v, ZAYA_SHFL_XOR(v, offset));
  return v;
}

#if defined(ZAYA_HIP_DEVICE_COMPILER)
ZAYA_DEVICE inline float warp_sum(float v) { return warp_sum_shuffles(v); }
ZAYA_DEVICE inline float warp_max(float v) { return warp_max_shuffles(v); }
#else
// The emulation evaluates the same butterfly after one exchange instead of log2(width) shuffles
// (bitwise equal: test_hip_emulation_runtime checks it against the shuffle loop).
inline float warp_sum(float v) { return ::zaya::emu::warp_reduce(v, 0); }
inline float warp_max(float v) { return ::zaya::emu::warp_reduce(v, 1); }
#endif

// Sum over the block, returned to every thread (same order everywhere: deterministic).
// Every thread of the block must call it; blockDim.x must be a multiple of the wavefront size;
// `scratch` is a shared array of at least kMaxWarpsPerBlock floats.
ZAYA_DEVICE inline float block_sum(float v, float* scratch) {
  const int lane = static_cast<int>(threadIdx.x) % ZAYA_WARP_SIZE;
  const int warp = static_cast<int>(threadIdx.x) / ZAYA_WARP_SIZE;
  const int warps = static_cast<int>(blockDim.x) / ZAYA_WARP_SIZE;
  v = warp_sum(v);
  __syncthreads();  // a previous call may still be reading scratch
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float total = 0.0f;
  for (int w = 0; w < warps; ++w) total += scratch[w];
  return total;
}

ZAYA_DEVICE inline float block_max(float v, float* scratch) {
  const int lane = static_cast<int>(threadIdx.x) % ZAYA_WARP_SIZE;
  const int warp = static_cast<int>(threadIdx.x) / ZAYA_WARP_SIZE;
  const int warps = static_cast<int>(blockDim.x) / ZAYA_WARP_SIZE;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float m = scratch[0];
  for (int w = 1; w < warps; ++w) m = fmaxf(m, scratch[w]);
  return m;
}

// Exact (erf) GELU and SiLU, written as the CPU reference writes them (src/model/math.h).
ZAYA_DEVICE inline float gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
ZAYA_DEVICE inline float silu(float x) { return x / (1.0f + expf(-x)); }

}  // namespace zaya::gpu
