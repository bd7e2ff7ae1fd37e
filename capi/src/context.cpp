// capi/src/context.cpp - contexts: sequences, decode / prefill, logits, state save / restore,
// cancel; and samplers.
#include "internal.h"

using namespace zaya;
using namespace zaya::capi;

namespace {

zaya_context_params default_context_params() noexcept {
  zaya_context_params p;
  std::memset(&p, 0, sizeof p);
  const ContextOptions defaults;
  p.struct_size = sizeof p;
  p.max_sequences = defaults.max_sequences;
  p.threads = defaults.threads;
  p.max_context = defaults.max_context;
  p.truncate_window = defaults.truncate_window;
  p.kv_cache_type = ZAYA_KV_F32;
  return p;
}

constexpr size_t kPrefillChunk = 512;
constexpr int32_t kMaxSequences = 65535;

ContextState& context_state(zaya_context* context) { return *handle(context).state; }

}  // namespace

extern "C" {

ZAYA_API zaya_status zaya_context_params_init(zaya_context_params* params, size_t struct_size) {
  return guard("zaya_context_params_init", [&] {
    init_struct(params, struct_size, default_context_params(), kContextParamsV1, "zaya_context_params");
  });
}

ZAYA_API zaya_status zaya_context_new(const zaya_model* model, const zaya_context_params* params,
                                      zaya_context** out_context) {
  return guard("zaya_context_new", [&] {
    const auto& m = handle(model).state;
    require_out(out_context, "out_context");
    *out_context = nullptr;
    const zaya_context_params p = read_struct(params, default_context_params(), kContextParamsV1, "zaya_context_params");
    if (p.max_sequences < 1 || p.max_sequences > kMaxSequences)
      c_fail(ZAYA_ERR_INVALID_ARGUMENT, "max_sequences = {} (must be 1..{})", p.max_sequences, kMaxSequences);
    if (p.truncate_window < 0)
      c_fail(ZAYA_ERR_INVALID_ARGUMENT, "truncate_window = {} (must be >= 0)", p.truncate_window);
    if (p.kv_cache_type != ZAYA_KV_F32 && p.kv_cache_type != ZAYA_KV_F16)
      c_fail(ZAYA_ERR_INVALID_ARGUMENT, "kv_cache_type = {} (ZAYA_KV_F32 or ZAYA_KV_F16)", p.kv_cache_type);
    ContextOptions options;
    options.max_sequences = p.max_sequences;
    options.max_context = p.max_context;
    options.threads = p.threads;
    options.truncate_window = p.truncate_window;
    options.kv_cache_type = p.kv_cache_type == ZAYA_KV_F16 ? DType::f16 : DType::f32;

    auto state = std::make_shared<ContextState>();
    state->model = m;
    state->context = std::make_unique<Context>(m->model, options);
    state->max_sequences = p.max_sequences;
    state->versions.assign(static_cast<size_t>(p.max_sequences), 0);
    logf(ZAYA_LOG_INFO, "context: {} sequences of up to {} tokens, {} threads", p.max_sequences,
         state->context->options().max_context, p.threads);
    auto* h = new zaya_context;
    h->state = std::move(state);
    *out_context = h;
  });
}

ZAYA_API void zaya_context_free(zaya_context* context) { free_handle(context); }

ZAYA_API zaya_status zaya_context_get_limits(zaya_context* context, int32_t* max_sequences, int64_t* max_context,
                                             int32_t* threads) {
  return guard("zaya_context_get_limits", [&] {
    ContextState& s = context_state(context);
    if (max_sequences) *max_sequences = s.max_sequences;
    if (max_context) *max_context = s.context->options().max_context;
    if (threads) *threads = s.context->options().threads;
  });
}

ZAYA_API void zaya_context_cancel(zaya_context* context) {
  guard_void("zaya_context_cancel", [&] {
    if (!context || context->magic != zaya_context::kMagic) {
      logf(ZAYA_LOG_WARN, "zaya_context_cancel: invalid handle ignored");
      return;
    }
    cancel_context(*context->state);
  });
}

ZAYA_API zaya_status zaya_decode(zaya_context* context, const zaya_batch_token* batch, size_t count) {
  return guard("zaya_decode", [&] {
    ContextState& s = context_state(context);
    require_array(batch, count, kMaxTokens, "batch");
    if (count == 0) c_fail(ZAYA_ERR_INVALID_ARGUMENT, "empty batch");
    std::vector<BatchToken> tokens(count);
    for (size_t i = 0; i < count; ++i) {
      s.check_sequence(batch[i].sequence);
      tokens[i] = BatchToken{batch[i].sequence, batch[i].token, batch[i].logits != 0};
    }
    ContextLease lease(s);
    s.context->decode(tokens);
    for (const auto& t : tokens) s.touch(t.sequence);
  });
}

ZAYA_API zaya_status zaya_prefill(zaya_context* context, int32_t sequence, const int32_t* tokens, size_t count) {
  return guard("zaya_prefill", [&] {
    ContextState& s = context_state(context);
    require_array(tokens, count, kMaxTokens, "tokens");
    if (count == 0) c_fail(ZAYA_ERR_INVALID_ARGUMENT, "no tokens to prefill");
    s.check_sequence(sequence);
    ContextLease lease(s);
    Context& ctx = *s.context;
    const int64_t before = ctx.length(sequence);
    if (before + static_cast<int64_t>(count) > ctx.options().max_context)
      c_fail(ZAYA_ERR_LIMIT_EXCEEDED, "prefill: {} tokens do not fit the context of {} (sequence {} holds {})", count,
             ctx.options().max_context, sequence, before);
    std::vector<BatchToken> chunk;
    try {
      for (size_t start = 0; start < count; start += kPrefillChunk) {
        const size_t end = std::min(count, start + kPrefillChunk);
        chunk.clear();
        for (size_t i = start; i < end; ++i) chunk.push_back(BatchToken{sequence, tokens[i], i + 1 == count});
        ctx.decode(chunk);
        s.touch(sequence);
      }
    } catch (...) {
      // Undo the chunks that completed: exact when the sequence was empty or the added part is
      // within the truncate window; otherwise the completed chunks stay (documented).
      const int64_t now = ctx.length(sequence);
      if (now != before) {
        try {
          if (before == 0) ctx.clear(sequence);
          else ctx.truncate(sequence, before);
        } catch (...) {
        }
      }
      throw;
    }
  });
}

ZAYA_API zaya_status zaya_logits_rows(zaya_context* context, size_t* out_rows) {
  return guard("zaya_logits_rows", [&] {
    ContextState& s = context_state(context);
    require_out(out_rows, "out_rows");
    ContextLease lease(s);
    *out_rows = s.context->logits_rows();
  });
}

ZAYA_API zaya_status zaya_logits(zaya_context* context, size_t row, const float** out_logits, size_t* out_vocab) {
  return guard("zaya_logits", [&] {
    ContextState& s = context_state(context);
    require_out(out_logits, "out_logits");
    ContextLease lease(s);
    const std::span<const float> logits = s.context->logits(row);
    *out_logits = logits.data();
    if (out_vocab) *out_vocab = logits.size();
  });
}

ZAYA_API zaya_status zaya_sequence_length(zaya_context* context, int32_t sequence, int64_t* out_length) {
  return guard("zaya_sequence_length", [&] {
    ContextState& s = context_state(context);
    require_out(out_length, "out_length");
    s.check_sequence(sequence);
    ContextLease lease(s);
    *out_length = s.context->length(sequence);
  });
}

ZAYA_API zaya_status zaya_sequence_clear(zaya_context* context, int32_t sequence) {
  return guard("zaya_sequence_clear", [&] {
    ContextState& s = context_state(context);
    s.check_sequence(sequence);
    ContextLease lease(s);
    s.context->clear(sequence);
    s.touch(sequence);
  });
}

ZAYA_API zaya_status zaya_sequence_fork(zaya_context* context, int32_t source, int32_t target) {
  return guard("zaya_sequence_fork", [&] {
    ContextState& s = context_state(context);
    s.check_sequence(source);
    s.check_sequence(target);
    ContextLease lease(s);
    s.context->fork(source, target);
    if (source != target) s.touch(target);
  });
}

ZAYA_API zaya_status zaya_sequence_truncate(zaya_context* context, int32_t sequence, int64_t length) {
  return guard("zaya_sequence_truncate", [&] {
    ContextState& s = context_state(context);
    s.check_sequence(sequence);
    ContextLease lease(s);
    const int64_t before = s.context->length(sequence);
    s.context->truncate(sequence, length);
    if (length != before) s.touch(sequence);
  });
}

ZAYA_API zaya_status zaya_sequence_save(zaya_context* context, int32_t sequence, void* buffer, size_t capacity,
                                        size_t* out_size) {
  return guard("zaya_sequence_save", [&] {
    ContextState& s = context_state(context);
    s.check_sequence(sequence);
    if (capacity && !buffer) c_fail(ZAYA_ERR_INVALID_ARGUMENT, "buffer is NULL but its capacity is {}", capacity);
    ContextLease lease(s);
    const uint64_t version = s.versions[static_cast<size_t>(sequence)];
    if (s.saved_sequence != sequence || s.saved_version != version) {
      s.saved_sequence = -1;
      s.saved.clear();
      s.saved.shrink_to_fit();
      s.saved = s.context->save_state(sequence);
      s.saved_sequence = sequence;
      s.saved_version = version;
    }
    if (out_size) *out_size = s.saved.size();
    if (capacity < s.saved.size())
      c_fail(ZAYA_ERR_BUFFER_TOO_SMALL, "the state needs {} bytes, the buffer holds {}", s.saved.size(), capacity);
    std::memcpy(buffer, s.saved.data(), s.saved.size());
    // Written out: drop the cached copy (states can be large).
    s.saved_sequence = -1;
    std::vector<uint8_t>().swap(s.saved);
  });
}

ZAYA_API zaya_status zaya_sequence_load(zaya_context* context, int32_t sequence, const void* buffer, size_t size) {
  return guard("zaya_sequence_load", [&] {
    ContextState& s = context_state(context);
    s.check_sequence(sequence);
    if (!buffer) c_fail(ZAYA_ERR_INVALID_ARGUMENT, "buffer is NULL");
    ContextLease lease(s);
    s.context->load_state(sequence, std::span<const uint8_t>(static_cast<const uint8_t*>(buffer), size));
    s.touch(sequence);
  });
}

// ---- samplers --------------------------------------------------------------------------------------

ZAYA_API zaya_status zaya_sampling_params_init(zaya_sampling_params* params, size_t struct_size) {
  return guard("zaya_sampling_params_init", [&] {
    init_struct(params, struct_size, default_sampling_params(), kSamplingParamsV1, "zaya_sampling_params");
  });
}

ZAYA_API zaya_status zaya_sampling_params_init_greedy(zaya_sampling_params* params, size_t struct_size) {
  return guard("zaya_sampling_params_init_greedy", [&] {
    zaya_sampling_params p = default_sampling_params();
    const SamplingParams greedy = SamplingParams::greedy_defaults();
    p.temperature = greedy.temperature;
    p.greedy = greedy.greedy ? 1 : 0;
    p.top_k = greedy.top_k;
    init_struct(params, struct_size, p, kSamplingParamsV1, "zaya_sampling_params");
  });
}

ZAYA_API zaya_status zaya_sampler_new(const zaya_sampling_params* params, zaya_sampler** out_sampler) {
  return guard("zaya_sampler_new", [&] {
    require_out(out_sampler, "out_sampler");
    *out_sampler = nullptr;
    const zaya_sampling_params p =
        read_struct(params, default_sampling_params(), kSamplingParamsV1, "zaya_sampling_params");
    auto h = std::make_unique<zaya_sampler>();
    h->sampler.emplace(to_sampling(p));
    *out_sampler = h.release();
  });
}

ZAYA_API void zaya_sampler_free(zaya_sampler* sampler) { free_handle(sampler); }

ZAYA_API zaya_status zaya_sampler_sample(zaya_sampler* sampler, const float* logits, size_t n_logits,
                                         const int32_t* history, size_t n_history, uint64_t step,
                                         size_t allowed_vocab, int32_t* out_token, float* out_probability) {
  return guard("zaya_sampler_sample", [&] {
    zaya_sampler& h = handle(sampler);
    BusyLease lease(h.busy, "zaya_sampler");
    require_array(logits, n_logits, kMaxTokens, "logits");
    require_array(history, n_history, kMaxTokens, "history");
    require_out(out_token, "out_token");
    if (n_logits == 0) c_fail(ZAYA_ERR_INVALID_ARGUMENT, "no logits");
    if (allowed_vocab == 0) allowed_vocab = n_logits;
    if (allowed_vocab > n_logits)
      c_fail(ZAYA_ERR_INVALID_ARGUMENT, "allowed_vocab = {} exceeds the {} logits", allowed_vocab, n_logits);
    for (size_t i = 0; i < n_history; ++i)
      if (history[i] < 0 || static_cast<size_t>(history[i]) >= n_logits)
        c_fail(ZAYA_ERR_OUT_OF_RANGE, "history[{}] = {} outside [0, {})", i, history[i], n_logits);
    const SampledToken t = h.sampler->sample(std::span<const float>(logits, n_logits),
                                             std::span<const int32_t>(history, n_history), step, allowed_vocab);
    *out_token = t.token;
    if (out_probability) *out_probability = t.probability;
  });
}

}  // extern "C"
