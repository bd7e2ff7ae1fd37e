// src/hip/plugin/plugin.h - the plugin's C++ side behind the C ABI (src/hip/abi/plugin_abi.h):
// a device backend (the zaya::Backend operations on host memory, weights cached on the device)
// and the device-resident forward pass. Compiled twice: into libzaya-hip.so (GPU, hipcc) and
// into libzaya-hip-emu.so (kernels run by the CPU emulation, for the tests).
#pragma once

#include "hip/abi/plugin_abi.h"
#include "hip/kernels/launchers.h"
#include "runtime.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace zaya::gpu {

// A weight matrix in device memory.
struct DeviceMatrix {
  const void* data = nullptr;
  int type = kWeightF32;
  int64_t rows = 0, cols = 0;
};

class DeviceBackend {
 public:
  explicit DeviceBackend(int device);
  int device() const noexcept { return device_; }
  int wavefront() const noexcept { return wavefront_; }
  // Sets up the calling thread for launches on this device (device and wavefront size).
  void bind() const;

  void matmul(const zaya_hip_matrix& w, const float* x, size_t ldx, size_t n, float* y, size_t ldy);
  void attention(int q_heads, int kv_heads, int head_dim, float scale, const zaya_hip_attention_row* rows, size_t count);
  void expert_mlp(const zaya_hip_matrix& gate_up, const zaya_hip_matrix& down, const float* x, size_t n, float* y);

  std::mutex& mutex() noexcept { return mutex_; }

 private:
  DeviceMatrix cached(const zaya_hip_matrix& w);

  int device_ = 0;
  int wavefront_ = 64;
  std::mutex mutex_;
  std::map<std::tuple<const void*, int, int64_t, int64_t>, rt::Buffer<uint8_t>> weights_;
  rt::Buffer<float> x_, y_, hidden_, act_, partial_, partial_ml_;
  rt::Buffer<AttnRow> rows_;
  std::vector<float> host_;
};

// Uploads a host matrix (f32 or bf16) as it is stored.
rt::Buffer<uint8_t> upload_matrix(const zaya_hip_matrix& m);

class DeviceForward {
 public:
  DeviceForward(DeviceBackend& backend, const zaya_hip_model& model, const zaya_hip_forward_options& options);
  ~DeviceForward();
  DeviceForward(const DeviceForward&) = delete;
  DeviceForward& operator=(const DeviceForward&) = delete;
  void decode(const zaya_hip_token* tokens, size_t count, float* logits, size_t logits_rows);
  void clear(int32_t sequence);
  void fork(int32_t source, int32_t target);
  void truncate(int32_t sequence, int64_t length);
  int64_t length(int32_t sequence) const;
  uint64_t skip_count() const;
  size_t device_bytes() const noexcept { return device_bytes_; }

 private:
  struct Block;
  void check_sequence(int32_t sequence) const;
  rt::Buffer<float> vec(const float* host, int64_t count);
  DeviceMatrix matrix(const zaya_hip_matrix& m);
  DeviceMatrix stacked(const zaya_hip_matrix* parts, int64_t count, rt::Buffer<uint8_t>& storage);
  DeviceMatrix router_matrix(const zaya_hip_matrix& m, int type, rt::Buffer<uint8_t>& storage);

  DeviceBackend& backend_;
  zaya_hip_model m_{};
  int64_t H_ = 0, L_ = 0, NQ_ = 0, NK_ = 0, D_ = 0, E_ = 0, I_ = 0, R_ = 0, V_ = 0, C_ = 0, QD_ = 0, KD_ = 0, VH_ = 0;
  int32_t max_sequences_ = 0;
  int64_t max_context_ = 0;
  int64_t window_ = 0;  // truncate window (positions of raw q|k kept per sequence and layer)
  size_t device_bytes_ = 0;
  std::vector<rt::Buffer<uint8_t>> matrices_;
  std::vector<rt::Buffer<float>> vectors_;
  std::vector<std::unique_ptr<Block>> blocks_;
  DeviceMatrix embedding_, lm_head_;
  const float* input_scale_ = nullptr;
  const float* input_bias_ = nullptr;
  const float* final_norm_ = nullptr;
  rt::Buffer<float> inv_freq_;
  // Per-sequence state: conv [S, L, 2C], vdel [S, L, VH], keys / values [S, L, max_context, KD].
  rt::Buffer<float> conv_, vdel_, keys_, values_, history_;  // history: [S, L, window, C]
  rt::Buffer<unsigned long long> skips_;
  std::vector<int64_t> lengths_, history_begin_;
  // Per-decode scratch (grown as needed).
  rt::Buffer<RowInfo> rows_;
  rt::Buffer<SeqInfo> seqs_;
  rt::Buffer<int32_t> gather_, offsets_, perm_;
  rt::Buffer<AttnRow> attn_rows_;
  rt::Buffer<Route> routes_;
  rt::Buffer<float> x_, h_, out_, raw_, v_current_, v_delayed_, conv_in_, conv_out_, queries_, attended_, router_down_,
      router_state_, act_, normed_, logits_, partial_, partial_ml_;
};

}  // namespace zaya::gpu

struct zaya_hip_backend {
  explicit zaya_hip_backend(int device) : impl(device) {}
  zaya::gpu::DeviceBackend impl;
};

struct zaya_hip_forward {
  zaya_hip_forward(zaya_hip_backend& b, const zaya_hip_model& m, const zaya_hip_forward_options& o) : backend(&b), impl(b.impl, m, o) {}
  zaya_hip_backend* backend;
  zaya::gpu::DeviceForward impl;
};
