// src/hip/kernels/device.h - the tiny layer that lets one kernel body compile twice: with hipcc
// for AMD GPUs and with the host C++ compiler against our emulation (src/hip/emulation/emu.h).
//
// Kernels use: ZAYA_GLOBAL / ZAYA_DEVICE, threadIdx / blockIdx / blockDim / gridDim,
// __syncthreads(), ZAYA_SHARED(type, name, count) for block-shared arrays, ZAYA_WARP_SIZE and
// ZAYA_SHFL / ZAYA_SHFL_XOR / ZAYA_SHFL_DOWN (HIP semantics, full wavefront width).
// Non-template kernels are defined in headers: a GPU binary includes them from one TU only
// (src/hip/plugin/launchers.cpp); on the host they are inline functions.
// Kernels must not assume a wavefront size: it is 64 on CDNA (gfx90a, gfx940) and 32 on RDNA
// (gfx1030, gfx1100); the emulation runs both.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__HIP__) || defined(__HIPCC__)
#include <hip/hip_runtime.h>

#define ZAYA_HIP_DEVICE_COMPILER 1
#define ZAYA_GLOBAL __global__
#define ZAYA_DEVICE __device__
#define ZAYA_HOST_DEVICE __host__ __device__
#define ZAYA_SHARED(type, name, count) __shared__ type name[count]
#define ZAYA_WARP_SIZE warpSize
#define ZAYA_SHFL(v, src) __shfl((v), (src))
#define ZAYA_SHFL_XOR(v, mask) __shfl_xor((v), (mask))
#define ZAYA_SHFL_DOWN(v, delta) __shfl_down((v), (delta))

namespace zaya::gpu {
using dim3 = ::dim3;
}

#else  // emulation on the host

#include "hip/emulation/emu.h"

#define ZAYA_GLOBAL inline
#define ZAYA_DEVICE
#define ZAYA_HOST_DEVICE
#define ZAYA_SHARED(type, name, count) type* name = ::zaya::emu::shared_array<type>(count)
#define ZAYA_WARP_SIZE (::zaya::emu::t_state.warp_size)
#define ZAYA_SHFL(v, src) ::zaya::emu::shuffle((v), 0, (src))
#define ZAYA_SHFL_XOR(v, mask) ::zaya::emu::shuffle((v), 1, (mask))
#define ZAYA_SHFL_DOWN(v, delta) ::zaya::emu::shuffle((v), 2, (delta))
#define threadIdx (::zaya::emu::t_state.thread_idx)
#define blockIdx (::zaya::emu::t_state.block_idx)
#define blockDim (::zaya::emu::t_state.block_dim)
#define gridDim (::zaya::emu::t_state.grid_dim)
#define __syncthreads() ::zaya::emu::sync_threads()

namespace zaya::gpu {
using dim3 = ::zaya::emu::dim3;
}

#endif
