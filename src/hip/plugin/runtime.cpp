// src/hip/plugin/runtime.cpp - device memory through the HIP runtime (hipcc build) or through
// the emulation's checked host allocations (host build).
#include "runtime.h"

#include <zaya/error.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#if defined(__HIP__) || defined(__HIPCC__)
#include <hip/hip_runtime.h>
#else
#include "hip/emulation/emu.h"

#include <cstring>
#endif

namespace zaya::gpu::rt {

#if defined(__HIP__) || defined(__HIPCC__)

static void check(hipError_t e, const char* what, size_t bytes) {
  if (e == hipSuccess) return;
  const ErrorCode code = e == hipErrorOutOfMemory ? ErrorCode::out_of_memory : ErrorCode::internal;
  fail(code, "hip: {} ({} bytes): {} ({})", what, bytes, hipGetErrorString(e), static_cast<int>(e));
}

void* malloc(size_t bytes) {
  void* p = nullptr;
  check(hipMalloc(&p, bytes), "hipMalloc", bytes);
  return p;
}
void free(void* p) noexcept {
  if (p) (void)hipFree(p);
}
void to_device(void* dst, const void* src, size_t bytes) {
  if (bytes) check(hipMemcpy(dst, src, bytes, hipMemcpyHostToDevice), "copy to device", bytes);
}
void to_host(void* dst, const void* src, size_t bytes) {
  if (bytes) check(hipMemcpy(dst, src, bytes, hipMemcpyDeviceToHost), "copy to host", bytes);
}
void device_copy(void* dst, const void* src, size_t bytes) {
  if (bytes) check(hipMemcpy(dst, src, bytes, hipMemcpyDeviceToDevice), "device copy", bytes);
}
void memset(void* dst, int value, size_t bytes) {
  if (bytes) check(hipMemset(dst, value, bytes), "hipMemset", bytes);
}
void synchronize() { check(hipDeviceSynchronize(), "hipDeviceSynchronize", 0); }
void set_device(int device) { check(hipSetDevice(device), "hipSetDevice", 0); }
bool emulated() noexcept { return false; }

}  // namespace zaya::gpu::rt

namespace zaya::gpu {

#ifndef ZAYA_HIP_ARCHS_STRING
#error "the GPU plugin build defines ZAYA_HIP_ARCHS_STRING (the --offload-arch list, ','-separated)"
#endif
const char* build_archs() noexcept { return ZAYA_HIP_ARCHS_STRING; }

static bool arch_in_build(std::string_view arch) {
  arch = arch.substr(0, arch.find(':'));  // "gfx90a:sramecc+:xnack-" -> "gfx90a"
  std::string_view list = ZAYA_HIP_ARCHS_STRING;
  while (!list.empty()) {
    const size_t end = list.find(',');
    if (list.substr(0, end) == arch) return true;
    if (end == std::string_view::npos) break;
    list.remove_prefix(end + 1);
  }
  return false;
}

std::vector<zaya_hip_device_info> probe_devices() {
  int count = 0;
  const hipError_t e = hipGetDeviceCount(&count);
  if (e != hipSuccess || count <= 0)
    fail(ErrorCode::unsupported, "no AMD GPU (hipGetDeviceCount: {})", e == hipSuccess ? "0 devices" : hipGetErrorString(e));
  std::vector<zaya_hip_device_info> out;
  for (int i = 0; i < count; ++i) {
    hipDeviceProp_t p{};
    if (hipGetDeviceProperties(&p, i) != hipSuccess) continue;
    zaya_hip_device_info d{};
    std::snprintf(d.name, sizeof d.name, "%s", p.name);
    std::snprintf(d.arch, sizeof d.arch, "%s", p.gcnArchName);
    d.memory_bytes = static_cast<int64_t>(p.totalGlobalMem);
    d.compute_units = p.multiProcessorCount;
    d.wavefront_size = p.warpSize;
    d.supported = arch_in_build(p.gcnArchName) ? 1 : 0;
    out.push_back(d);
  }
  if (out.empty()) fail(ErrorCode::unsupported, "no AMD GPU (hipGetDeviceProperties failed for all {} devices)", count);
  return out;
}

}  // namespace zaya::gpu

namespace zaya::gpu::rt {

#else

void* malloc(size_t bytes) { return emu::device_malloc(bytes); }
void free(void* p) noexcept { emu::device_free(p); }
void to_device(void* dst, const void* src, size_t bytes) {
  emu::check_device_range(dst, bytes, "copy to device: destination");
  if (bytes) std::memcpy(dst, src, bytes);
}
void to_host(void* dst, const void* src, size_t bytes) {
  emu::check_device_range(src, bytes, "copy to host: source");
  if (bytes) std::memcpy(dst, src, bytes);
}
void device_copy(void* dst, const void* src, size_t bytes) {
  emu::check_device_range(dst, bytes, "device copy: destination");
  emu::check_device_range(src, bytes, "device copy: source");
  if (bytes) std::memmove(dst, src, bytes);
}
void memset(void* dst, int value, size_t bytes) {
  emu::check_device_range(dst, bytes, "memset");
  if (bytes) std::memset(dst, value, bytes);
}
void synchronize() {}
void set_device(int) {}
bool emulated() noexcept { return true; }

}  // namespace zaya::gpu::rt

namespace zaya::gpu {

const char* build_archs() noexcept { return "emulated"; }

// The emulated device can pretend, for the loader's tests: ZAYA_HIP_EMU_DEVICES (count, default
// 1), ZAYA_HIP_EMU_ARCH (default "emulated"; anything else is "not in this build") and
// ZAYA_HIP_EMU_WAVEFRONT (32 or 64, default 64).
std::vector<zaya_hip_device_info> probe_devices() {
  const char* count_env = std::getenv("ZAYA_HIP_EMU_DEVICES");
  const int count = count_env ? std::atoi(count_env) : 1;
  if (count <= 0) fail(ErrorCode::unsupported, "no AMD GPU (emulated: ZAYA_HIP_EMU_DEVICES={})", count_env);
  const char* arch_env = std::getenv("ZAYA_HIP_EMU_ARCH");
  const char* wave_env = std::getenv("ZAYA_HIP_EMU_WAVEFRONT");
  const std::string_view arch = arch_env ? arch_env : "emulated";
  std::vector<zaya_hip_device_info> out;
  for (int i = 0; i < count; ++i) {
    zaya_hip_device_info d{};
    std::snprintf(d.name, sizeof d.name, "zaya emulated device %d (CPU)", i);
    std::snprintf(d.arch, sizeof d.arch, "%.*s", static_cast<int>(arch.size()), arch.data());
    d.memory_bytes = int64_t(1) << 32;
    d.compute_units = 1;
    d.wavefront_size = wave_env ? std::atoi(wave_env) : 64;
    d.supported = arch == "emulated" ? 1 : 0;
    out.push_back(d);
  }
  return out;
}

}  // namespace zaya::gpu

namespace zaya::gpu::rt {

#endif

}  // namespace zaya::gpu::rt
