// src/hip_loader/hip_loader.h - the core's side of the HIP plugin: finds libzaya-hip.so, opens
// it with dlopen, checks its ABI version, probes the devices and wraps it as a zaya::Backend.
// No HIP header or library is involved here: a machine without ROCm only gets a reason string.
//
// Plugin search order: $ZAYA_HIP_PLUGIN (a path), then libzaya-hip.so next to the executable
// and in ../lib from it, then the dynamic linker's search path (LD_LIBRARY_PATH, ld.so.conf).
#pragma once

#include "hip/abi/plugin_abi.h"

#include <zaya/backend.h>

#include <memory>
#include <string>
#include <vector>

namespace zaya::hip_loader {

struct PluginInfo {
  std::string path;                        // where the plugin was found ("" if nowhere)
  const zaya_hip_plugin* table = nullptr;  // null unless loaded and of our ABI version
  std::vector<zaya_hip_device_info> devices;
  int device = -1;                         // first usable device, or -1
  std::string reason;                      // why not usable, e.g. "no AMD GPU (...)"
  bool usable() const noexcept { return table && device >= 0; }
};

// Looks for the plugin and probes it. Never throws for a missing runtime, plugin or GPU: the
// reason says which. allow_emulated: accept the CPU-emulated plugin (tests; never for "auto").
PluginInfo probe(bool allow_emulated);

// Loads `path` and checks the table (exposed for tests).
PluginInfo probe_path(const std::string& path, bool allow_emulated);

// "no HIP runtime (...)" when the dynamic loader failed on the HIP runtime library, else a
// generic message (exposed for tests).
std::string explain_dlopen_error(const std::string& path, const std::string& dlerror_text);

// A Backend running on the plugin's device; throws zaya::Error(unsupported) with the reason.
std::unique_ptr<Backend> create_hip_backend(bool allow_emulated, std::string* description = nullptr);

// Lines for list_backends(): ("hip", status) and one ("hip:N", device) per device found.
std::vector<std::pair<std::string, std::string>> describe();

// The plugin table and device handle behind a Backend created here, or null for another backend.
struct HipHandles {
  const zaya_hip_plugin* table = nullptr;
  zaya_hip_backend* backend = nullptr;
};
HipHandles handles_of(const Backend& backend);

}  // namespace zaya::hip_loader
