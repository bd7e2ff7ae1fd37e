// tests/capi/capi_test_support.h - helpers for the C ABI tests (test_capi*.cpp): RAII owners
// for handles, the tiny model + tiny chat tokenizer, and small wrappers that CHECK statuses.
#pragma once

#include <zaya.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace capi_test {

inline std::filesystem::path data_dir() { return ZAYA_TEST_DATA_DIR; }
inline std::string tiny_model_dir() { return (data_dir() / "checkpoints" / "tiny-a" / "native-f32").string(); }
inline std::string tiny_tokenizer_dir() { return (data_dir() / "tiny-chat").string(); }

struct Deleter {
  void operator()(zaya_model* p) const { zaya_model_free(p); }
  void operator()(zaya_context* p) const { zaya_context_free(p); }
  void operator()(zaya_tokenizer* p) const { zaya_tokenizer_free(p); }
  void operator()(zaya_sampler* p) const { zaya_sampler_free(p); }
  void operator()(zaya_stream* p) const { zaya_stream_free(p); }
  void operator()(zaya_detokenizer* p) const { zaya_detokenizer_free(p); }
  void operator()(zaya_chat_template* p) const { zaya_chat_template_free(p); }
  void operator()(zaya_rsa* p) const { zaya_rsa_free(p); }
};
template <typename T>
using Owned = std::unique_ptr<T, Deleter>;

// Checks a status and shows the library's message when it is not what was expected.
#define ZCHECK_STATUS(call, expected)                                           \
  do {                                                                          \
    const zaya_status zaya_check_status_ = (call);                              \
    INFO("status " << std::string(zaya_status_name(zaya_check_status_)) << ": " << std::string(zaya_last_error())); \
    CHECK(zaya_check_status_ == (expected));                                    \
  } while (0)
#define ZREQUIRE_OK(call)                                                       \
  do {                                                                          \
    const zaya_status zaya_check_status_ = (call);                              \
    INFO("status " << std::string(zaya_status_name(zaya_check_status_)) << ": " << std::string(zaya_last_error())); \
    REQUIRE(zaya_check_status_ == ZAYA_OK);                                     \
  } while (0)

// The tiny model with the tiny chat tokenizer (loaded once per process).
inline zaya_model* tiny_model() {
  static Owned<zaya_model> model = [] {
    zaya_model_params p = zaya_model_params_default();
    p.backend = "cpu";
    const std::string tok = tiny_tokenizer_dir();
    p.tokenizer_path = tok.c_str();
    zaya_model* m = nullptr;
    if (zaya_model_load(tiny_model_dir().c_str(), &p, &m) != ZAYA_OK) FAIL("tiny model: " << zaya_last_error());
    return Owned<zaya_model>(m);
  }();
  return model.get();
}

inline Owned<zaya_context> make_context(zaya_model* model, int32_t sequences = 1, int64_t max_context = 256,
                                        int32_t threads = 1, int64_t truncate_window = 64) {
  zaya_context_params p = zaya_context_params_default();
  p.max_sequences = sequences;
  p.max_context = max_context;
  p.threads = threads;
  p.truncate_window = truncate_window;
  zaya_context* ctx = nullptr;
  ZREQUIRE_OK(zaya_context_new(model, &p, &ctx));
  return Owned<zaya_context>(ctx);
}

inline Owned<zaya_tokenizer> model_tokenizer(zaya_model* model) {
  zaya_tokenizer* t = nullptr;
  ZREQUIRE_OK(zaya_model_get_tokenizer(model, &t));
  REQUIRE(t != nullptr);
  return Owned<zaya_tokenizer>(t);
}

inline std::vector<int32_t> tokenize(const zaya_tokenizer* t, const std::string& text, bool special = false) {
  size_t n = 0;
  const zaya_status first = zaya_tokenize(t, text.data(), text.size(), special, nullptr, 0, &n);
  REQUIRE((first == ZAYA_ERR_BUFFER_TOO_SMALL || (first == ZAYA_OK && n == 0)));
  std::vector<int32_t> ids(n);
  ZREQUIRE_OK(zaya_tokenize(t, text.data(), text.size(), special, ids.data(), ids.size(), &n));
  return ids;
}

inline std::vector<float> logits_row(zaya_context* ctx, size_t row) {
  const float* p = nullptr;
  size_t n = 0;
  ZREQUIRE_OK(zaya_logits(ctx, row, &p, &n));
  return std::vector<float>(p, p + n);
}

inline int64_t length(zaya_context* ctx, int32_t seq) {
  int64_t n = -1;
  ZREQUIRE_OK(zaya_sequence_length(ctx, seq, &n));
  return n;
}

// Collects the events of zaya_generate.
struct Collected {
  std::vector<std::vector<int32_t>> tokens;
  std::vector<std::string> text;
  std::vector<int32_t> finish;
  int stop_after = -1;  // return ZAYA_STOP at this event count (any request)
  int events = 0;

  explicit Collected(size_t requests = 1) : tokens(requests), text(requests), finish(requests, ZAYA_FINISH_NONE) {}

  static int32_t callback(const zaya_token_event* e, void* user) {
    auto* c = static_cast<Collected*>(user);
    REQUIRE(e->request < c->tokens.size());
    if (e->token >= 0) c->tokens[e->request].push_back(e->token);
    CHECK(e->text[e->text_length] == '\0');
    c->text[e->request].append(e->text, e->text_length);
    if (e->finish != ZAYA_FINISH_NONE) {
      CHECK(c->finish[e->request] == ZAYA_FINISH_NONE);  // one final event per request
      c->finish[e->request] = e->finish;
    }
    ++c->events;
    return (c->stop_after >= 0 && c->events >= c->stop_after) ? ZAYA_STOP : ZAYA_CONTINUE;
  }
};

inline zaya_request token_request(int32_t seq, const std::vector<int32_t>& prompt, int64_t max_tokens,
                                  const zaya_sampling_params* sampling = nullptr) {
  zaya_request r = zaya_request_default();
  r.sequence = seq;
  r.prompt_tokens = prompt.data();
  r.n_prompt_tokens = prompt.size();
  r.max_tokens = max_tokens;
  r.sampling = sampling;
  r.stop_at_eos = 0;
  return r;
}

inline zaya_sampling_params seeded(uint64_t seed) {
  zaya_sampling_params s = zaya_sampling_params_default();
  s.seed = seed;
  return s;
}

}  // namespace capi_test
