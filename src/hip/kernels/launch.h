// src/hip/kernels/launch.h - launching a kernel, one spelling for both compilers:
//   gpu::launch("name", &kernel<float>, grid, block, dynamic_shared_bytes, args...);
// With hipcc it is hipLaunchKernel on the default stream (errors become zaya::Error); on the
// host it runs the grid through the emulation before returning.
#pragma once

#include "device.h"

#include <zaya/error.h>

#include <array>
#include <tuple>
#include <utility>

namespace zaya::gpu {

#if defined(ZAYA_HIP_DEVICE_COMPILER)
inline void check_hip(hipError_t e, const char* what) {
  if (e != hipSuccess) fail(ErrorCode::internal, "hip: {}: {} ({})", what, hipGetErrorString(e), static_cast<int>(e));
}

template <typename... P, typename... A>
void launch(const char* name, void (*kernel)(P...), dim3 grid, dim3 block, size_t dynamic_shared, A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "kernel argument count");
  std::tuple<P...> values(static_cast<P>(std::forward<A>(args))...);
  auto pointers = std::apply([](auto&... v) { return std::array<void*, sizeof...(P)>{static_cast<void*>(&v)...}; }, values);
  check_hip(hipLaunchKernel(reinterpret_cast<const void*>(kernel), grid, block, pointers.data(), dynamic_shared, nullptr), name);
}
#else
template <typename... P, typename... A>
void launch(const char* name, void (*kernel)(P...), dim3 grid, dim3 block, size_t dynamic_shared, A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "kernel argument count");
  const std::tuple<P...> values(static_cast<P>(std::forward<A>(args))...);
  emu::launch(name, grid, block, dynamic_shared, [&] { std::apply(kernel, values); });
}
#endif

inline unsigned blocks_for(int64_t items, int64_t per_block) { return static_cast<unsigned>((items + per_block - 1) / per_block); }

}  // namespace zaya::gpu
