// src/cpu/backend_registry.cpp - create_backend(): "cpu", "hip" or "auto".
// The HIP backend is a separately built module (libzaya-hip.so) that src/hip_loader/ opens
// with dlopen; the core never links the HIP runtime. "auto" takes a usable AMD GPU when the
// plugin finds one and otherwise runs on the CPU, saying why (no HIP module, no HIP runtime,
// no AMD GPU, GPU arch not in this build).
#include "cpu_backend.h"
#include "kernels.h"

#include "hip_loader/hip_loader.h"

#include <zaya/error.h>

namespace zaya {

BackendChoice create_backend(std::string_view name) {
  if (name == "cpu") return {std::make_unique<cpu::CpuBackend>(), "cpu: requested"};
  if (name == "hip") {
    std::string description;
    try {
      auto backend = hip_loader::create_hip_backend(/*allow_emulated=*/true, &description);
      return {std::move(backend), fmt::format("hip: requested; {}", description)};
    } catch (const Error& e) {
      fail(e.code(), "backend 'hip': {}", e.what());
    }
  }
  if (name == "auto" || name.empty()) {
    std::string description;
    try {
      auto backend = hip_loader::create_hip_backend(/*allow_emulated=*/false, &description);
      return {std::move(backend), fmt::format("auto: {}", description)};
    } catch (const Error& e) {
      return {std::make_unique<cpu::CpuBackend>(), fmt::format("auto: hip unavailable ({}); using cpu", e.what())};
    }
  }
  fail(ErrorCode::invalid_argument, "unknown backend '{}' (expected auto, cpu or hip)", name);
}

std::vector<std::pair<std::string, std::string>> list_backends() {
  std::vector<std::pair<std::string, std::string>> out{{"cpu", fmt::format("available ({} kernels)", cpu::kernels().isa)}};
  for (auto& line : hip_loader::describe()) out.push_back(std::move(line));
  return out;
}

}  // namespace zaya
