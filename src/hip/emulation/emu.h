// src/hip/emulation/emu.h - our CPU emulation of the HIP execution model, so the device kernels
// in src/hip/kernels/ compile with g++ and run (slowly, exactly) on any machine.
//
//   grid      every block of the grid runs in turn on the calling host thread
//   block     its threads are cooperative fibers (a hand-rolled x86-64 context switch, ucontext
//             elsewhere); a thread runs until it reaches __syncthreads(), a wavefront shuffle or
//             its end, then the next one runs. So barriers really synchronise: code that reads
//             shared memory written by another thread before a barrier sees the write.
//   shared    a per-block arena (64 KiB, as an AMD workgroup's LDS); the n-th ZAYA_SHARED
//             declaration of every thread of a block resolves to the same slice
//   wavefront lanes of 32 or 64 consecutive threads (set_wavefront_size); shuffles exchange
//             values through per-wavefront slots between two wavefront barriers, with HIP's
//             index rules (__shfl, __shfl_xor, __shfl_down with width = wavefront size)
//
// Checked, not undefined: a thread that returns while others wait at __syncthreads(), a
// shuffle reading a lane that does not exist or has exited, shared memory beyond 64 KiB,
// blocks beyond 1024 threads, and copies to or from "device" pointers that are not inside an
// emulated allocation. Each is a zaya::Error(internal) naming the kernel launch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

namespace zaya::emu {

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3() = default;
  constexpr dim3(unsigned x_, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

// What threadIdx / blockIdx / blockDim / gridDim / warpSize read in the running fiber.
struct ThreadState {
  dim3 thread_idx, block_idx, block_dim, grid_dim;
  int warp_size = 64;
};
inline thread_local ThreadState t_state;

inline constexpr size_t kSharedBytes = 64 * 1024;  // LDS per workgroup on CDNA / RDNA
inline constexpr unsigned kMaxBlockThreads = 1024;

// Wavefront size used by launches from this host thread: 64 (CDNA: gfx90a, gfx940) or
// 32 (RDNA: gfx1030, gfx1100). Throws for anything else.
void set_wavefront_size(int size);
int wavefront_size() noexcept;

// ---- inside a kernel --------------------------------------------------------------------------
void sync_threads();
void* shared_alloc(size_t bytes, size_t align);
void* dynamic_shared() noexcept;
uint64_t shuffle_bits(uint64_t bits, int mode, int arg);  // mode: 0 idx, 1 xor, 2 down
// The xor-butterfly reduction over the wavefront (op 0: sum, 1: max) that warp_sum / warp_max
// perform with log2(width) shuffles on the GPU, evaluated in the same association order after a
// single exchange: bitwise the same result, a fraction of the fiber switches.
float warp_reduce(float v, int op);

template <typename T>
T* shared_array(size_t count) {
  return static_cast<T*>(shared_alloc(sizeof(T) * count, alignof(T) < 8 ? 8 : alignof(T)));
}

template <typename T>
T shuffle(T v, int mode, int arg) {
  static_assert(sizeof(T) <= 8, "shuffle of a value wider than 64 bits");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  bits = shuffle_bits(bits, mode, arg);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

// ---- host side --------------------------------------------------------------------------------
struct Stats {
  uint64_t launches = 0, blocks = 0, threads = 0, switches = 0, barriers = 0, shuffles = 0;
};
Stats stats() noexcept;  // this host thread's counters since it started
void reset_stats() noexcept;

using KernelBody = void (*)(const void* closure);
void launch_erased(const char* name, dim3 grid, dim3 block, size_t dynamic_shared_bytes, KernelBody body,
                   const void* closure);

// Runs f() once per thread of every block of the grid; returns when the grid is done.
template <typename F>
void launch(const char* name, dim3 grid, dim3 block, size_t dynamic_shared_bytes, const F& f) {
  launch_erased(name, grid, block, dynamic_shared_bytes, [](const void* c) { (*static_cast<const F*>(c))(); }, &f);
}

// ---- emulated device memory ----------------------------------------------------------------------
// Allocations are filled with 0xFF bytes (a quiet NaN as float) so unwritten results show.
void* device_malloc(size_t bytes);
void device_free(void* p) noexcept;
// Throws unless [p, p + bytes) lies inside one live emulated allocation.
void check_device_range(const void* p, size_t bytes, const char* what);
size_t live_allocations() noexcept;

}  // namespace zaya::emu
