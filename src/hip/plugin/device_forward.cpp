// src/hip/plugin/device_forward.cpp - the whole ZAYA1 forward pass on the device. Weights are
// uploaded once; each decode sends a small row table (token ids, sequence slots, positions)
// and brings back only the requested logits. Per-sequence state (conv state, delayed value,
// KV cache) stays on the device. Same math and order as src/model/forward.cpp.
#include "plugin.h"

#include <zaya/error.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>

namespace zaya::gpu {

struct DeviceForward::Block {
  const float* input_norm = nullptr;
  DeviceMatrix q_proj, k_proj, v_current, v_delayed, o_proj;
  const float *tap0 = nullptr, *tap1 = nullptr, *depthwise_bias = nullptr;
  const float *grouped_weight = nullptr, *grouped_bias = nullptr, *temperature = nullptr;
  MergeArgs post_attention, post_mlp;
  const float* post_attention_norm = nullptr;
  DeviceMatrix router_down;
  const float *down_bias = nullptr, *states_scale = nullptr, *router_norm = nullptr;
  DeviceMatrix fc1, fc2, out_proj;
  const float *fc1_bias = nullptr, *fc2_bias = nullptr, *balancing = nullptr;
  int router_type = kWeightF32;
  DeviceMatrix gate_up, down;  // [E, 2I, H], [E, H, I]
  rt::Buffer<uint8_t> router_storage[3], gate_up_storage, down_storage;
};

namespace {

int weight_type_of(const zaya_hip_matrix& m) { return m.dtype == ZAYA_HIP_BF16 ? kWeightBF16 : kWeightF32; }

float element_as_float(const zaya_hip_matrix& m, int64_t i) {
  if (m.dtype == ZAYA_HIP_F32) return static_cast<const float*>(m.data)[i];
  uint16_t b;
  std::memcpy(&b, static_cast<const uint8_t*>(m.data) + 2 * i, 2);
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

void check_shape(const zaya_hip_matrix& m, int64_t rows, int64_t cols, const char* what) {
  if (m.rows != rows || m.cols != cols || !m.data)
    fail(ErrorCode::invalid_argument, "hip forward: {} is [{}, {}], expected [{}, {}]", what, m.rows, m.cols, rows, cols);
  if (m.dtype != ZAYA_HIP_F32 && m.dtype != ZAYA_HIP_BF16)
    fail(ErrorCode::unsupported, "hip forward: {} has dtype code {} (F32 or BF16 expected)", what, m.dtype);
}

}  // namespace

rt::Buffer<float> DeviceForward::vec(const float* host, int64_t count) {
  rt::Buffer<float> b(static_cast<size_t>(std::max<int64_t>(count, 1)));
  if (!host) fail(ErrorCode::invalid_argument, "hip forward: a model vector is missing");
  rt::to_device(b.get(), host, static_cast<size_t>(count) * sizeof(float));
  device_bytes_ += static_cast<size_t>(count) * sizeof(float);
  return b;
}

DeviceMatrix DeviceForward::matrix(const zaya_hip_matrix& m) {
  matrices_.push_back(upload_matrix(m));
  device_bytes_ += matrices_.back().bytes();
  return DeviceMatrix{matrices_.back().get(), weight_type_of(m), m.rows, m.cols};
}

// Experts stacked into one [count, rows, cols] array: bf16 if every part is bf16, else f32.
DeviceMatrix DeviceForward::stacked(const zaya_hip_matrix* parts, int64_t count, rt::Buffer<uint8_t>& storage) {
  bool all_bf16 = true;
  for (int64_t e = 0; e < count; ++e) all_bf16 &= parts[e].dtype == ZAYA_HIP_BF16;
  const int64_t rows = parts[0].rows, cols = parts[0].cols, per = rows * cols;
  const size_t esize = all_bf16 ? 2 : 4;
  std::vector<uint8_t> host(static_cast<size_t>(count * per) * esize);
  for (int64_t e = 0; e < count; ++e) {
    uint8_t* dst = host.data() + static_cast<size_t>(e * per) * esize;
    if (all_bf16 || parts[e].dtype == ZAYA_HIP_F32) {
      std::memcpy(dst, parts[e].data, static_cast<size_t>(per) * esize);
    } else {
      for (int64_t i = 0; i < per; ++i) {
        const float f = element_as_float(parts[e], i);
        std::memcpy(dst + 4 * i, &f, 4);
      }
    }
  }
  storage.upload(host);
  device_bytes_ += host.size();
  return DeviceMatrix{storage.get(), all_bf16 ? kWeightBF16 : kWeightF32, rows, cols};
}

DeviceMatrix DeviceForward::router_matrix(const zaya_hip_matrix& m, int type, rt::Buffer<uint8_t>& storage) {
  if (weight_type_of(m) == type) {
    storage = upload_matrix(m);
  } else {  // mixed router dtypes: widen to f32
    std::vector<float> host(static_cast<size_t>(m.rows * m.cols));
    for (size_t i = 0; i < host.size(); ++i) host[i] = element_as_float(m, static_cast<int64_t>(i));
    storage.resize(host.size() * 4);
    rt::to_device(storage.get(), host.data(), host.size() * 4);
  }
  device_bytes_ += storage.bytes();
  return DeviceMatrix{storage.get(), type, m.rows, m.cols};
}

DeviceForward::DeviceForward(DeviceBackend& backend, const zaya_hip_model& m, const zaya_hip_forward_options& o)
    : backend_(backend), m_(m) {
  std::lock_guard lock(backend_.mutex());
  backend_.bind();
  H_ = m.hidden, L_ = m.blocks, NQ_ = m.q_heads, NK_ = m.kv_heads, D_ = m.head_dim, E_ = m.experts, I_ = m.expert_width;
  R_ = m.router_width, V_ = m.vocab;
  QD_ = NQ_ * D_, KD_ = NK_ * D_, C_ = QD_ + KD_, VH_ = KD_ / 2;
  if (H_ <= 0 || L_ <= 0 || NQ_ <= 0 || NK_ <= 0 || NQ_ % NK_ != 0 || D_ <= 0 || E_ <= 0 || I_ <= 0 || R_ <= 0 || V_ <= 0 ||
      KD_ % 2 != 0 || m.rotary_dim < 0 || m.rotary_dim > D_ || m.rotary_dim % 2 != 0 || !m.block)
    fail(ErrorCode::invalid_argument, "hip forward: inconsistent model geometry");
  if (D_ > kMaxHeadDim || R_ > kMaxRouterWidth || E_ + 1 > kMaxClasses)
    fail(ErrorCode::unsupported, "hip forward: head_dim {} / router width {} / {} experts beyond the kernels' limits", D_, R_, E_);
  if (o.max_sequences < 1 || o.max_context < 1)
    fail(ErrorCode::invalid_argument, "hip forward: max_sequences {} and max_context {} must be positive", o.max_sequences,
         o.max_context);
  max_sequences_ = o.max_sequences;
  max_context_ = o.max_context;
  if (o.truncate_window < 0) fail(ErrorCode::invalid_argument, "hip forward: truncate_window {} is negative", o.truncate_window);
  window_ = std::min<int64_t>(o.truncate_window, max_context_ + 2);

  check_shape(m.embedding, V_, H_, "embedding");
  embedding_ = matrix(m.embedding);
  if (m.lm_head.data == m.embedding.data && m.lm_head.dtype == m.embedding.dtype) {
    lm_head_ = embedding_;  // tied: one copy
  } else {
    check_shape(m.lm_head, V_, H_, "lm_head");
    lm_head_ = matrix(m.lm_head);
  }
  auto keep = [&](const float* host, int64_t count) {
    vectors_.push_back(vec(host, count));
    return static_cast<const float*>(vectors_.back().get());
  };
  input_scale_ = keep(m.input_scale, H_);
  input_bias_ = keep(m.input_bias, H_);
  final_norm_ = keep(m.final_norm, H_);
  const int64_t rd = m.rotary_dim, half = rd / 2;
  std::vector<float> inv_freq(static_cast<size_t>(std::max<int64_t>(half, 1)));
  for (int64_t i = 0; i < half; ++i)  // as the CPU: double, then float
    inv_freq[static_cast<size_t>(i)] =
        static_cast<float>(std::pow(m.rope_theta, -2.0 * static_cast<double>(i) / static_cast<double>(rd)));
  inv_freq_.upload(inv_freq);

  for (int64_t l = 0; l < L_; ++l) {
    const zaya_hip_block& s = m.block[l];
    auto b = std::make_unique<Block>();
    b->input_norm = keep(s.input_norm, H_);
    check_shape(s.q_proj, QD_, H_, "q_proj");
    check_shape(s.k_proj, KD_, H_, "k_proj");
    check_shape(s.v_current, VH_, H_, "v_current");
    check_shape(s.v_delayed, VH_, H_, "v_delayed");
    check_shape(s.o_proj, H_, QD_, "o_proj");
    b->q_proj = matrix(s.q_proj);
    b->k_proj = matrix(s.k_proj);
    b->v_current = matrix(s.v_current);
    b->v_delayed = matrix(s.v_delayed);
    b->o_proj = matrix(s.o_proj);
    b->tap0 = keep(s.depthwise_tap0, C_);
    b->tap1 = keep(s.depthwise_tap1, C_);
    b->depthwise_bias = keep(s.depthwise_bias, C_);
    b->grouped_weight = keep(s.grouped_weight, C_ * 2 * D_);
    b->grouped_bias = keep(s.grouped_bias, C_);
    b->temperature = keep(s.key_temperature, NK_);
    b->post_attention = MergeArgs{keep(s.post_attention[0], H_), keep(s.post_attention[1], H_), keep(s.post_attention[2], H_),
                                  keep(s.post_attention[3], H_)};
    b->post_attention_norm = keep(s.post_attention_norm, H_);
    check_shape(s.router_down, R_, H_, "router down");
    b->router_down = matrix(s.router_down);
    b->down_bias = keep(s.router_down_bias, R_);
    b->states_scale = s.router_states_scale ? keep(s.router_states_scale, R_) : nullptr;
    b->router_norm = keep(s.router_norm, R_);
    check_shape(s.router_fc1, R_, R_, "router fc1");
    check_shape(s.router_fc2, R_, R_, "router fc2");
    check_shape(s.router_out, E_ + 1, R_, "router out_proj");
    const bool router_bf16 =
        s.router_fc1.dtype == ZAYA_HIP_BF16 && s.router_fc2.dtype == ZAYA_HIP_BF16 && s.router_out.dtype == ZAYA_HIP_BF16;
    b->router_type = router_bf16 ? kWeightBF16 : kWeightF32;
    b->fc1 = router_matrix(s.router_fc1, b->router_type, b->router_storage[0]);
    b->fc2 = router_matrix(s.router_fc2, b->router_type, b->router_storage[1]);
    b->out_proj = router_matrix(s.router_out, b->router_type, b->router_storage[2]);
    b->fc1_bias = keep(s.router_fc1_bias, R_);
    b->fc2_bias = keep(s.router_fc2_bias, R_);
    b->balancing = keep(s.balancing_biases, E_ + 1);
    if (!s.expert_gate_up || !s.expert_down) fail(ErrorCode::invalid_argument, "hip forward: experts missing");
    for (int64_t e = 0; e < E_; ++e) {
      check_shape(s.expert_gate_up[e], 2 * I_, H_, "expert gate_up");
      check_shape(s.expert_down[e], H_, I_, "expert down");
    }
    b->gate_up = stacked(s.expert_gate_up, E_, b->gate_up_storage);
    b->down = stacked(s.expert_down, E_, b->down_storage);
    b->post_mlp = MergeArgs{keep(s.post_mlp[0], H_), keep(s.post_mlp[1], H_), keep(s.post_mlp[2], H_), keep(s.post_mlp[3], H_)};
    blocks_.push_back(std::move(b));
  }

  const size_t S = static_cast<size_t>(max_sequences_), L = static_cast<size_t>(L_);
  conv_.resize(S * L * 2 * static_cast<size_t>(C_));
  vdel_.resize(S * L * static_cast<size_t>(VH_));
  keys_.resize(S * L * static_cast<size_t>(max_context_ * KD_));
  values_.resize(S * L * static_cast<size_t>(max_context_ * KD_));
  rt::memset(conv_.get(), 0, conv_.bytes());
  rt::memset(vdel_.get(), 0, vdel_.bytes());
  skips_.resize(1);
  rt::memset(skips_.get(), 0, skips_.bytes());
  if (window_ > 0) history_.resize(S * L * static_cast<size_t>(window_ * C_));
  device_bytes_ += conv_.bytes() + vdel_.bytes() + keys_.bytes() + values_.bytes() + (window_ > 0 ? history_.bytes() : 0);
  lengths_.assign(S, 0);
  history_begin_.assign(S, 0);
}

DeviceForward::~DeviceForward() = default;

void DeviceForward::check_sequence(int32_t sequence) const {
  if (sequence < 0 || sequence >= max_sequences_)
    fail(ErrorCode::out_of_range, "sequence {} does not exist (this forward has {})", sequence, max_sequences_);
}

int64_t DeviceForward::length(int32_t sequence) const {
  check_sequence(sequence);
  return lengths_[static_cast<size_t>(sequence)];
}

uint64_t DeviceForward::skip_count() const {
  std::lock_guard lock(backend_.mutex());
  backend_.bind();
  unsigned long long n = 0;
  rt::to_host(&n, skips_.get(), sizeof n);
  return n;
}

void DeviceForward::clear(int32_t sequence) {
  check_sequence(sequence);
  std::lock_guard lock(backend_.mutex());
  backend_.bind();
  const size_t s = static_cast<size_t>(sequence), L = static_cast<size_t>(L_);
  rt::memset(conv_.get() + s * L * 2 * static_cast<size_t>(C_), 0, L * 2 * static_cast<size_t>(C_) * sizeof(float));
  rt::memset(vdel_.get() + s * L * static_cast<size_t>(VH_), 0, L * static_cast<size_t>(VH_) * sizeof(float));
  lengths_[s] = 0;
  history_begin_[s] = 0;
}

void DeviceForward::fork(int32_t source, int32_t target) {
  check_sequence(source);
  check_sequence(target);
  if (source == target) return;
  std::lock_guard lock(backend_.mutex());
  backend_.bind();
  const size_t src = static_cast<size_t>(source), dst = static_cast<size_t>(target), L = static_cast<size_t>(L_);
  const size_t conv = L * 2 * static_cast<size_t>(C_), vd = L * static_cast<size_t>(VH_);
  rt::device_copy(conv_.get() + dst * conv, conv_.get() + src * conv, conv * sizeof(float));
  rt::device_copy(vdel_.get() + dst * vd, vdel_.get() + src * vd, vd * sizeof(float));
  const size_t per_layer = static_cast<size_t>(max_context_ * KD_), used = static_cast<size_t>(lengths_[src] * KD_);
  for (size_t l = 0; l < L; ++l) {
    rt::device_copy(keys_.get() + (dst * L + l) * per_layer, keys_.get() + (src * L + l) * per_layer, used * sizeof(float));
    rt::device_copy(values_.get() + (dst * L + l) * per_layer, values_.get() + (src * L + l) * per_layer, used * sizeof(float));
  }
  if (window_ > 0) {
    const size_t ring = L * static_cast<size_t>(window_ * C_);
    rt::device_copy(history_.get() + dst * ring, history_.get() + src * ring, ring * sizeof(float));
  }
  lengths_[dst] = lengths_[src];
  history_begin_[dst] = history_begin_[src];
}

// As zaya::Context::truncate: the conv state of position `length` is the raw q|k of positions
// length-2 and length-1 (from the ring), the delayed value is the second half of V at `length`.
void DeviceForward::truncate(int32_t sequence, int64_t length) {
  check_sequence(sequence);
  const size_t s = static_cast<size_t>(sequence);
  if (length < 0 || length > lengths_[s]) fail(ErrorCode::out_of_range, "truncate: length {} outside [0, {}]", length, lengths_[s]);
  if (length == lengths_[s]) return;
  if (length == 0) {
    clear(sequence);
    return;
  }
  if (std::max<int64_t>(length - 2, 0) < history_begin_[s] || window_ == 0)
    fail(ErrorCode::out_of_range,
         "truncate: position {} is further back than the truncate window (positions >= {} can be cut exactly); "
         "clear the sequence and prefill again",
         length, history_begin_[s] + 2);
  std::lock_guard lock(backend_.mutex());
  backend_.bind();
  const size_t L = static_cast<size_t>(L_), C = static_cast<size_t>(C_), VH = static_cast<size_t>(VH_);
  const size_t per_layer_kv = static_cast<size_t>(max_context_ * KD_), ring = static_cast<size_t>(window_) * C;
  for (size_t l = 0; l < L; ++l) {
    float* conv = conv_.get() + (s * L + l) * 2 * C;
    for (int64_t k = 0; k < 2; ++k) {
      const int64_t pos = length - 2 + k;
      float* dst = conv + static_cast<size_t>(k) * C;
      if (pos < 0) rt::memset(dst, 0, C * sizeof(float));
      else rt::device_copy(dst, history_.get() + (s * L + l) * ring + static_cast<size_t>(pos % window_) * C, C * sizeof(float));
    }
    rt::device_copy(vdel_.get() + (s * L + l) * VH,
                    values_.get() + (s * L + l) * per_layer_kv + static_cast<size_t>(length) * static_cast<size_t>(KD_) + VH,
                    VH * sizeof(float));
  }
  lengths_[s] = length;
}

void DeviceForward::decode(const zaya_hip_token* tokens, size_t count, float* logits, size_t logits_rows) {
  if (count == 0) fail(ErrorCode::invalid_argument, "decode: empty batch");
  if (count > (size_t(1) << 24)) fail(ErrorCode::invalid_argument, "decode: batch of {} tokens is absurd", count);
  // Resolve the batch on the host (validation first: a refused batch changes nothing).
  const int n = static_cast<int>(count);
  std::vector<RowInfo> rows(count);
  std::vector<int32_t> gather;
  std::unordered_map<int32_t, std::pair<int32_t, int32_t>> last_two;  // seq -> (last row, row before)
  std::unordered_map<int32_t, int64_t> added;
  std::vector<int32_t> order;  // sequences in first-seen order
  int64_t max_length = 0;
  for (int i = 0; i < n; ++i) {
    const zaya_hip_token& t = tokens[i];
    check_sequence(t.sequence);
    if (t.token < 0 || t.token >= V_)
      fail(ErrorCode::out_of_range, "decode: token id {} outside the vocabulary [0, {})", t.token, V_);
    auto [it, fresh] = last_two.try_emplace(t.sequence, -1, -1);
    if (fresh) order.push_back(t.sequence);
    const int64_t position = lengths_[static_cast<size_t>(t.sequence)] + added[t.sequence]++;
    if (position >= max_context_)
      fail(ErrorCode::limit_exceeded, "decode: sequence {} would reach {} tokens, more than the context's {}", t.sequence,
           position + 1, max_context_);
    RowInfo& r = rows[static_cast<size_t>(i)];
    r.token = t.token;
    r.seq = t.sequence;
    r.position = static_cast<int32_t>(position);
    r.prev1 = it->second.first;
    r.prev2 = it->second.first >= 0 ? (it->second.second >= 0 ? it->second.second : -1) : -2;
    it->second = {i, it->second.first};
    r.logits_slot = t.logits ? static_cast<int32_t>(gather.size()) : -1;
    if (t.logits) gather.push_back(i);
    max_length = std::max(max_length, position + 1);
  }
  if (gather.size() != logits_rows)
    fail(ErrorCode::invalid_argument, "decode: {} rows ask for logits but the output has room for {}", gather.size(), logits_rows);
  std::vector<SeqInfo> seqs;
  for (int32_t s : order) seqs.push_back(SeqInfo{s, last_two[s].first, last_two[s].second});

  std::lock_guard lock(backend_.mutex());
  backend_.bind();
  const size_t N = count;
  rows_.upload(rows);
  seqs_.upload(seqs);
  if (!gather.empty()) gather_.upload(gather);
  x_.resize(N * H_);
  h_.resize(N * H_);
  out_.resize(N * H_);
  raw_.resize(N * C_);
  v_current_.resize(N * VH_);
  v_delayed_.resize(N * VH_);
  conv_in_.resize(N * 2 * C_);
  conv_out_.resize(N * C_);
  queries_.resize(N * QD_);
  attended_.resize(N * QD_);
  router_down_.resize(N * R_);
  router_state_.resize(N * R_);
  routes_.resize(N);
  offsets_.resize(static_cast<size_t>(E_ + 2));
  perm_.resize(N);
  act_.resize(N * I_);

  const size_t S_L = static_cast<size_t>(L_);
  const int64_t per_layer_kv = max_context_ * KD_;
  std::vector<AttnRow> attn(N);
  for (size_t i = 0; i < N; ++i) {
    const size_t s = static_cast<size_t>(rows[i].seq);
    attn[i] = AttnRow{queries_.get() + i * QD_, keys_.get() + s * S_L * per_layer_kv, values_.get() + s * S_L * per_layer_kv,
                      rows[i].position + 1, attended_.get() + i * QD_};
  }
  attn_rows_.upload(attn);
  const int splits = attention_splits(n, static_cast<int>(NQ_), max_length);
  if (splits > 1) {
    partial_.resize(N * static_cast<size_t>(NQ_ * splits * D_));
    partial_ml_.resize(N * static_cast<size_t>(NQ_ * splits * 2));
  }

  auto mm = [&](const DeviceMatrix& w, const float* x, int64_t ldx, float* y, int64_t ldy, int64_t rows_n) {
    MatmulArgs a;
    a.w = w.data;
    a.weight_type = w.type;
    a.x = x;
    a.ldx = ldx;
    a.y = y;
    a.ldy = ldy;
    a.n = rows_n;
    a.rows = w.rows;
    a.cols = w.cols;
    run_matmul(a);
  };
  const CcaGeometry geo{static_cast<int>(C_), static_cast<int>(D_), static_cast<int>(NQ_), static_cast<int>(NK_),
                        static_cast<int>(VH_), static_cast<int>(m_.rotary_dim)};
  const int H = static_cast<int>(H_);
  const float eps = static_cast<float>(m_.rms_eps);

  run_embed(embedding_.data, embedding_.type, rows_.get(), n, input_bias_, input_scale_, H, x_.get());
  rt::memset(router_state_.get(), 0, N * R_ * sizeof(float));
  for (size_t l = 0; l < blocks_.size(); ++l) {
    const Block& b = *blocks_[l];
    // Attention half.
    run_rms_norm(x_.get(), nullptr, b.input_norm, H, eps, h_.get(), n);
    mm(b.q_proj, h_.get(), H_, raw_.get(), C_, n);
    mm(b.k_proj, h_.get(), H_, raw_.get() + QD_, C_, n);
    mm(b.v_current, h_.get(), H_, v_current_.get(), VH_, n);
    mm(b.v_delayed, h_.get(), H_, v_delayed_.get(), VH_, n);
    float* conv_l = conv_.get() + l * 2 * C_;
    float* vdel_l = vdel_.get() + l * VH_;
    const int64_t state_stride = L_ * 2 * C_, vdel_stride = L_ * VH_, kv_stride = L_ * per_layer_kv;
    DepthwiseArgs dw;
    dw.g = geo;
    dw.raw = raw_.get();
    dw.rows = rows_.get();
    dw.n = n;
    dw.conv_state = conv_l;
    dw.state_stride = state_stride;
    dw.tap0 = b.tap0;
    dw.tap1 = b.tap1;
    dw.bias = b.depthwise_bias;
    dw.conv_in = conv_in_.get();
    dw.v_current = v_current_.get();
    dw.v_delayed = v_delayed_.get();
    dw.vdel_state = vdel_l;
    dw.vdel_stride = vdel_stride;
    dw.values = values_.get() + l * per_layer_kv;
    dw.kv_stride = kv_stride;
    if (window_ > 0) {
      dw.history = history_.get() + l * window_ * C_;
      dw.history_stride = L_ * window_ * C_;
      dw.window = static_cast<int>(window_);
    }
    run_cca_depthwise(dw);
    StateUpdateArgs su;
    su.g = geo;
    su.raw = raw_.get();
    su.seqs = seqs_.get();
    su.conv_state = conv_l;
    su.state_stride = state_stride;
    su.v_delayed = v_delayed_.get();
    su.vdel_state = vdel_l;
    su.vdel_stride = vdel_stride;
    run_cca_state_update(su, static_cast<int>(seqs.size()));
    MatmulArgs g;  // grouped conv: one [D, 2D] matrix per head, batched over heads
    g.w = b.grouped_weight;
    g.weight_type = kWeightF32;
    g.w_batch = D_ * 2 * D_;
    g.x = conv_in_.get();
    g.ldx = 2 * C_;
    g.x_batch = 2 * D_;
    g.y = conv_out_.get();
    g.ldy = C_;
    g.y_batch = D_;
    g.n = n;
    g.rows = D_;
    g.cols = 2 * D_;
    g.batch = static_cast<int>(NQ_ + NK_);
    run_matmul(g);
    QkFinishArgs qk;
    qk.g = geo;
    qk.raw = raw_.get();
    qk.conv_out = conv_out_.get();
    qk.grouped_bias = b.grouped_bias;
    qk.temperature = b.temperature;
    qk.inv_freq = inv_freq_.get();
    qk.rows = rows_.get();
    qk.queries = queries_.get();
    qk.keys = keys_.get() + l * per_layer_kv;
    qk.kv_stride = kv_stride;
    run_qk_finish(qk, n);
    AttnArgs at;
    at.rows = attn_rows_.get();
    at.layer_offset = static_cast<int64_t>(l) * per_layer_kv;
    at.q_heads = static_cast<int>(NQ_);
    at.kv_heads = static_cast<int>(NK_);
    at.D = static_cast<int>(D_);
    at.scale = 1.0f / std::sqrt(static_cast<float>(D_));
    at.splits = splits;
    at.partial = splits > 1 ? partial_.get() : nullptr;
    at.partial_ml = splits > 1 ? partial_ml_.get() : nullptr;
    run_attention(at, n, splits > 1 ? AttnKernel::split : AttnKernel::prefill);
    mm(b.o_proj, attended_.get(), QD_, out_.get(), H_, n);
    run_residual_merge(b.post_attention, out_.get(), x_.get(), H, n);

    // MoE half.
    run_rms_norm(x_.get(), nullptr, b.post_attention_norm, H, eps, h_.get(), n);
    mm(b.router_down, h_.get(), H_, router_down_.get(), R_, n);
    RouterArgs ra;
    ra.down = router_down_.get();
    ra.down_bias = b.down_bias;
    ra.states_scale = b.states_scale;
    ra.state = router_state_.get();
    ra.norm = b.router_norm;
    ra.eps = static_cast<float>(m_.router_eps);
    ra.fc1 = b.fc1.data;
    ra.fc1_bias = b.fc1_bias;
    ra.fc2 = b.fc2.data;
    ra.fc2_bias = b.fc2_bias;
    ra.out_proj = b.out_proj.data;
    ra.balancing = b.balancing;
    ra.R = static_cast<int>(R_);
    ra.classes = static_cast<int>(E_ + 1);
    ra.routes = routes_.get();
    run_router(ra, b.router_type, n);
    run_group_by_expert(routes_.get(), n, static_cast<int>(E_), offsets_.get(), perm_.get(), skips_.get());
    ExpertArgs ea;
    ea.routes = routes_.get();
    ea.n = n;
    ea.E = static_cast<int>(E_);
    ea.H = H;
    ea.I = static_cast<int>(I_);
    ea.offsets = offsets_.get();
    ea.perm = perm_.get();
    ea.gate_up = b.gate_up.data;
    ea.down = b.down.data;
    ea.h = h_.get();
    ea.act = act_.get();
    ea.out = out_.get();
    ea.skip_scales_input = m_.skip_scales_input;
    if (b.gate_up.type != b.down.type) fail(ErrorCode::internal, "hip forward: expert gate_up and down differ in dtype");
    run_experts(ea, b.gate_up.type);
    run_residual_merge(b.post_mlp, out_.get(), x_.get(), H, n);
  }

  // Final norm and LM head for the rows that asked.
  if (!gather.empty()) {
    const size_t m = gather.size();
    normed_.resize(m * H_);
    logits_.resize(m * V_);
    run_rms_norm(x_.get(), gather_.get(), final_norm_, H, eps, normed_.get(), static_cast<int>(m));
    mm(lm_head_, normed_.get(), H_, logits_.get(), V_, static_cast<int64_t>(m));
    rt::to_host(logits, logits_.get(), m * static_cast<size_t>(V_) * sizeof(float));
  } else {
    rt::synchronize();
  }
  for (const auto& [seq, k] : added) {
    const size_t s = static_cast<size_t>(seq);
    lengths_[s] += k;
    history_begin_[s] = std::max(history_begin_[s], lengths_[s] - window_);
  }
}

}  // namespace zaya::gpu
