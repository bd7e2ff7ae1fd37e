// src/hip/plugin/entry.cpp - the plugin's C entry point and function table (plugin_abi.h).
// Every function catches everything: no exception crosses the ABI.
#include "plugin.h"

#include <zaya/error.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>

namespace {

using zaya::Error;
using zaya::ErrorCode;

void set_error(zaya_hip_error* error, const char* message) {
  if (error) std::snprintf(error->message, sizeof error->message, "%s", message);
}

template <typename F>
int guarded(zaya_hip_error* error, F&& f) {
  try {
    f();
    return ZAYA_HIP_OK;
  } catch (const Error& e) {
    set_error(error, e.what());
    return static_cast<int>(e.code());
  } catch (const std::bad_alloc&) {
    set_error(error, "hip plugin: out of host memory");
    return ZAYA_HIP_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    set_error(error, e.what());
    return ZAYA_HIP_INTERNAL;
  } catch (...) {
    set_error(error, "hip plugin: unknown exception");
    return ZAYA_HIP_INTERNAL;
  }
}

int probe(zaya_hip_device_info* devices, int capacity, int* count, zaya_hip_error* error) {
  return guarded(error, [&] {
    auto found = zaya::gpu::probe_devices();
    if (count) *count = static_cast<int>(found.size());
    for (int i = 0; i < capacity && static_cast<size_t>(i) < found.size(); ++i) devices[i] = found[static_cast<size_t>(i)];
  });
}

int backend_create(int device, zaya_hip_backend** out, zaya_hip_error* error) {
  return guarded(error, [&] { *out = new zaya_hip_backend(device); });
}

void backend_destroy(zaya_hip_backend* b) { delete b; }

int matmul(zaya_hip_backend* b, const zaya_hip_matrix* w, const float* x, size_t ldx, size_t n, float* y, size_t ldy,
           zaya_hip_error* error) {
  return guarded(error, [&] { b->impl.matmul(*w, x, ldx, n, y, ldy); });
}

int attention(zaya_hip_backend* b, int q_heads, int kv_heads, int head_dim, float scale, const zaya_hip_attention_row* rows,
              size_t count, zaya_hip_error* error) {
  return guarded(error, [&] { b->impl.attention(q_heads, kv_heads, head_dim, scale, rows, count); });
}

int expert_mlp(zaya_hip_backend* b, const zaya_hip_matrix* gate_up, const zaya_hip_matrix* down, const float* x, size_t n, float* y,
               zaya_hip_error* error) {
  return guarded(error, [&] { b->impl.expert_mlp(*gate_up, *down, x, n, y); });
}

int forward_create(zaya_hip_backend* b, const zaya_hip_model* model, const zaya_hip_forward_options* options,
                   zaya_hip_forward** out, zaya_hip_error* error) {
  return guarded(error, [&] { *out = new zaya_hip_forward(*b, *model, *options); });
}

void forward_destroy(zaya_hip_forward* f) { delete f; }

int forward_decode(zaya_hip_forward* f, const zaya_hip_token* tokens, size_t count, float* logits, size_t logits_rows,
                   zaya_hip_error* error) {
  return guarded(error, [&] { f->impl.decode(tokens, count, logits, logits_rows); });
}

int forward_clear(zaya_hip_forward* f, int32_t sequence, zaya_hip_error* error) {
  return guarded(error, [&] { f->impl.clear(sequence); });
}

int forward_fork(zaya_hip_forward* f, int32_t source, int32_t target, zaya_hip_error* error) {
  return guarded(error, [&] { f->impl.fork(source, target); });
}

int forward_truncate(zaya_hip_forward* f, int32_t sequence, int64_t length, zaya_hip_error* error) {
  return guarded(error, [&] { f->impl.truncate(sequence, length); });
}

int64_t forward_length(const zaya_hip_forward* f, int32_t sequence) {
  try {
    return f->impl.length(sequence);
  } catch (...) {
    return -1;
  }
}

uint64_t forward_skip_count(const zaya_hip_forward* f) {
  try {
    return f->impl.skip_count();
  } catch (...) {
    return 0;
  }
}

size_t forward_device_bytes(const zaya_hip_forward* f) { return f->impl.device_bytes(); }

zaya_hip_plugin make_table() {
  zaya_hip_plugin t{};
  t.abi_version = ZAYA_HIP_ABI_VERSION;
  t.struct_size = sizeof(zaya_hip_plugin);
#if defined(ZAYA_HIP_EMULATED_PLUGIN)
  // Tests of the loader's refusal path: pretend to be built against another ABI version.
  if (const char* v = std::getenv("ZAYA_HIP_EMU_ABI_VERSION")) t.abi_version = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
  t.emulated = 1;
#endif
  t.plugin_version = "zaya-hip 0.1.0";
  t.build_archs = zaya::gpu::build_archs();
  t.probe = &probe;
  t.backend_create = &backend_create;
  t.backend_destroy = &backend_destroy;
  t.matmul = &matmul;
  t.attention = &attention;
  t.expert_mlp = &expert_mlp;
  t.forward_create = &forward_create;
  t.forward_destroy = &forward_destroy;
  t.forward_decode = &forward_decode;
  t.forward_clear = &forward_clear;
  t.forward_fork = &forward_fork;
  t.forward_truncate = &forward_truncate;
  t.forward_length = &forward_length;
  t.forward_skip_count = &forward_skip_count;
  t.forward_device_bytes = &forward_device_bytes;
  return t;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const zaya_hip_plugin* zaya_hip_plugin_entry(uint32_t core_abi_version) {
  (void)core_abi_version;  // the core checks the table's version; the plugin serves one table
  static zaya_hip_plugin table;
  table = make_table();  // rebuilt per call: the emulated build's test overrides read the environment
  return &table;
}
