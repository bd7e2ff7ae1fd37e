// src/hip_loader/device_forward.h - the whole forward pass on the HIP device, driven through the
// plugin ABI: the model's weights are uploaded once; each decode sends token ids (and row
// bookkeeping) and receives only the requested logits. Sequences (KV cache, CCA conv state,
// delayed value) live on the device.
//
//   auto model = zaya::Model::load(dir, {.backend = "hip"});
//   zaya::hip_loader::DeviceForward fwd(model, {.max_sequences = 4, .max_context = 4096});
//   fwd.decode(batch);  auto row = fwd.logits(0);
//
// Same batch semantics as zaya::Context::decode (BatchToken; tokens of a sequence in order).
// The core's Context does not use it yet: see docs/HIP.md ("core hook").
#pragma once

#include "hip/abi/plugin_abi.h"

#include <zaya/context.h>
#include <zaya/model.h>

#include <memory>
#include <span>
#include <vector>

namespace zaya::hip_loader {

struct DeviceForwardOptions {
  int max_sequences = 1;
  int64_t max_context = 4096;  // capped by the model's max_position
  int64_t truncate_window = 64;  // as ContextOptions::truncate_window
};

class DeviceForward {
 public:
  // Throws zaya::Error(unsupported) unless the model runs on the HIP backend.
  DeviceForward(std::shared_ptr<const Model> model, const DeviceForwardOptions& options = {});
  ~DeviceForward();
  DeviceForward(const DeviceForward&) = delete;
  DeviceForward& operator=(const DeviceForward&) = delete;

  static bool supported(const Model& model);

  void decode(std::span<const BatchToken> batch);
  size_t logits_rows() const noexcept { return logits_rows_; }
  std::span<const float> logits(size_t row) const;
  std::vector<float> prefill(int32_t sequence, std::span<const int32_t> tokens);

  int64_t length(int32_t sequence) const;
  void clear(int32_t sequence);
  void fork(int32_t source, int32_t target);
  void truncate(int32_t sequence, int64_t length);  // as Context::truncate
  uint64_t skip_count() const;
  size_t device_bytes() const;

 private:
  std::shared_ptr<const Model> model_;
  const zaya_hip_plugin* table_ = nullptr;
  zaya_hip_forward* forward_ = nullptr;
  std::vector<float> logits_;
  size_t logits_rows_ = 0;
};

}  // namespace zaya::hip_loader
