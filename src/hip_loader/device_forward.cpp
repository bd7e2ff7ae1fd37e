// src/hip_loader/device_forward.cpp - describes the loaded weights to the plugin (plain C
// structs, host pointers) and forwards decode calls.
#include "device_forward.h"

#include "hip_loader.h"
#include "model/weights.h"

#include <zaya/error.h>

namespace zaya::hip_loader {
namespace {

zaya_hip_matrix matrix(const WeightMatrix& w) {
  zaya_hip_matrix m{};
  if (w.dtype == DType::f32) m.dtype = ZAYA_HIP_F32;
  else if (w.dtype == DType::bf16) m.dtype = ZAYA_HIP_BF16;
  else fail(ErrorCode::unsupported, "hip forward: weights of dtype {} (F32 or BF16 expected)", dtype_name(w.dtype));
  m.data = w.data;
  m.rows = w.rows;
  m.cols = w.cols;
  return m;
}

void check(int status, const zaya_hip_error& e) {
  if (status != ZAYA_HIP_OK) throw Error(static_cast<ErrorCode>(status), e.message);
}

}  // namespace

bool DeviceForward::supported(const Model& model) { return handles_of(model.backend()).table != nullptr; }

DeviceForward::DeviceForward(std::shared_ptr<const Model> model, const DeviceForwardOptions& options) : model_(std::move(model)) {
  if (!model_) fail(ErrorCode::invalid_argument, "device forward: model is null");
  const HipHandles h = handles_of(model_->backend());
  if (!h.table)
    fail(ErrorCode::unsupported, "device forward: the model runs on backend '{}', not 'hip'", model_->backend().name());
  table_ = h.table;
  const ModelConfig& c = model_->config();
  const model::ModelWeights& w = model_->weights();

  zaya_hip_model m{};
  m.hidden = c.hidden;
  m.blocks = c.blocks;
  m.q_heads = c.q_heads;
  m.kv_heads = c.kv_heads;
  m.head_dim = c.head_dim;
  m.experts = c.experts;
  m.expert_width = c.expert_width;
  m.router_width = c.router_width;
  m.vocab = c.vocab;
  m.rotary_dim = c.rotary_dim();
  m.rms_eps = c.rms_eps;
  m.router_eps = c.router_eps;
  m.rope_theta = c.rope_theta;
  m.skip_scales_input = model_->options().skip == SkipSemantics::scale_input ? 1 : 0;
  m.embedding = matrix(w.embedding);
  m.lm_head = matrix(w.lm_head);
  m.input_scale = w.input_scale.data();
  m.input_bias = w.input_bias.data();
  m.final_norm = w.final_norm.data();
  std::vector<zaya_hip_block> blocks(w.blocks.size());
  std::vector<std::vector<zaya_hip_matrix>> gate_up(w.blocks.size()), down(w.blocks.size());
  for (size_t l = 0; l < w.blocks.size(); ++l) {
    const model::BlockWeights& b = w.blocks[l];
    zaya_hip_block& s = blocks[l];
    const auto& a = b.attention;
    s.input_norm = b.input_norm.data();
    s.q_proj = matrix(a.q_proj);
    s.k_proj = matrix(a.k_proj);
    s.v_current = matrix(a.v_current);
    s.v_delayed = matrix(a.v_delayed);
    s.o_proj = matrix(a.o_proj);
    s.depthwise_tap0 = a.depthwise_tap0.data();
    s.depthwise_tap1 = a.depthwise_tap1.data();
    s.depthwise_bias = a.depthwise_bias.data();
    s.grouped_weight = a.grouped_weight.data();
    s.grouped_bias = a.grouped_bias.data();
    s.key_temperature = a.key_temperature.data();
    const model::ResidualScale* merges[2] = {&b.post_attention, &b.post_mlp};
    const float** dst[2] = {s.post_attention, s.post_mlp};
    for (int k = 0; k < 2; ++k) {
      dst[k][0] = merges[k]->hidden_scale.data();
      dst[k][1] = merges[k]->hidden_bias.data();
      dst[k][2] = merges[k]->residual_scale.data();
      dst[k][3] = merges[k]->residual_bias.data();
    }
    s.post_attention_norm = b.post_attention_norm.data();
    const auto& r = b.router;
    s.router_down = matrix(r.down);
    s.router_down_bias = r.down_bias.data();
    s.router_states_scale = r.states_scale.empty() ? nullptr : r.states_scale.data();
    s.router_norm = r.norm.data();
    s.router_fc1 = matrix(r.fc1);
    s.router_fc2 = matrix(r.fc2);
    s.router_out = matrix(r.out_proj);
    s.router_fc1_bias = r.fc1_bias.data();
    s.router_fc2_bias = r.fc2_bias.data();
    s.balancing_biases = r.balancing_biases.data();
    for (const auto& e : b.expert_gate_up) gate_up[l].push_back(matrix(e));
    for (const auto& e : b.expert_down) down[l].push_back(matrix(e));
    s.expert_gate_up = gate_up[l].data();
    s.expert_down = down[l].data();
  }
  m.block = blocks.data();
  zaya_hip_forward_options o{};
  o.max_sequences = options.max_sequences;
  o.max_context = std::min<int64_t>(options.max_context, c.max_position);
  o.truncate_window = options.truncate_window;
  zaya_hip_error e{};
  check(table_->forward_create(h.backend, &m, &o, &forward_, &e), e);
}

DeviceForward::~DeviceForward() {
  if (forward_) table_->forward_destroy(forward_);
}

void DeviceForward::decode(std::span<const BatchToken> batch) {
  logits_rows_ = 0;
  std::vector<zaya_hip_token> tokens(batch.size());
  size_t rows = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    tokens[i] = zaya_hip_token{batch[i].sequence, batch[i].token, batch[i].logits ? 1 : 0, 0};
    rows += batch[i].logits ? 1 : 0;
  }
  const size_t V = static_cast<size_t>(model_->config().vocab);
  logits_.resize(std::max<size_t>(rows, 1) * V);
  zaya_hip_error e{};
  check(table_->forward_decode(forward_, tokens.data(), tokens.size(), logits_.data(), rows, &e), e);
  logits_rows_ = rows;
}

std::span<const float> DeviceForward::logits(size_t row) const {
  if (row >= logits_rows_) fail(ErrorCode::out_of_range, "logits row {} requested, the last decode produced {}", row, logits_rows_);
  const size_t V = static_cast<size_t>(model_->config().vocab);
  return {logits_.data() + row * V, V};
}

std::vector<float> DeviceForward::prefill(int32_t sequence, std::span<const int32_t> tokens) {
  if (tokens.empty()) fail(ErrorCode::invalid_argument, "prefill: no tokens");
  std::vector<BatchToken> batch(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) batch[i] = BatchToken{sequence, tokens[i], i + 1 == tokens.size()};
  decode(batch);
  auto row = logits(0);
  return {row.begin(), row.end()};
}

int64_t DeviceForward::length(int32_t sequence) const {
  const int64_t n = table_->forward_length(forward_, sequence);
  if (n < 0) fail(ErrorCode::out_of_range, "sequence {} does not exist", sequence);
  return n;
}

void DeviceForward::clear(int32_t sequence) {
  zaya_hip_error e{};
  check(table_->forward_clear(forward_, sequence, &e), e);
}

void DeviceForward::fork(int32_t source, int32_t target) {
  zaya_hip_error e{};
  check(table_->forward_fork(forward_, source, target, &e), e);
}

void DeviceForward::truncate(int32_t sequence, int64_t length) {
  zaya_hip_error e{};
  check(table_->forward_truncate(forward_, sequence, length, &e), e);
}

uint64_t DeviceForward::skip_count() const { return table_->forward_skip_count(forward_); }
size_t DeviceForward::device_bytes() const { return table_->forward_device_bytes(forward_); }

}  // namespace zaya::hip_loader
