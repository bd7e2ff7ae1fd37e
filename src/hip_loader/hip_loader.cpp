// src/hip_loader/hip_loader.cpp - dlopen of libzaya-hip.so, ABI check, device probe, and the
// zaya::Backend that forwards to the plugin's function table.
#include "hip_loader.h"

#include <zaya/error.h>

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <vector>

namespace zaya::hip_loader {
namespace {

constexpr const char* kPluginName = "libzaya-hip.so";

std::filesystem::path executable_dir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : exe.parent_path();
}

std::string size_text(int64_t bytes) { return fmt::format("{:.0f} GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0)); }

std::string device_text(const zaya_hip_device_info& d) {
  return fmt::format("{} ({}, {}, {} CUs, wave{}){}", d.name, d.arch, size_text(d.memory_bytes), d.compute_units, d.wavefront_size,
                     d.supported ? "" : " - arch not in this build");
}

zaya_hip_matrix to_abi(const WeightMatrix& w) {
  zaya_hip_matrix m{};
  if (w.interleaved) fail(ErrorCode::unsupported, "hip backend: weights in the CPU's row-interleaved layout");
  switch (w.dtype) {
    case DType::f32: m.dtype = ZAYA_HIP_F32; break;
    case DType::bf16: m.dtype = ZAYA_HIP_BF16; break;
    default: fail(ErrorCode::unsupported, "hip backend: weights of dtype {} (F32 or BF16 expected)", dtype_name(w.dtype));
  }
  m.data = w.data;
  m.rows = w.rows;
  m.cols = w.cols;
  return m;
}

void check(int status, const zaya_hip_error& e) {
  if (status != ZAYA_HIP_OK) throw Error(static_cast<ErrorCode>(status), e.message);
}

class HipBackend final : public Backend {
 public:
  HipBackend(const zaya_hip_plugin* table, zaya_hip_backend* handle, std::string description)
      : table_(table), handle_(handle), description_(std::move(description)) {}
  ~HipBackend() override { table_->backend_destroy(handle_); }

  std::string_view name() const override { return "hip"; }
  std::string description() const override { return description_; }

  void matmul(Workspace&, const WeightMatrix& w, const float* x, size_t ldx, size_t n, float* y, size_t ldy) const override {
    const zaya_hip_matrix m = to_abi(w);
    zaya_hip_error e{};
    check(table_->matmul(handle_, &m, x, ldx, n, y, ldy, &e), e);
  }

  void attention(Workspace&, const AttentionShape& shape, std::span<const AttentionRow> rows) const override {
    // The plugin ABI takes caches as [position][kv_head][head_dim] rows: each distinct cache is
    // gathered into that layout from the head-major one (zaya/backend.h), as long as the longest
    // row that reads it. The plugin copies every cache to the device per call anyway.
    const size_t kv_heads = static_cast<size_t>(shape.kv_heads), d = static_cast<size_t>(shape.head_dim);
    auto element = [&](const void* base, size_t index) {
      return shape.cache_type == DType::f16 ? f16_to_f32(static_cast<const uint16_t*>(base)[index])
                                            : static_cast<const float*>(base)[index];
    };
    std::map<const void*, size_t> longest;
    for (const auto& row : rows) longest[row.keys] = std::max(longest[row.keys], row.length);
    std::map<const void*, std::pair<std::vector<float>, std::vector<float>>> gathered;
    for (const auto& row : rows) {
      auto [it, fresh] = gathered.try_emplace(row.keys);
      if (!fresh) continue;
      const size_t len = longest[row.keys];
      auto& [keys, values] = it->second;
      keys.resize(len * kv_heads * d);
      values.resize(len * kv_heads * d);
      for (size_t j = 0; j < kv_heads; ++j)
        for (size_t t = 0; t < len; ++t) {
          const size_t value = j * row.head_stride + t * d;
          float* k_out = keys.data() + (t * kv_heads + j) * d;
          float* v_out = values.data() + (t * kv_heads + j) * d;
          for (size_t i = 0; i < d; ++i) {
            k_out[i] = element(row.keys, kv_key_index(row.head_stride, d, j, t, i));
            v_out[i] = element(row.values, value + i);
          }
        }
    }
    std::vector<zaya_hip_attention_row> r(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& [keys, values] = gathered.at(rows[i].keys);
      r[i] = zaya_hip_attention_row{rows[i].q, keys.data(), values.data(), static_cast<int64_t>(rows[i].length), rows[i].out};
    }
    zaya_hip_error e{};
    check(table_->attention(handle_, shape.q_heads, shape.kv_heads, shape.head_dim, shape.scale, r.data(), r.size(), &e), e);
  }

  void expert_mlp(Workspace&, const WeightMatrix& gate_up, const WeightMatrix& down, const float* x, size_t n,
                  float* y) const override {
    const zaya_hip_matrix gu = to_abi(gate_up), dn = to_abi(down);
    zaya_hip_error e{};
    check(table_->expert_mlp(handle_, &gu, &dn, x, n, y, &e), e);
  }

  HipHandles handles() const { return {table_, handle_}; }

 private:
  const zaya_hip_plugin* table_;
  zaya_hip_backend* handle_;
  std::string description_;
};

std::vector<std::string> candidates() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("ZAYA_HIP_PLUGIN"); env && *env) {
    out.emplace_back(env);
    return out;  // an explicit choice is the only one tried
  }
  const auto dir = executable_dir();
  if (!dir.empty()) {
    for (const auto& p : {dir / kPluginName, dir / ".." / "lib" / kPluginName}) {
      std::error_code ec;
      if (std::filesystem::exists(p, ec)) out.push_back(p.string());
    }
  }
  out.emplace_back(kPluginName);  // the dynamic linker's search path
  return out;
}

}  // namespace

std::string explain_dlopen_error(const std::string& path, const std::string& text) {
  if (text.find("libamdhip64") != std::string::npos || text.find("libhsa-runtime64") != std::string::npos ||
      text.find("libamd_comgr") != std::string::npos)
    return fmt::format("no HIP runtime ({})", text);
  return fmt::format("cannot load {}: {}", path, text);
}

PluginInfo probe_path(const std::string& path, bool allow_emulated) {
  PluginInfo info;
  info.path = path;
  dlerror();
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* err = dlerror();
    const std::string text = err ? err : "unknown dlopen error";
    // A bare name that the linker cannot find at all means there is no plugin installed.
    if (path.find('/') == std::string::npos && text.find(path) != std::string::npos &&
        text.find("No such file") != std::string::npos) {
      info.path.clear();
      info.reason = fmt::format("no HIP module ({} not found; build with -DZAYA_BACKEND_HIP=ON or set ZAYA_HIP_PLUGIN)", kPluginName);
    } else {
      info.reason = explain_dlopen_error(path, text);
    }
    return info;
  }
  // Loaded plugins stay loaded (tables and backends may outlive any one caller).
  auto entry = reinterpret_cast<zaya_hip_plugin_entry_fn>(dlsym(handle, ZAYA_HIP_ENTRY_SYMBOL));
  if (!entry) {
    info.reason = fmt::format("{} is not a zaya HIP plugin (no {} symbol)", path, ZAYA_HIP_ENTRY_SYMBOL);
    return info;
  }
  const zaya_hip_plugin* table = entry(ZAYA_HIP_ABI_VERSION);
  if (!table) {
    info.reason = fmt::format("{} returned no function table", path);
    return info;
  }
  if (table->abi_version != ZAYA_HIP_ABI_VERSION || table->struct_size < sizeof(zaya_hip_plugin)) {
    info.reason = fmt::format("{} was built for plugin ABI version {} (table of {} bytes); this zaya needs version {} "
                              "({} bytes): refused, rebuild the plugin",
                              path, table->abi_version, table->struct_size, ZAYA_HIP_ABI_VERSION, sizeof(zaya_hip_plugin));
    return info;
  }
  if (table->emulated && !allow_emulated) {
    info.reason = fmt::format("{} is the CPU emulation of the HIP plugin (tests only; ask for backend 'hip' explicitly)", path);
    return info;
  }
  info.table = table;
  std::vector<zaya_hip_device_info> devices(16);
  int count = 0;
  zaya_hip_error e{};
  const int status = table->probe(devices.data(), static_cast<int>(devices.size()), &count, &e);
  if (status != ZAYA_HIP_OK) {
    info.reason = e.message;
    return info;
  }
  devices.resize(static_cast<size_t>(std::min<int>(count, static_cast<int>(devices.size()))));
  info.devices = devices;
  for (size_t i = 0; i < devices.size(); ++i)
    if (devices[i].supported) {
      info.device = static_cast<int>(i);
      break;
    }
  if (info.device < 0) {
    std::string archs;
    for (const auto& d : devices) archs += fmt::format("{}{}", archs.empty() ? "" : ", ", d.arch);
    info.reason = fmt::format("GPU arch {} not in this build (libzaya-hip.so carries {}; rebuild with -DZAYA_HIP_ARCHS=...)", archs,
                              table->build_archs ? table->build_archs : "?");
  }
  return info;
}

PluginInfo probe(bool allow_emulated) {
  PluginInfo last;
  for (const auto& path : candidates()) {
    last = probe_path(path, allow_emulated);
    if (last.usable() || !last.path.empty()) return last;  // found a plugin: its verdict stands
  }
  return last;
}

std::unique_ptr<Backend> create_hip_backend(bool allow_emulated, std::string* description) {
  PluginInfo info = probe(allow_emulated);
  if (!info.usable()) fail(ErrorCode::unsupported, "{}", info.reason);
  zaya_hip_backend* handle = nullptr;
  zaya_hip_error e{};
  const int status = info.table->backend_create(info.device, &handle, &e);
  if (status != ZAYA_HIP_OK) fail(static_cast<ErrorCode>(status), "hip: cannot open device {}: {}", info.device, e.message);
  const auto& d = info.devices[static_cast<size_t>(info.device)];
  std::string text = info.table->emulated ? fmt::format("hip (emulated on the CPU, wave{}; {})", d.wavefront_size, info.path)
                                          : fmt::format("hip ({}, {})", d.name, d.arch);
  if (description) *description = text;
  return std::make_unique<HipBackend>(info.table, handle, std::move(text));
}

std::vector<std::pair<std::string, std::string>> describe() {
  std::vector<std::pair<std::string, std::string>> out;
  PluginInfo info = probe(/*allow_emulated=*/true);
  if (info.usable())
    out.emplace_back("hip", fmt::format("available{}: {} device(s), plugin {} built for {}", info.table->emulated ? " (emulated)" : "",
                                        info.devices.size(), info.path, info.table->build_archs));
  else
    out.emplace_back("hip", fmt::format("unavailable: {}", info.reason));
  for (size_t i = 0; i < info.devices.size(); ++i) out.emplace_back(fmt::format("hip:{}", i), device_text(info.devices[i]));
  return out;
}

HipHandles handles_of(const Backend& backend) {
  if (const auto* h = dynamic_cast<const HipBackend*>(&backend)) return h->handles();
  return {};
}

}  // namespace zaya::hip_loader
