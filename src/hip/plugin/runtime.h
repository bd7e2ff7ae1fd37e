// src/hip/plugin/runtime.h - device memory for the plugin's host code, one spelling for the GPU
// build (HIP runtime) and the emulated build (host memory checked by the emulation). No device
// code: runtime.cpp is the only plugin TU besides launchers_hip.cpp that hipcc compiles as HIP.
#pragma once

#include "hip/abi/plugin_abi.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace zaya::gpu {
// Devices this build can see (throws zaya::Error(unsupported) with the reason when none).
std::vector<zaya_hip_device_info> probe_devices();
const char* build_archs() noexcept;  // "gfx90a;gfx1030" (GPU build) or "emulated"
}  // namespace zaya::gpu

namespace zaya::gpu::rt {

void* malloc(size_t bytes);                 // throws zaya::Error(out_of_memory)
void free(void* p) noexcept;
void to_device(void* dst, const void* src, size_t bytes);
void to_host(void* dst, const void* src, size_t bytes);   // waits for queued kernels
void device_copy(void* dst, const void* src, size_t bytes);
void memset(void* dst, int value, size_t bytes);
void synchronize();
void set_device(int device);
bool emulated() noexcept;

// An owned device allocation of `count` elements of T.
template <typename T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(size_t count) { resize(count); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      rt::free(p_);
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  ~Buffer() { rt::free(p_); }

  // Grows (never shrinks); contents are not kept.
  void resize(size_t count) {
    if (count <= n_ && p_) return;
    rt::free(p_);
    p_ = nullptr;
    n_ = 0;
    p_ = static_cast<T*>(rt::malloc(std::max<size_t>(count, 1) * sizeof(T)));
    n_ = count;
  }
  void upload(const T* src, size_t count) {
    resize(count);
    rt::to_device(p_, src, count * sizeof(T));
  }
  void upload(const std::vector<T>& v) { upload(v.data(), v.size()); }
  T* get() const noexcept { return p_; }
  size_t size() const noexcept { return n_; }
  size_t bytes() const noexcept { return n_ * sizeof(T); }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace zaya::gpu::rt
