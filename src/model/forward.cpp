// src/model/forward.cpp - the ZAYA1 forward pass over a batch of tokens, top to bottom, and the
// sequence bookkeeping of zaya::Context (fork, truncate, transactional decode).
//
//   x = (embed[token] + input_bias) * input_scale                       fp32 residual stream
//   for each block:
//     x = S_attn(CCA(RMSNorm(x)), x)                                    cca_attention.cpp
//     h = RMSNorm(x); route = Router(h, eda_state)                      router.cpp
//     x = S_mlp(route.weight * Expert[route.expert](h), x)              experts.cpp
//   logits = LMHead(RMSNorm(x))                                         tied embedding
#include "batch_plan.h"
#include "cca_attention.h"
#include "context_impl.h"
#include "experts.h"
#include "math.h"
#include "residual_scale.h"
#include "router.h"
#include "weights.h"

#include <zaya/context.h>
#include <zaya/error.h>
#include <zaya/quant.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <new>

namespace zaya {

using model::BatchPlan;
using model::KvCache;
using model::LayerState;
using model::SequenceState;

namespace {

void init_sequence(SequenceState& s, const ModelConfig& c, int64_t window, DType kv_type) {
  const size_t C = static_cast<size_t>(c.conv_channels()), VH = static_cast<size_t>(c.value_proj_dim());
  s.length = 0;
  s.history_begin = 0;
  s.layers.clear();  // frees the KV caches (assign() would keep their capacity): clear() makes room
  s.layers.resize(static_cast<size_t>(c.blocks));
  for (auto& l : s.layers) {
    l.kv = KvCache(static_cast<size_t>(c.kv_heads), static_cast<size_t>(c.head_dim), kv_type);
    l.conv.assign(2 * C, 0.0f);
    l.vdel.assign(VH, 0.0f);
    l.history.assign(static_cast<size_t>(std::max<int64_t>(window, 0)) * C, 0.0f);
  }
}

}  // namespace

Context::Context(std::shared_ptr<const Model> model, const ContextOptions& options)
    : model_(std::move(model)), options_(options) {
  if (!model_) fail(ErrorCode::invalid_argument, "context: model is null");
  if (options_.max_sequences < 1 || options_.max_sequences > 65536)
    fail(ErrorCode::invalid_argument, "context: max_sequences = {} (must be 1..65536)", options_.max_sequences);
  if (options_.max_context < 1)
    fail(ErrorCode::invalid_argument, "context: max_context = {} (must be positive)", options_.max_context);
  options_.max_context = std::min(options_.max_context, model_->config().max_position);
  if (options_.truncate_window < 0 || options_.truncate_window > options_.max_context + 2)
    options_.truncate_window = std::clamp<int64_t>(options_.truncate_window, 0, options_.max_context + 2);
  if (options_.threads < 0 || options_.threads > 1024)
    fail(ErrorCode::invalid_argument, "context: threads = {} (must be 0..1024)", options_.threads);
  if (options_.kv_cache_type != DType::f32 && options_.kv_cache_type != DType::f16)
    fail(ErrorCode::invalid_argument, "context: kv_cache_type {} (must be f32 or f16)", dtype_name(options_.kv_cache_type));
  const ModelConfig& c = model_->config();
  const uint64_t fixed_floats = static_cast<uint64_t>(c.blocks) *
      (2 * static_cast<uint64_t>(c.conv_channels()) + static_cast<uint64_t>(c.value_proj_dim()) +
       static_cast<uint64_t>(options_.truncate_window) * static_cast<uint64_t>(c.conv_channels()));
  const uint64_t fixed_bytes = fixed_floats * sizeof(float) * static_cast<uint64_t>(options_.max_sequences);
  if (options_.max_cache_bytes && fixed_bytes > options_.max_cache_bytes)
    fail(ErrorCode::out_of_memory, "context: {} sequences need {} bytes of fixed state, more than max_cache_bytes = {}",
         options_.max_sequences, fixed_bytes, options_.max_cache_bytes);
  try {
    impl_ = std::make_unique<Impl>(options_.threads);
    impl_->sequences.resize(static_cast<size_t>(options_.max_sequences));
    for (auto& s : impl_->sequences) init_sequence(s, c, options_.truncate_window, options_.kv_cache_type);
  } catch (const std::bad_alloc&) {
    fail(ErrorCode::out_of_memory, "context: cannot allocate {} bytes of state for {} sequences", fixed_bytes,
         options_.max_sequences);
  }
}

Context::~Context() = default;

int64_t Context::vocab_size() const noexcept { return model_->config().vocab; }

std::span<const float> Context::logits(size_t row) const {
  if (row >= logits_rows_) fail(ErrorCode::out_of_range, "logits row {} requested, the last decode produced {}", row, logits_rows_);
  const size_t V = static_cast<size_t>(model_->config().vocab);
  return {impl_->logits.data() + row * V, V};
}

static void check_sequence(const Context& ctx, int32_t sequence) {
  if (sequence < 0 || sequence >= ctx.max_sequences())
    fail(ErrorCode::out_of_range, "sequence {} does not exist (this context has {})", sequence, ctx.max_sequences());
}

int64_t Context::length(int32_t sequence) const {
  check_sequence(*this, sequence);
  return impl_->sequences[static_cast<size_t>(sequence)].length;
}

void Context::clear(int32_t sequence) {
  check_sequence(*this, sequence);
  init_sequence(impl_->sequences[static_cast<size_t>(sequence)], model_->config(), options_.truncate_window,
                options_.kv_cache_type);
}

void Context::fork(int32_t source, int32_t target) {
  check_sequence(*this, source);
  check_sequence(*this, target);
  if (source == target) return;
  const SequenceState& src = impl_->sequences[static_cast<size_t>(source)];
  if (options_.max_cache_bytes) {
    size_t copy_bytes = 0;
    for (const auto& l : src.layers)
      copy_bytes += l.kv.bytes() + (l.conv.size() + l.vdel.size() + l.history.size()) * sizeof(float);
    const size_t after = total_state_bytes() - state_bytes(target) + copy_bytes;
    if (after > options_.max_cache_bytes)
      fail(ErrorCode::out_of_memory, "fork: the context would hold {} bytes of state, more than max_cache_bytes = {}", after,
           options_.max_cache_bytes);
  }
  SequenceState copy;
  try {
    copy = src;  // target untouched until the move
  } catch (const std::bad_alloc&) {
    fail(ErrorCode::out_of_memory, "fork: cannot allocate a copy of sequence {}", source);
  }
  impl_->sequences[static_cast<size_t>(target)] = std::move(copy);
}

void Context::truncate(int32_t sequence, int64_t new_length) {
  check_sequence(*this, sequence);
  SequenceState& s = impl_->sequences[static_cast<size_t>(sequence)];
  if (new_length < 0 || new_length > s.length)
    fail(ErrorCode::out_of_range, "truncate: length {} outside [0, {}]", new_length, s.length);
  if (new_length == s.length) return;
  if (new_length == 0) {
    clear(sequence);
    return;
  }
  if (std::max<int64_t>(new_length - 2, 0) < s.history_begin)
    fail(ErrorCode::out_of_range,
         "truncate: position {} is further back than the truncate window (positions >= {} can be cut exactly); "
         "clear the sequence and prefill again",
         new_length, s.history_begin + 2);
  const auto& c = model_->config();
  const size_t C = static_cast<size_t>(c.conv_channels()), KD = static_cast<size_t>(c.kv_dim());
  const size_t VH = KD / 2, window = static_cast<size_t>(options_.truncate_window);
  std::vector<float> v_row(KD);
  for (auto& l : s.layers) {
    for (int64_t k = 0; k < 2; ++k) {  // conv state = raw X of positions new_length-2, new_length-1
      const int64_t pos = new_length - 2 + k;
      float* dst = l.conv.data() + static_cast<size_t>(k) * C;
      if (pos < 0) std::fill(dst, dst + C, 0.0f);
      else std::memcpy(dst, l.history.data() + static_cast<size_t>(pos) % window * C, C * sizeof(float));
    }
    // The delayed value of position new_length (W_vdel h_{new_length-1}) is in its V row.
    l.kv.load_value(static_cast<size_t>(new_length), v_row.data());
    std::memcpy(l.vdel.data(), v_row.data() + VH, VH * sizeof(float));
  }
  s.length = new_length;
}

size_t Context::state_bytes(int32_t sequence) const {
  check_sequence(*this, sequence);
  const auto& s = impl_->sequences[static_cast<size_t>(sequence)];
  size_t total = 0;
  for (const auto& l : s.layers)
    total += l.kv.bytes() + (l.conv.size() + l.vdel.size() + l.history.size()) * sizeof(float);
  return total;
}

size_t Context::total_state_bytes() const {
  size_t total = 0;
  for (int32_t s = 0; s < options_.max_sequences; ++s) total += state_bytes(s);
  return total;
}

std::vector<float> Context::prefill(int32_t sequence, std::span<const int32_t> tokens) {
  if (tokens.empty()) fail(ErrorCode::invalid_argument, "prefill: no tokens");
  std::vector<BatchToken> batch(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) batch[i] = BatchToken{sequence, tokens[i], i + 1 == tokens.size()};
  decode(batch);
  auto row = logits(0);
  return {row.begin(), row.end()};
}

void Context::decode(std::span<const BatchToken> batch) {
  const ModelConfig& c = model_->config();
  const model::ModelWeights& w = model_->weights();
  const Backend& backend = model_->backend();
  Impl& im = *impl_;
  const size_t n = batch.size();
  logits_rows_ = 0;  // the previous decode's logits are invalid from here on, even if this fails
  const size_t H = static_cast<size_t>(c.hidden), V = static_cast<size_t>(c.vocab);
  const size_t R = static_cast<size_t>(c.router_width);
  const size_t kv_heads = static_cast<size_t>(c.kv_heads), head_dim = static_cast<size_t>(c.head_dim);
  if (n == 0) fail(ErrorCode::invalid_argument, "decode: empty batch");
  if (n > (size_t(1) << 24)) fail(ErrorCode::invalid_argument, "decode: batch of {} tokens is absurd", n);

  // Resolve the batch: positions, per-sequence row lists, validation before any state changes.
  BatchPlan plan;
  plan.rows.resize(n);
  std::map<int32_t, size_t> seq_index;
  size_t logits_rows = 0;
  for (size_t i = 0; i < n; ++i) {
    const BatchToken& t = batch[i];
    check_sequence(*this, t.sequence);
    if (t.token < 0 || t.token >= c.vocab)
      fail(ErrorCode::out_of_range, "decode: token id {} outside the vocabulary [0, {})", t.token, c.vocab);
    auto [it, inserted] = seq_index.emplace(t.sequence, plan.sequences.size());
    if (inserted) plan.sequences.push_back({t.sequence, &im.sequences[static_cast<size_t>(t.sequence)], {}});
    auto& bs = plan.sequences[it->second];
    bs.rows.push_back(i);
    plan.rows[i] = {t.sequence, t.token, bs.state->length + static_cast<int64_t>(bs.rows.size()) - 1, t.logits, bs.state};
    if (t.logits) ++logits_rows;
  }
  for (auto& bs : plan.sequences) {
    const int64_t new_length = bs.state->length + static_cast<int64_t>(bs.rows.size());
    if (new_length > options_.max_context)
      fail(ErrorCode::limit_exceeded, "decode: sequence {} would reach {} tokens, more than the context's {}", bs.id, new_length,
           options_.max_context);
  }

  // KV positions each growing sequence gets: doubling, capped at max_context; with
  // max_cache_bytes, just what is needed when doubling would not fit (KvCache rounds either up to
  // whole key blocks, and bytes_for() counts it that way, as state_bytes() does).
  std::vector<size_t> target_rows(plan.sequences.size(), 0);  // 0: no growth
  for (size_t k = 0; k < plan.sequences.size(); ++k) {
    const SequenceState& s = *plan.sequences[k].state;
    const size_t needed = static_cast<size_t>(s.length) + plan.sequences[k].rows.size();
    const size_t rows = s.layers.empty() ? 0 : s.layers[0].kv.capacity();
    if (rows < needed)
      target_rows[k] = std::max(needed, std::min<size_t>(rows * 2, static_cast<size_t>(options_.max_context)));
  }
  if (options_.max_cache_bytes && std::any_of(target_rows.begin(), target_rows.end(), [](size_t r) { return r > 0; })) {
    const auto bytes_after = [&] {
      size_t extra = 0;
      for (size_t k = 0; k < plan.sequences.size(); ++k)
        if (target_rows[k])
          for (const auto& l : plan.sequences[k].state->layers)
            extra += KvCache::bytes_for(target_rows[k], kv_heads, head_dim, l.kv.type()) -
                     std::min(l.kv.bytes(), KvCache::bytes_for(target_rows[k], kv_heads, head_dim, l.kv.type()));
      return total_state_bytes() + extra;
    };
    if (bytes_after() > options_.max_cache_bytes) {
      for (size_t k = 0; k < plan.sequences.size(); ++k)
        if (target_rows[k]) target_rows[k] = static_cast<size_t>(plan.sequences[k].state->length) + plan.sequences[k].rows.size();
      if (const size_t after = bytes_after(); after > options_.max_cache_bytes)
        fail(ErrorCode::out_of_memory, "decode: the caches would grow to {} bytes, more than max_cache_bytes = {}", after,
             options_.max_cache_bytes);
    }
  }

  // Snapshot what the forward pass mutates in place, so an error or cancel changes nothing.
  struct Saved { std::vector<std::vector<float>> conv, vdel; };
  std::vector<Saved> saved(plan.sequences.size());
  try {
    for (size_t k = 0; k < plan.sequences.size(); ++k) {
      SequenceState& s = *plan.sequences[k].state;
      const size_t needed = static_cast<size_t>(s.length) + plan.sequences[k].rows.size();
      for (auto& l : s.layers) {
        saved[k].conv.push_back(l.conv);
        saved[k].vdel.push_back(l.vdel);
        if (l.kv.capacity() < needed) l.kv.reserve(std::max(target_rows[k], needed));
      }
    }
    im.x.resize(n * H);
    im.h.resize(n * H);
    im.block_out.resize(n * H);
    im.router_state.resize(n * R);
  } catch (const std::bad_alloc&) {
    fail(ErrorCode::out_of_memory, "decode: cannot allocate the caches for {} more tokens", n);
  }

  uint64_t skips = 0;
  uint64_t weight_bytes = 0;
  try {
    // Embedding and input affine (no sqrt(H) scaling in ZAYA1).
    for (size_t i = 0; i < n; ++i) {
      const WeightMatrix& e = w.embedding;
      float* xi = im.x.data() + i * H;
      const auto G = static_cast<int64_t>(interleave_rows(e.dtype));
      if (e.interleaved && plan.rows[i].token < e.rows / G * G) {
        // The token's row is row token % G of its group of G interleaved rows.
        const int64_t group = plan.rows[i].token / G;
        const size_t group_bytes = static_cast<size_t>(G) * e.row_bytes();
        im.embedding_group.resize(group_bytes);
        unpack_interleaved(e.dtype, static_cast<const std::byte*>(e.data) + static_cast<size_t>(group) * group_bytes,
                           static_cast<size_t>(G), H, im.embedding_group.data());
        dequantize_row(e.dtype, im.embedding_group.data() + static_cast<size_t>(plan.rows[i].token % G) * e.row_bytes(), H, xi);
        for (size_t j = 0; j < H; ++j) xi[j] = (xi[j] + w.input_bias[j]) * w.input_scale[j];
      } else if (is_quantized(e.dtype)) {
        dequantize_row(e.dtype, e.row(plan.rows[i].token), H, xi);
        for (size_t j = 0; j < H; ++j) xi[j] = (xi[j] + w.input_bias[j]) * w.input_scale[j];
      } else {
        for (size_t j = 0; j < H; ++j)
          xi[j] = (load_as_f32(e.row(plan.rows[i].token), e.dtype, j) + w.input_bias[j]) * w.input_scale[j];
      }
    }
    std::fill(im.router_state.data(), im.router_state.data() + n * R, 0.0f);

    for (size_t l = 0; l < w.blocks.size(); ++l) {
      const model::BlockWeights& b = w.blocks[l];
      for (size_t i = 0; i < n; ++i) model::rms_norm(im.x.data() + i * H, b.input_norm.data(), H, c.rms_eps, im.h.data() + i * H);
      model::cca_attention(backend, im.ws, c, b.attention, l, plan, im.h.data(), im.block_out.data(), im.cca,
                           options_.truncate_window);
      model::residual_merge(b.post_attention, im.block_out.data(), im.x.data(), n, H);

      for (size_t i = 0; i < n; ++i)
        model::rms_norm(im.x.data() + i * H, b.post_attention_norm.data(), H, c.rms_eps, im.h.data() + i * H);
      model::route(backend, im.ws, c, b.router, n, im.h.data(), im.router_state.data(), im.routes, im.router);
      skips += model::run_experts(backend, im.ws, c, b, model_->options().skip, n, im.h.data(), im.routes,
                                  im.block_out.data(), im.experts);
      weight_bytes += model::block_weight_bytes(b, im.routes);
      model::residual_merge(b.post_mlp, im.block_out.data(), im.x.data(), n, H);

      if (cancel_requested_.exchange(false, std::memory_order_relaxed))
        fail(ErrorCode::cancelled, "decode cancelled after block {} of {}", l + 1, w.blocks.size());
    }

    // Final norm and the (tied) LM head, only for the rows that asked for logits.
    im.normed_for_head.resize(std::max<size_t>(logits_rows, 1) * H);
    size_t k = 0;
    for (size_t i = 0; i < n; ++i)
      if (plan.rows[i].logits)
        model::rms_norm(im.x.data() + i * H, w.final_norm.data(), H, c.rms_eps, im.normed_for_head.data() + (k++) * H);
    im.logits.resize(std::max<size_t>(logits_rows, 1) * V);
    if (logits_rows) {
      if (w.head_shortlist.k > 0) {
        weight_bytes += model::shortlist_logits(backend, im.ws, w.head_shortlist, w.lm_head, im.normed_for_head.data(),
                                                logits_rows, im.logits.data(), im.shortlist);
      } else {
        backend.matmul(im.ws, w.lm_head, im.normed_for_head.data(), H, logits_rows, im.logits.data(), V);
        weight_bytes += w.lm_head.bytes();
      }
    }
  } catch (...) {
    for (size_t k = 0; k < plan.sequences.size(); ++k) {
      SequenceState& s = *plan.sequences[k].state;
      for (size_t l = 0; l < s.layers.size(); ++l) {
        s.layers[l].conv.swap(saved[k].conv[l]);
        s.layers[l].vdel.swap(saved[k].vdel[l]);
      }
      // Ring rows of the would-be positions were overwritten: older positions are gone.
      s.history_begin = std::max(s.history_begin, s.length + static_cast<int64_t>(plan.sequences[k].rows.size()) - options_.truncate_window);
    }
    logits_rows_ = 0;
    try {
      throw;
    } catch (const std::bad_alloc&) {
      fail(ErrorCode::out_of_memory, "decode: out of memory");
    }
  }

  for (auto& bs : plan.sequences) {
    bs.state->length += static_cast<int64_t>(bs.rows.size());
    bs.state->history_begin = std::max(bs.state->history_begin, bs.state->length - options_.truncate_window);
  }
  logits_rows_ = logits_rows;
  skip_count_ += skips;
  last_weight_bytes_ = weight_bytes;
}

}  // namespace zaya
