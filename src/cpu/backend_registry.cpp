// src/cpu/backend_registry.cpp - create_backend(): "cpu", "hip" or "auto".
// The HIP backend will be a separately built module (libzaya-hip.so) loaded with dlopen; until
// it exists, "hip" reports that this build has no HIP module and "auto" falls back to the CPU.
#include "cpu_backend.h"
#include "kernels.h"

#include <zaya/error.h>

namespace zaya {

BackendChoice create_backend(std::string_view name) {
  if (name == "cpu") return {std::make_unique<cpu::CpuBackend>(), "cpu: requested"};
  if (name == "hip")
    fail(ErrorCode::unsupported, "backend 'hip': this build has no HIP module (build with -DZAYA_BACKEND_HIP=ON)");
  if (name == "auto" || name.empty())
    return {std::make_unique<cpu::CpuBackend>(), "auto: hip unavailable (no HIP module in this build); using cpu"};
  fail(ErrorCode::invalid_argument, "unknown backend '{}' (expected auto, cpu or hip)", name);
}

std::vector<std::pair<std::string, std::string>> list_backends() {
  return {{"cpu", fmt::format("available ({} kernels)", cpu::kernels().isa)},
          {"hip", "unavailable: no HIP module in this build"}};
}

}  // namespace zaya
