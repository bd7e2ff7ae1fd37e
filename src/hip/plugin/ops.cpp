// src/hip/plugin/ops.cpp - the zaya::Backend operations (matmul, attention, expert MLP) on the
// device for callers holding host memory: weights are uploaded on first use and cached for the
// backend's lifetime (the model's); activations go up and results come back per call.
#include "plugin.h"

#include <zaya/error.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

namespace zaya::gpu {

namespace {
size_t element_size(int type) { return type == kWeightBF16 ? 2 : 4; }

void check_matrix(const zaya_hip_matrix& m) {
  if (m.dtype != ZAYA_HIP_F32 && m.dtype != ZAYA_HIP_BF16)
    fail(ErrorCode::unsupported, "hip: weight dtype code {} (F32 or BF16 expected)", m.dtype);
  if (m.rows < 0 || m.cols < 0 || (!m.data && m.rows * m.cols > 0)) fail(ErrorCode::invalid_argument, "hip: bad weight matrix");
}
}  // namespace

rt::Buffer<uint8_t> upload_matrix(const zaya_hip_matrix& m) {
  check_matrix(m);
  const size_t bytes = static_cast<size_t>(m.rows * m.cols) * element_size(m.dtype);
  rt::Buffer<uint8_t> buf(bytes);
  rt::to_device(buf.get(), m.data, bytes);
  return buf;
}

DeviceBackend::DeviceBackend(int device) : device_(device) {
  const auto devices = probe_devices();
  if (device < 0 || static_cast<size_t>(device) >= devices.size())
    fail(ErrorCode::invalid_argument, "hip: device {} does not exist ({} found)", device, devices.size());
  if (!devices[static_cast<size_t>(device)].supported)
    fail(ErrorCode::unsupported, "GPU arch {} not in this build (built for {})", devices[static_cast<size_t>(device)].arch,
         build_archs());
  wavefront_ = devices[static_cast<size_t>(device)].wavefront_size;
  bind();
}

void DeviceBackend::bind() const {
  rt::set_device(device_);
  set_device_wavefront(wavefront_);
}

DeviceMatrix DeviceBackend::cached(const zaya_hip_matrix& w) {
  auto key = std::make_tuple(w.data, w.dtype, w.rows, w.cols);
  auto it = weights_.find(key);
  if (it == weights_.end()) it = weights_.emplace(key, upload_matrix(w)).first;
  return DeviceMatrix{it->second.get(), w.dtype == ZAYA_HIP_BF16 ? kWeightBF16 : kWeightF32, w.rows, w.cols};
}

void DeviceBackend::matmul(const zaya_hip_matrix& w, const float* x, size_t ldx, size_t n, float* y, size_t ldy) {
  if (n == 0 || w.rows == 0) return;
  std::lock_guard lock(mutex_);
  bind();
  const DeviceMatrix dw = cached(w);
  const size_t rows = static_cast<size_t>(w.rows), cols = static_cast<size_t>(w.cols);
  const size_t x_count = (n - 1) * ldx + cols, y_count = (n - 1) * ldy + rows;
  x_.upload(x, x_count);
  y_.resize(y_count);
  MatmulArgs a;
  a.w = dw.data;
  a.weight_type = dw.type;
  a.x = x_.get();
  a.ldx = static_cast<int64_t>(ldx);
  a.y = y_.get();
  a.ldy = static_cast<int64_t>(ldy);
  a.n = static_cast<int64_t>(n);
  a.rows = w.rows;
  a.cols = w.cols;
  run_matmul(a);
  host_.resize(y_count);
  rt::to_host(host_.data(), y_.get(), y_count * sizeof(float));
  for (size_t i = 0; i < n; ++i) std::memcpy(y + i * ldy, host_.data() + i * ldy, rows * sizeof(float));
}

void DeviceBackend::attention(int q_heads, int kv_heads, int head_dim, float scale, const zaya_hip_attention_row* rows,
                              size_t count) {
  if (count == 0) return;
  if (q_heads <= 0 || kv_heads <= 0 || q_heads % kv_heads != 0 || head_dim <= 0)
    fail(ErrorCode::invalid_argument, "hip attention: {} q heads, {} kv heads, head_dim {}", q_heads, kv_heads, head_dim);
  std::lock_guard lock(mutex_);
  bind();
  const size_t qd = static_cast<size_t>(q_heads * head_dim), kv_stride = static_cast<size_t>(kv_heads * head_dim);
  // One device copy of each distinct cache (rows of one sequence share it), as long as the
  // longest row that reads it.
  std::unordered_map<const float*, size_t> cache_len;
  for (size_t r = 0; r < count; ++r) {
    cache_len[rows[r].keys] = std::max(cache_len[rows[r].keys], static_cast<size_t>(rows[r].length));
    cache_len[rows[r].values] = std::max(cache_len[rows[r].values], static_cast<size_t>(rows[r].length));
  }
  std::unordered_map<const float*, size_t> offset;  // host cache -> offset in x_
  size_t total = count * qd;
  for (const auto& [p, len] : cache_len) {
    offset[p] = total;
    total += len * kv_stride;
  }
  host_.assign(total, 0.0f);
  for (size_t r = 0; r < count; ++r) std::memcpy(host_.data() + r * qd, rows[r].q, qd * sizeof(float));
  for (const auto& [p, len] : cache_len) std::memcpy(host_.data() + offset[p], p, len * kv_stride * sizeof(float));
  x_.upload(host_.data(), total);
  y_.resize(count * qd);
  std::vector<AttnRow> dev_rows(count);
  int64_t max_length = 0;
  for (size_t r = 0; r < count; ++r) {
    dev_rows[r] = AttnRow{x_.get() + r * qd, x_.get() + offset[rows[r].keys], x_.get() + offset[rows[r].values],
                          rows[r].length, y_.get() + r * qd};
    max_length = std::max(max_length, rows[r].length);
  }
  rows_.upload(dev_rows);
  AttnArgs a;
  a.rows = rows_.get();
  a.q_heads = q_heads;
  a.kv_heads = kv_heads;
  a.D = head_dim;
  a.scale = scale;
  a.splits = attention_splits(static_cast<int>(count), q_heads, max_length);
  if (a.splits > 1) {
    partial_.resize(count * static_cast<size_t>(q_heads * a.splits * head_dim));
    partial_ml_.resize(count * static_cast<size_t>(q_heads * a.splits * 2));
    a.partial = partial_.get();
    a.partial_ml = partial_ml_.get();
  }
  run_attention(a, static_cast<int>(count), a.splits > 1 ? AttnKernel::split : AttnKernel::prefill);
  host_.resize(count * qd);
  rt::to_host(host_.data(), y_.get(), count * qd * sizeof(float));
  for (size_t r = 0; r < count; ++r) std::memcpy(rows[r].out, host_.data() + r * qd, qd * sizeof(float));
}

void DeviceBackend::expert_mlp(const zaya_hip_matrix& gate_up, const zaya_hip_matrix& down, const float* x, size_t n, float* y) {
  if (n == 0) return;
  if (gate_up.rows != 2 * down.cols || gate_up.cols != down.rows)
    fail(ErrorCode::invalid_argument, "hip expert_mlp: gate_up [{}, {}] does not match down [{}, {}]", gate_up.rows, gate_up.cols,
         down.rows, down.cols);
  std::lock_guard lock(mutex_);
  bind();
  const DeviceMatrix gu = cached(gate_up), dn = cached(down);
  const int64_t H = gate_up.cols, I = down.cols, N = static_cast<int64_t>(n);
  x_.upload(x, n * static_cast<size_t>(H));
  hidden_.resize(n * static_cast<size_t>(2 * I));
  act_.resize(n * static_cast<size_t>(I));
  y_.resize(n * static_cast<size_t>(H));
  MatmulArgs a;
  a.w = gu.data;
  a.weight_type = gu.type;
  a.x = x_.get();
  a.ldx = H;
  a.y = hidden_.get();
  a.ldy = 2 * I;
  a.n = N;
  a.rows = 2 * I;
  a.cols = H;
  run_matmul(a);
  run_swiglu(hidden_.get(), static_cast<int>(I), act_.get(), static_cast<int>(n));
  MatmulArgs b;
  b.w = dn.data;
  b.weight_type = dn.type;
  b.x = act_.get();
  b.ldx = I;
  b.y = y_.get();
  b.ldy = H;
  b.n = N;
  b.rows = H;
  b.cols = I;
  run_matmul(b);
  rt::to_host(y, y_.get(), n * static_cast<size_t>(H) * sizeof(float));
}

}  // namespace zaya::gpu
