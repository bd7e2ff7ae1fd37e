// capi/src/generate.cpp - generation: batched with a token callback (zaya_generate, over
// zaya::Generator) and pull-style on one sequence (zaya_stream, the same loop one token per call).
#include "internal.h"

using namespace zaya;
using namespace zaya::capi;

struct zaya_stream {
  static constexpr uint64_t kMagic = ZAYA_HANDLE_MAGIC('S', 'T', 'R', 'M');
  static constexpr const char* kName = "zaya_stream";
  uint64_t magic = kMagic;
  std::atomic<bool> busy{false};
  std::shared_ptr<ContextState> context;
  uint64_t epoch = 0;    // the context's cancel epoch when the stream began
  uint64_t version = 0;  // the sequence's version after the stream's last change

  GenerationRequest request;
  std::optional<Sampler> sampler;
  std::optional<StopConditions> stops;
  std::optional<StreamingDecoder> decoder;
  size_t allowed_vocab = 0;
  std::vector<int32_t> history;  // prompt + generated, for the penalties
  std::vector<int32_t> tokens;   // generated
  std::vector<float> logits;     // for the next draw
  bool prefilled = false;
  int32_t pending = -1;          // sampled, not yet decoded
  int32_t finish = ZAYA_FINISH_NONE;
  bool failed = false;
  std::string text;              // the last event's text
};

namespace {

zaya_request default_request() noexcept {
  zaya_request r;
  std::memset(&r, 0, sizeof r);
  const GenerationConfig defaults;
  r.struct_size = sizeof r;
  r.sequence = 0;
  r.add_special_tokens = 0;
  r.max_tokens = defaults.max_tokens;
  r.stop_at_eos = defaults.stop_at_eos ? 1 : 0;
  return r;
}

zaya_result default_result() noexcept {
  zaya_result r;
  std::memset(&r, 0, sizeof r);
  r.struct_size = sizeof r;
  return r;
}

// The C request as a GenerationRequest: arguments checked, text prompts encoded.
GenerationRequest convert(const ContextState& s, const zaya_request& r) {
  s.check_sequence(r.sequence);
  GenerationRequest out;
  out.sequence = r.sequence;
  require_array(r.prompt_tokens, r.n_prompt_tokens, kMaxTokens, "request.prompt_tokens");
  if (r.prompt_text && r.n_prompt_tokens)
    c_fail(ZAYA_ERR_INVALID_ARGUMENT, "request: give prompt_tokens or prompt_text, not both");
  if (r.prompt_text) {
    const std::string_view text = text_arg(r.prompt_text, r.prompt_text_length, "request.prompt_text");
    if (!s.model->tokenizer) c_fail(ZAYA_ERR_INVALID_ARGUMENT, "request: prompt_text needs a model with a tokenizer");
    out.prompt = s.model->tokenizer->encode(text, r.add_special_tokens != 0);
  } else {
    out.prompt.assign(r.prompt_tokens, r.prompt_tokens + r.n_prompt_tokens);
  }
  require_array(r.start_logits, r.n_start_logits, kMaxTokens, "request.start_logits");
  if (r.n_start_logits)
    out.start_logits = std::make_shared<const std::vector<float>>(r.start_logits, r.start_logits + r.n_start_logits);
  out.config.max_tokens = r.max_tokens;
  out.config.sampling =
      to_sampling(read_struct(r.sampling, default_sampling_params(), kSamplingParamsV1, "zaya_sampling_params"));
  out.config.stop_at_eos = r.stop_at_eos != 0;
  require_array(r.stop_tokens, r.n_stop_tokens, kMaxListEntries, "request.stop_tokens");
  out.config.stop_tokens.assign(r.stop_tokens, r.stop_tokens + r.n_stop_tokens);
  require_array(r.stop_strings, r.n_stop_strings, kMaxListEntries, "request.stop_strings");
  for (size_t i = 0; i < r.n_stop_strings; ++i) {
    const std::string_view stop = cstring_arg(r.stop_strings[i], "request.stop_strings[i]");
    out.config.stop_strings.emplace_back(text_arg(stop.data(), stop.size(), "request.stop_strings[i]"));
  }
  return out;
}

// Element i of a caller array whose stride is its first element's struct_size.
template <typename T>
T* element(T* base, size_t stride, size_t i) {
  using Byte = std::conditional_t<std::is_const_v<T>, const unsigned char, unsigned char>;
  return reinterpret_cast<T*>(reinterpret_cast<Byte*>(base) + i * stride);
}

template <typename T>
size_t array_stride(const T* base, size_t v1_size, const char* name) {
  const size_t stride = base->struct_size;
  if (stride < v1_size || stride > kMaxStructBytes || stride % alignof(T) != 0)
    c_fail(ZAYA_ERR_INVALID_ARGUMENT, "{}[0].struct_size = {} (initialise with {}_default())", name, stride, name);
  return stride;
}

void fill_event(zaya_token_event& ev, size_t request, int32_t token, int32_t finish, const std::string& text) {
  std::memset(&ev, 0, sizeof ev);
  ev.struct_size = sizeof ev;
  ev.request = request;
  ev.token = token;
  ev.finish = finish;
  ev.text = text.c_str();
  ev.text_length = text.size();
}

}  // namespace

extern "C" {

ZAYA_API const char* zaya_finish_reason_name(int32_t finish) {
  if (finish < ZAYA_FINISH_NONE || finish > ZAYA_FINISH_CANCELLED) return "unknown";
  return finish_reason_name(static_cast<FinishReason>(finish));
}

ZAYA_API zaya_status zaya_request_init(zaya_request* request, size_t struct_size) {
  return guard("zaya_request_init",
               [&] { init_struct(request, struct_size, default_request(), kRequestV1, "zaya_request"); });
}

ZAYA_API zaya_status zaya_result_init(zaya_result* result, size_t struct_size) {
  return guard("zaya_result_init",
               [&] { init_struct(result, struct_size, default_result(), kResultV1, "zaya_result"); });
}

ZAYA_API zaya_status zaya_generate(zaya_context* context, const zaya_request* requests, size_t n_requests,
                                   zaya_token_fn on_token, void* user_data, zaya_result* results) {
  return guard("zaya_generate", [&] {
    ContextState& s = *handle(context).state;
    if (n_requests > static_cast<size_t>(s.max_sequences))
      c_fail(ZAYA_ERR_INVALID_ARGUMENT, "{} requests for a context of {} sequences (one request per sequence)",
             n_requests, s.max_sequences);
    require_array(requests, n_requests, static_cast<size_t>(s.max_sequences), "requests");
    if (n_requests == 0) return;
    const size_t stride = array_stride(requests, kRequestV1, "zaya_request");
    const size_t result_stride = results ? array_stride(results, kResultV1, "zaya_result") : 0;

    ContextLease lease(s);
    std::vector<GenerationRequest> converted;
    for (size_t i = 0; i < n_requests; ++i) {
      const zaya_request* r = element(requests, stride, i);
      if (r->struct_size != stride)
        c_fail(ZAYA_ERR_INVALID_ARGUMENT, "requests[{}].struct_size = {} differs from requests[0]'s {}", i,
               r->struct_size, stride);
      converted.push_back(convert(s, read_struct(r, default_request(), kRequestV1, "zaya_request")));
    }
    std::vector<int32_t> sequences;
    for (const auto& r : converted) sequences.push_back(r.sequence);

    Generator generator(*s.context, s.model->tokenizer.get());
    const uint64_t epoch = lease.epoch();
    std::string piece;
    auto callback = [&](const TokenEvent& e) -> bool {
      int32_t verdict = ZAYA_CONTINUE;
      if (on_token) {
        piece.assign(e.text);
        zaya_token_event ev;
        fill_event(ev, e.index, e.token, static_cast<int32_t>(e.finish), piece);
        verdict = on_token(&ev, user_data);
      }
      return verdict == ZAYA_CONTINUE && !lease.cancelled_since(epoch);
    };
    std::vector<GenerationResult> out;
    try {
      out = generator.run(std::move(converted), callback);
    } catch (...) {
      for (int32_t seq : sequences) s.touch(seq);
      throw;
    }
    for (int32_t seq : sequences) s.touch(seq);
    if (results) {
      for (size_t i = 0; i < out.size(); ++i) {
        zaya_result r = default_result();
        r.finish = static_cast<int32_t>(out[i].finish);
        r.prompt_tokens = out[i].prompt_tokens;
        r.generated_tokens = static_cast<int64_t>(out[i].tokens.size());
        zaya_result* dst = element(results, result_stride, i);
        dst->struct_size = result_stride;
        write_struct(dst, r, kResultV1, "zaya_result");
      }
    }
  });
}

// ---- pull-style streams --------------------------------------------------------------------------

ZAYA_API zaya_status zaya_stream_new(zaya_context* context, const zaya_request* request, zaya_stream** out_stream) {
  return guard("zaya_stream_new", [&] {
    const std::shared_ptr<ContextState>& state = handle(context).state;
    ContextState& s = *state;
    require_out(request, "request");
    require_out(out_stream, "out_stream");
    *out_stream = nullptr;
    ContextLease lease(s);
    auto st = std::make_unique<zaya_stream>();
    st->context = state;
    st->epoch = lease.epoch();
    st->request = convert(s, read_struct(request, default_request(), kRequestV1, "zaya_request"));

    // The same validation and setup as Generator::run.
    const Context& ctx = *s.context;
    const Tokenizer* tokenizer = s.model->tokenizer.get();
    const GenerationRequest& r = st->request;
    const int64_t vocab = ctx.vocab_size();
    if (r.config.max_tokens < 0) c_fail(ZAYA_ERR_INVALID_ARGUMENT, "request: max_tokens must be >= 0");
    if (r.prompt.empty() == !r.start_logits)
      c_fail(ZAYA_ERR_INVALID_ARGUMENT, "request: needs either prompt tokens or start_logits (not both)");
    if (r.start_logits && r.start_logits->size() != static_cast<size_t>(vocab))
      c_fail(ZAYA_ERR_INVALID_ARGUMENT, "request: start_logits has {} entries, the vocabulary {}",
             r.start_logits->size(), vocab);
    if (r.start_logits && ctx.length(r.sequence) == 0)
      c_fail(ZAYA_ERR_INVALID_ARGUMENT, "request: start_logits given but sequence {} is empty", r.sequence);
    for (int32_t id : r.prompt)
      if (id < 0 || id >= vocab) c_fail(ZAYA_ERR_OUT_OF_RANGE, "request: prompt token {} outside [0, {})", id, vocab);
    if (ctx.length(r.sequence) + static_cast<int64_t>(r.prompt.size()) > ctx.options().max_context)
      c_fail(ZAYA_ERR_LIMIT_EXCEEDED, "request: prompt of {} tokens does not fit the context of {} (sequence {} holds {})",
             r.prompt.size(), ctx.options().max_context, r.sequence, ctx.length(r.sequence));
    if (!r.config.stop_strings.empty() && !tokenizer)
      c_fail(ZAYA_ERR_INVALID_ARGUMENT, "request: stop strings need a tokenizer");
    r.config.sampling.validate(static_cast<size_t>(vocab));

    st->allowed_vocab = tokenizer ? std::min<size_t>(tokenizer->vocab_size(), static_cast<size_t>(vocab))
                                  : static_cast<size_t>(vocab);
    std::vector<int32_t> stop_ids = r.config.stop_tokens;
    if (r.config.stop_at_eos) {
      for (int64_t id : ctx.model().config().eos_ids) stop_ids.push_back(static_cast<int32_t>(id));
      if (tokenizer && tokenizer->eos_token() && tokenizer->eos_token()->id)
        stop_ids.push_back(*tokenizer->eos_token()->id);
    }
    st->sampler.emplace(r.config.sampling);
    st->stops.emplace(stop_ids, r.config.stop_strings);
    if (tokenizer) st->decoder.emplace(*tokenizer);
    st->history = r.prompt;
    if (r.start_logits) {
      st->logits = *r.start_logits;
      st->prefilled = true;
    }
    st->version = s.versions[static_cast<size_t>(r.sequence)];
    *out_stream = st.release();
  });
}

ZAYA_API void zaya_stream_free(zaya_stream* stream) { free_handle(stream); }

ZAYA_API zaya_status zaya_stream_next(zaya_stream* stream, zaya_token_event* event) {
  return guard("zaya_stream_next", [&] {
    zaya_stream& st = handle(stream);
    BusyLease busy(st.busy, "zaya_stream");
    require_out(event, "event");
    if (event->struct_size < kTokenEventV1 || event->struct_size > kMaxStructBytes)
      c_fail(ZAYA_ERR_INVALID_ARGUMENT, "event->struct_size = {} (set it to sizeof(zaya_token_event))",
             event->struct_size);
    auto emit = [&](int32_t token, int32_t finish) {
      zaya_token_event ev;
      fill_event(ev, 0, token, finish, st.text);
      write_struct(event, ev, kTokenEventV1, "zaya_token_event");
    };
    if (st.finish != ZAYA_FINISH_NONE) {
      st.text.clear();
      emit(-1, st.finish);
      return;
    }
    if (st.failed) c_fail(ZAYA_ERR_INVALID_ARGUMENT, "this stream ended with an error");

    ContextState& s = *st.context;
    ContextLease lease(s);
    Context& ctx = *s.context;
    const int32_t seq = st.request.sequence;
    if (s.versions[static_cast<size_t>(seq)] != st.version)
      c_fail(ZAYA_ERR_INVALID_ARGUMENT, "sequence {} was changed outside this stream", seq);

    // Ends the stream like Generator's finish(): releases held-back text.
    auto finish = [&](int32_t reason, int32_t token) {
      std::string tail;
      if (reason == ZAYA_FINISH_STOP_TOKEN) {
        tail = st.stops->feed(token, {}).text;
      } else {
        const std::string pending = st.decoder ? st.decoder->finish() : std::string();
        tail = st.stops->feed(-1, pending).text;
        if (!st.stops->stopped()) tail += st.stops->flush();
      }
      st.finish = reason;
      st.text = std::move(tail);
      emit(token, reason);
    };
    auto changed = [&] {
      s.touch(seq);
      st.version = s.versions[static_cast<size_t>(seq)];
    };
    auto run = [&](auto&& body) -> bool {  // false: cancelled
      try {
        body();
        return true;
      } catch (const Error& e) {
        changed();
        if (e.code() == ErrorCode::cancelled) return false;
        st.failed = true;
        throw;
      } catch (...) {
        changed();
        st.failed = true;
        throw;
      }
    };

    if (lease.cancelled_since(st.epoch)) return finish(ZAYA_FINISH_CANCELLED, -1);
    if (!st.prefilled) {
      const auto& prompt = st.request.prompt;
      const bool ok = run([&] {
        std::vector<BatchToken> chunk;
        for (size_t start = 0; start < prompt.size(); start += 512) {
          const size_t end = std::min(prompt.size(), start + 512);
          chunk.clear();
          for (size_t i = start; i < end; ++i) chunk.push_back(BatchToken{seq, prompt[i], i + 1 == prompt.size()});
          ctx.decode(chunk);
          changed();
        }
        const auto row = ctx.logits(0);
        st.logits.assign(row.begin(), row.end());
      });
      if (!ok) return finish(ZAYA_FINISH_CANCELLED, -1);
      st.prefilled = true;
    }
    if (static_cast<int64_t>(st.tokens.size()) >= st.request.config.max_tokens)
      return finish(ZAYA_FINISH_MAX_TOKENS, -1);
    if (st.pending >= 0) {
      if (ctx.length(seq) + 1 > ctx.options().max_context) return finish(ZAYA_FINISH_CONTEXT_FULL, -1);
      const BatchToken next{seq, st.pending, true};
      const bool ok = run([&] {
        ctx.decode(std::span<const BatchToken>(&next, 1));
        changed();
        const auto row = ctx.logits(0);
        st.logits.assign(row.begin(), row.end());
      });
      if (!ok) return finish(ZAYA_FINISH_CANCELLED, -1);
      st.pending = -1;
    }

    const int32_t token = st.sampler->sample(st.logits, st.history, st.tokens.size(), st.allowed_vocab).token;
    st.tokens.push_back(token);
    st.history.push_back(token);
    if (st.stops->is_stop_token(token)) return finish(ZAYA_FINISH_STOP_TOKEN, token);
    const std::string piece = st.decoder ? st.decoder->push(token) : std::string();
    StopCheck check = st.stops->feed(token, piece);
    st.text = std::move(check.text);
    if (check.reason == StopReason::stop_string) {
      st.finish = ZAYA_FINISH_STOP_STRING;
      return emit(token, ZAYA_FINISH_STOP_STRING);
    }
    st.pending = token;
    emit(token, ZAYA_FINISH_NONE);
  });
}

ZAYA_API zaya_status zaya_stream_tokens(zaya_stream* stream, int32_t* ids, size_t capacity, size_t* out_count) {
  return guard("zaya_stream_tokens", [&] {
    zaya_stream& st = handle(stream);
    BusyLease busy(st.busy, "zaya_stream");
    write_ids(st.tokens, ids, capacity, out_count);
  });
}

}  // extern "C"
