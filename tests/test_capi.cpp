// The C ABI (capi/zaya.h) through the shared library: versions and struct-size rules, errors as
// values (NULL, bad handles, bad UTF-8, out-of-range ids, absurd sizes), the buffer rule,
// tokenizer and chat template, decode parity with the C++ API, state save/restore, sampling,
// generation (batched, streamed, pull-style) and its stop/cancel paths. Threads: test_capi_threads.
#include "capi/capi_test_support.h"
#include "test_support.h"

#include <zaya/context.h>
#include <zaya/error.h>
#include <zaya/model.h>
#include <zaya/safetensors.h>
#include <zaya/synth.h>
#include <zaya/value.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <algorithm>

using namespace capi_test;

namespace {

std::vector<int32_t> golden(const char* name) {
  zaya::SafetensorsFile f(zaya::test::checkpoint("native-f32") / "golden.safetensors");
  return zaya::test::read_tensor<int32_t>(f, name);
}

}  // namespace

// ---- versions, structs, errors -------------------------------------------------------------------

TEST_CASE("versions and status names") {
  CHECK(zaya_abi_compatible());
  CHECK(std::string(zaya_version()) == ZAYA_VERSION_STRING);
  CHECK(zaya_version_number() == ZAYA_VERSION_NUMBER);
  CHECK(zaya_abi_version() == ZAYA_ABI_VERSION);
  CHECK(std::string(zaya_status_name(ZAYA_OK)) == "ok");
  CHECK(std::string(zaya_status_name(ZAYA_ERR_IO)) == "I/O error");
  CHECK(std::string(zaya_status_name(ZAYA_ERR_BUFFER_TOO_SMALL)) == "buffer too small");
  CHECK(std::string(zaya_status_name(12345)) == "unknown status");
  CHECK(std::string(zaya_finish_reason_name(ZAYA_FINISH_STOP_STRING)) == "stop_string");
  CHECK(std::string(zaya_finish_reason_name(99)) == "unknown");
  // Codes mirror zaya::ErrorCode one to one.
  CHECK(ZAYA_ERR_TEMPLATE == static_cast<int>(zaya::ErrorCode::template_error));
  CHECK(ZAYA_ERR_INTERNAL == static_cast<int>(zaya::ErrorCode::internal));
  CHECK(ZAYA_ERR_LIMIT_EXCEEDED == static_cast<int>(zaya::ErrorCode::limit_exceeded));
}

TEST_CASE("backends are listed with a status") {
  const size_t n = zaya_backend_count();
  REQUIRE(n >= 1);
  bool has_cpu = false;
  for (size_t i = 0; i < n; ++i) {
    const char* name = nullptr;
    const char* status = nullptr;
    ZREQUIRE_OK(zaya_backend_info(i, &name, &status));
    REQUIRE(name);
    REQUIRE(status);
    has_cpu = has_cpu || std::string(name) == "cpu";
  }
  CHECK(has_cpu);
  ZCHECK_STATUS(zaya_backend_info(n, nullptr, nullptr), ZAYA_ERR_OUT_OF_RANGE);
}

TEST_CASE("parameter structs: defaults, older and newer sizes, garbage sizes") {
  zaya_context_params p = zaya_context_params_default();
  CHECK(p.struct_size == sizeof p);
  CHECK(p.max_sequences == 1);
  CHECK(p.max_context == 4096);
  CHECK(p.truncate_window == 64);

  // A newer header's larger struct: accepted when the unknown tail is zero, refused otherwise.
  struct Newer {
    zaya_context_params base;
    int64_t future_field;
  } newer;
  ZREQUIRE_OK(zaya_context_params_init(&newer.base, sizeof newer));
  CHECK(newer.base.struct_size == sizeof newer);
  CHECK(newer.future_field == 0);
  newer.base.max_context = 64;
  newer.base.threads = 1;
  zaya_context* ctx = nullptr;
  ZCHECK_STATUS(zaya_context_new(tiny_model(), &newer.base, &ctx), ZAYA_OK);
  zaya_context_free(ctx);
  newer.future_field = 7;
  ctx = nullptr;
  ZCHECK_STATUS(zaya_context_new(tiny_model(), &newer.base, &ctx), ZAYA_ERR_UNSUPPORTED);
  CHECK(ctx == nullptr);
  CHECK(std::string(zaya_last_error()).find("does not know") != std::string::npos);

  // Smaller than the first released layout, zero (uninitialised), absurd.
  for (size_t bad : {size_t{0}, sizeof(size_t), offsetof(zaya_context_params, truncate_window), size_t{1} << 20}) {
    zaya_context_params q = zaya_context_params_default();
    q.struct_size = bad;
    ZCHECK_STATUS(zaya_context_new(tiny_model(), &q, &ctx), ZAYA_ERR_INVALID_ARGUMENT);
    ZCHECK_STATUS(zaya_context_params_init(&q, bad), ZAYA_ERR_INVALID_ARGUMENT);
  }
  ZCHECK_STATUS(zaya_context_params_init(nullptr, sizeof p), ZAYA_ERR_INVALID_ARGUMENT);

  // The 0.1.0 layout ended before kv_cache_type: a caller built against it gets the f32 cache.
  CHECK(p.kv_cache_type == ZAYA_KV_F32);
  zaya_context_params older = zaya_context_params_default();
  ZREQUIRE_OK(zaya_context_params_init(&older, offsetof(zaya_context_params, kv_cache_type)));
  older.max_context = 64;
  older.threads = 1;
  older.kv_cache_type = 12345;  // past the struct_size it passes: never read
  ZCHECK_STATUS(zaya_context_new(tiny_model(), &older, &ctx), ZAYA_OK);
  zaya_context_free(ctx);
  zaya_context_params half = zaya_context_params_default();
  half.max_context = 64;
  half.threads = 1;
  half.kv_cache_type = ZAYA_KV_F16;
  ZCHECK_STATUS(zaya_context_new(tiny_model(), &half, &ctx), ZAYA_OK);
  zaya_context_free(ctx);
  ctx = nullptr;
  half.kv_cache_type = 2;
  ZCHECK_STATUS(zaya_context_new(tiny_model(), &half, &ctx), ZAYA_ERR_INVALID_ARGUMENT);
  CHECK(ctx == nullptr);
  CHECK(std::string(zaya_last_error()).find("kv_cache_type") != std::string::npos);

  // Every init function fills its defaults.
  zaya_sampling_params s = zaya_sampling_params_default();
  CHECK(s.temperature == 1.0f);
  CHECK(s.top_p == 1.0f);
  CHECK(s.seed == 0x5a41594131ull);
  ZREQUIRE_OK(zaya_sampling_params_init_greedy(&s, sizeof s));
  CHECK(s.greedy == 1);
  zaya_request r = zaya_request_default();
  CHECK(r.max_tokens == 256);
  CHECK(r.stop_at_eos == 1);
  CHECK(r.sampling == nullptr);
  zaya_model_params m = zaya_model_params_default();
  CHECK(m.load_tokenizer == 1);
  CHECK(m.backend == nullptr);
  zaya_chat_params c = zaya_chat_params_default();
  CHECK(c.add_generation_prompt == 1);
  zaya_result res = zaya_result_default();
  CHECK(res.struct_size == sizeof res);
}

TEST_CASE("NULL pointers, bad handles and freed handles are errors, not crashes") {
  ZCHECK_STATUS(zaya_model_load(nullptr, nullptr, nullptr), ZAYA_ERR_INVALID_ARGUMENT);
  zaya_model* m = nullptr;
  ZCHECK_STATUS(zaya_model_load(nullptr, nullptr, &m), ZAYA_ERR_INVALID_ARGUMENT);
  CHECK(std::string(zaya_last_error()).find("directory") != std::string::npos);
  ZCHECK_STATUS(zaya_context_new(nullptr, nullptr, nullptr), ZAYA_ERR_INVALID_ARGUMENT);
  ZCHECK_STATUS(zaya_decode(nullptr, nullptr, 0), ZAYA_ERR_INVALID_ARGUMENT);
  ZCHECK_STATUS(zaya_tokenize(nullptr, "a", 1, 0, nullptr, 0, nullptr), ZAYA_ERR_INVALID_ARGUMENT);

  // A handle of another kind, cast: caught by the magic number.
  auto tok = model_tokenizer(tiny_model());
  auto* wrong = reinterpret_cast<zaya_context*>(tok.get());
  ZCHECK_STATUS(zaya_decode(wrong, nullptr, 0), ZAYA_ERR_INVALID_ARGUMENT);
  CHECK(std::string(zaya_last_error()).find("zaya_context") != std::string::npos);
  int64_t len = 0;
  ZCHECK_STATUS(zaya_sequence_length(wrong, 0, &len), ZAYA_ERR_INVALID_ARGUMENT);
  zaya_context_cancel(wrong);  // ignored
  zaya_context_cancel(nullptr);

  // Freeing NULL is fine; a successful call clears the last error.
  zaya_model_free(nullptr);
  zaya_context_free(nullptr);
  zaya_tokenizer_free(nullptr);
  zaya_sampler_free(nullptr);
  zaya_stream_free(nullptr);
  zaya_detokenizer_free(nullptr);
  zaya_chat_template_free(nullptr);
  size_t vocab = 0;
  ZREQUIRE_OK(zaya_tokenizer_vocab_size(tok.get(), &vocab));
  CHECK(std::string(zaya_last_error()).empty());
}

TEST_CASE("model loading: errors, progress, cancel, info") {
  zaya_model* m = nullptr;
  ZCHECK_STATUS(zaya_model_load("/nonexistent/zaya", nullptr, &m), ZAYA_ERR_IO);
  CHECK(m == nullptr);

  zaya_model_params p = zaya_model_params_default();
  p.backend = "warp-drive";
  ZCHECK_STATUS(zaya_model_load(tiny_model_dir().c_str(), &p, &m), ZAYA_ERR_INVALID_ARGUMENT);
  p = zaya_model_params_default();
  p.skip_semantics = 7;
  ZCHECK_STATUS(zaya_model_load(tiny_model_dir().c_str(), &p, &m), ZAYA_ERR_INVALID_ARGUMENT);
  p = zaya_model_params_default();
  CHECK(p.head_shortlist == 0);
  p.head_shortlist = -1;
  ZCHECK_STATUS(zaya_model_load(tiny_model_dir().c_str(), &p, &m), ZAYA_ERR_INVALID_ARGUMENT);
  CHECK(std::string(zaya_last_error()).find("head_shortlist") != std::string::npos);
  CHECK(m == nullptr);
  // The 0.1.0 layout ended before head_shortlist: a caller built against it never has it read.
  ZREQUIRE_OK(zaya_model_params_init(&p, offsetof(zaya_model_params, head_shortlist)));
  p.head_shortlist = -1;
  p.load_tokenizer = 0;
  ZCHECK_STATUS(zaya_model_load(tiny_model_dir().c_str(), &p, &m), ZAYA_OK);
  zaya_model_info shortlist_info;
  shortlist_info.struct_size = sizeof shortlist_info;
  ZREQUIRE_OK(zaya_model_get_info(m, &shortlist_info));
  CHECK(shortlist_info.head_shortlist_bytes == 0);
  zaya_model_free(m);
  p = zaya_model_params_default();
  p.head_shortlist = 8;
  p.load_tokenizer = 0;
  ZCHECK_STATUS(zaya_model_load(tiny_model_dir().c_str(), &p, &m), ZAYA_OK);
  // The approximate copy is reported apart from stored_bytes: the head's rows in Q4_0.
  shortlist_info.struct_size = sizeof shortlist_info;
  ZREQUIRE_OK(zaya_model_get_info(m, &shortlist_info));
  CHECK(shortlist_info.head_shortlist_bytes ==
        uint64_t(shortlist_info.vocab_size) * uint64_t(shortlist_info.hidden_size) / 32 * 18);
  // A caller built against 0.1.0 passes the shorter struct: the appended field is not written.
  zaya_model_info old;
  std::memset(&old, 0xAB, sizeof old);
  old.struct_size = offsetof(zaya_model_info, head_shortlist_bytes);
  ZREQUIRE_OK(zaya_model_get_info(m, &old));
  CHECK(old.struct_size == offsetof(zaya_model_info, head_shortlist_bytes));
  CHECK(old.vocab_size == shortlist_info.vocab_size);
  CHECK(old.head_shortlist_bytes == 0xABABABABABABABABull);
  zaya_model_free(m);
  m = nullptr;

  // Progress reaches 1 monotonically; returning ZAYA_STOP cancels.
  struct Progress {
    std::vector<float> seen;
    int stop_at = -1;
    static int32_t fn(float f, void* user) {
      auto* self = static_cast<Progress*>(user);
      self->seen.push_back(f);
      return static_cast<int>(self->seen.size()) == self->stop_at ? ZAYA_STOP : ZAYA_CONTINUE;
    }
  } progress;
  p = zaya_model_params_default();
  p.progress = &Progress::fn;
  p.progress_user_data = &progress;
  p.load_tokenizer = 0;
  ZREQUIRE_OK(zaya_model_load(tiny_model_dir().c_str(), &p, &m));
  Owned<zaya_model> loaded(m);
  REQUIRE(progress.seen.size() >= 2);
  for (size_t i = 1; i < progress.seen.size(); ++i) CHECK(progress.seen[i] >= progress.seen[i - 1]);
  CHECK(progress.seen.back() == doctest::Approx(1.0f));

  zaya_model_info info;
  info.struct_size = sizeof info;
  ZREQUIRE_OK(zaya_model_get_info(m, &info));
  CHECK(info.vocab_size == 384);
  CHECK(info.layers == 3);
  CHECK(info.hidden_size == 64);
  CHECK(info.experts == 4);
  CHECK(info.eos_id == 1);
  CHECK(info.bos_id == 2);
  CHECK(info.has_tokenizer == 0);  // load_tokenizer = 0 (and tiny-a has none anyway)
  CHECK(info.total_params > info.active_params);
  CHECK(std::string(info.directory).find("native-f32") != std::string::npos);
  CHECK(std::string(info.stored_dtypes) == "F32");
  zaya_tokenizer* none = reinterpret_cast<zaya_tokenizer*>(1);
  ZREQUIRE_OK(zaya_model_get_tokenizer(m, &none));
  CHECK(none == nullptr);

  // An older caller's smaller info struct is filled only as far as it reaches.
  unsigned char small[sizeof(zaya_model_info) + 16];
  std::memset(small, 0xab, sizeof small);
  auto* partial = reinterpret_cast<zaya_model_info*>(small);
  partial->struct_size = sizeof(zaya_model_info);
  ZREQUIRE_OK(zaya_model_get_info(m, partial));
  CHECK(small[sizeof(zaya_model_info)] == 0xab);  // nothing written past struct_size
  partial->struct_size = 8;
  ZCHECK_STATUS(zaya_model_get_info(m, partial), ZAYA_ERR_INVALID_ARGUMENT);

  progress = Progress{};
  progress.stop_at = 2;
  m = nullptr;
  ZCHECK_STATUS(zaya_model_load(tiny_model_dir().c_str(), &p, &m), ZAYA_ERR_CANCELLED);
  CHECK(m == nullptr);
  CHECK(progress.seen.size() == 2);
}

TEST_CASE("a model directory with its tokenizer next to the weights") {
  const auto dir = zaya::test::temp_dir("capi-tiny-chat-model");
  for (const char* f : {"config.json", "model.safetensors"})
    std::filesystem::copy_file(std::filesystem::path(tiny_model_dir()) / f, dir / f);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    std::filesystem::copy_file(std::filesystem::path(tiny_tokenizer_dir()) / f, dir / f);
  zaya_model* m = nullptr;
  ZREQUIRE_OK(zaya_model_load(dir.string().c_str(), nullptr, &m));
  Owned<zaya_model> model(m);
  zaya_model_info info;
  info.struct_size = sizeof info;
  ZREQUIRE_OK(zaya_model_get_info(m, &info));
  CHECK(info.has_tokenizer == 1);
  CHECK(info.has_chat_template == 1);

  zaya_model_params p = zaya_model_params_default();
  p.tokenizer_path = "/nonexistent/tokenizer.json";  // an explicit path must load
  zaya_model* m2 = nullptr;
  ZCHECK_STATUS(zaya_model_load(dir.string().c_str(), &p, &m2), ZAYA_ERR_IO);
  CHECK(m2 == nullptr);
}

// ---- tokenizer -----------------------------------------------------------------------------------

TEST_CASE("tokenize / detokenize, the buffer rule, bad UTF-8, bad ids") {
  auto tok = model_tokenizer(tiny_model());
  const std::string text = "Hello world! The dragon said hello. \xc3\xbc\xe2\x82\xac";  // ü€ via byte fallback
  const auto ids = tokenize(tok.get(), text);
  REQUIRE(!ids.empty());
  const auto with_bos = tokenize(tok.get(), text, true);
  CHECK(with_bos.size() == ids.size() + 1);
  CHECK(with_bos.front() == 2);

  size_t needed = 0;
  ZCHECK_STATUS(zaya_detokenize(tok.get(), ids.data(), ids.size(), 0, nullptr, 0, &needed), ZAYA_ERR_BUFFER_TOO_SMALL);
  CHECK(needed == text.size());
  std::string buf(needed, 'x');  // one byte short: no room for the NUL
  ZCHECK_STATUS(zaya_detokenize(tok.get(), ids.data(), ids.size(), 0, buf.data(), buf.size(), &needed),
                ZAYA_ERR_BUFFER_TOO_SMALL);
  CHECK(buf[0] == '\0');  // nothing partial
  buf.assign(needed + 1, 'x');
  size_t got = 0;
  ZREQUIRE_OK(zaya_detokenize(tok.get(), ids.data(), ids.size(), 0, buf.data(), buf.size(), &got));
  CHECK(got == text.size());
  CHECK(std::string(buf.c_str()) == text);

  std::vector<int32_t> small(1);
  size_t count = 0;
  ZCHECK_STATUS(zaya_tokenize(tok.get(), text.data(), text.size(), 0, small.data(), small.size(), &count),
                ZAYA_ERR_BUFFER_TOO_SMALL);
  CHECK(count == ids.size());

  ZCHECK_STATUS(zaya_tokenize(tok.get(), "ab\xc3", 3, 0, small.data(), 1, &count), ZAYA_ERR_INVALID_ARGUMENT);
  CHECK(std::string(zaya_last_error()).find("UTF-8") != std::string::npos);
  ZCHECK_STATUS(zaya_tokenize(tok.get(), nullptr, 5, 0, small.data(), 1, &count), ZAYA_ERR_INVALID_ARGUMENT);
  ZCHECK_STATUS(zaya_tokenize(tok.get(), "a", size_t{1} << 40, 0, small.data(), 1, &count), ZAYA_ERR_INVALID_ARGUMENT);
  ZCHECK_STATUS(zaya_tokenize(tok.get(), "a", 1, 0, nullptr, 4, &count), ZAYA_ERR_INVALID_ARGUMENT);
  ZREQUIRE_OK(zaya_tokenize(tok.get(), nullptr, 0, 0, nullptr, 0, &count));  // empty text
  CHECK(count == 0);

  const int32_t bad[] = {5, 384};
  ZCHECK_STATUS(zaya_detokenize(tok.get(), bad, 2, 0, buf.data(), buf.size(), &got), ZAYA_ERR_OUT_OF_RANGE);
  const int32_t negative[] = {-1};
  ZCHECK_STATUS(zaya_detokenize(tok.get(), negative, 1, 0, buf.data(), buf.size(), &got), ZAYA_ERR_OUT_OF_RANGE);
}

TEST_CASE("tokenizer vocabulary, special tokens, streaming detokenizer") {
  zaya_tokenizer* t = nullptr;
  ZREQUIRE_OK(zaya_tokenizer_load(tiny_tokenizer_dir().c_str(), &t));
  Owned<zaya_tokenizer> tok(t);
  size_t vocab = 0;
  ZREQUIRE_OK(zaya_tokenizer_vocab_size(t, &vocab));
  CHECK(vocab == 384);
  int32_t id = -2;
  ZREQUIRE_OK(zaya_tokenizer_token_id(t, "<|im_end|>", 10, &id));
  CHECK(id == 5);
  ZREQUIRE_OK(zaya_tokenizer_token_id(t, "no such token", 13, &id));
  CHECK(id == -1);
  char text[64];
  size_t len = 0;
  ZREQUIRE_OK(zaya_tokenizer_token_text(t, 6, text, sizeof text, &len));
  CHECK(std::string(text) == "<think>");
  ZCHECK_STATUS(zaya_tokenizer_token_text(t, 100000, text, sizeof text, &len), ZAYA_ERR_OUT_OF_RANGE);
  int32_t special = -1;
  ZREQUIRE_OK(zaya_tokenizer_is_special(t, 4, &special));
  CHECK(special == 1);
  ZREQUIRE_OK(zaya_tokenizer_is_special(t, 300, &special));
  CHECK(special == 0);
  ZCHECK_STATUS(zaya_tokenizer_is_special(t, 384, &special), ZAYA_ERR_OUT_OF_RANGE);
  ZREQUIRE_OK(zaya_tokenizer_special_id(t, ZAYA_TOKEN_EOS, &id));
  CHECK(id == 5);
  ZREQUIRE_OK(zaya_tokenizer_special_id(t, ZAYA_TOKEN_BOS, &id));
  CHECK(id == 2);
  ZCHECK_STATUS(zaya_tokenizer_special_id(t, 42, &id), ZAYA_ERR_INVALID_ARGUMENT);

  // Streaming: every id of the vocabulary, pieces are complete UTF-8, concatenation == decode.
  zaya_detokenizer* d = nullptr;
  ZREQUIRE_OK(zaya_detokenizer_new(t, 0, &d));
  Owned<zaya_detokenizer> detok(d);
  std::vector<int32_t> all;
  for (int32_t i = 0; i < 384; ++i) all.push_back(i);
  std::string streamed;
  for (int32_t i : all) {
    const char* piece = nullptr;
    size_t n = 0;
    ZREQUIRE_OK(zaya_detokenizer_push(d, i, &piece, &n));
    CHECK(std::strlen(piece) == n);
    streamed.append(piece, n);
  }
  const char* tail = nullptr;
  size_t n = 0;
  ZREQUIRE_OK(zaya_detokenizer_finish(d, &tail, &n));
  streamed.append(tail, n);
  size_t full_len = 0;
  zaya_detokenize(t, all.data(), all.size(), 0, nullptr, 0, &full_len);
  std::string full(full_len + 1, '\0');
  ZREQUIRE_OK(zaya_detokenize(t, all.data(), all.size(), 0, full.data(), full.size(), &full_len));
  full.resize(full_len);
  CHECK(streamed == full);
  const char* piece = nullptr;
  ZCHECK_STATUS(zaya_detokenizer_push(d, 999, &piece, &n), ZAYA_ERR_OUT_OF_RANGE);
}

// ---- chat templates ----------------------------------------------------------------------------------

TEST_CASE("chat templates render messages; errors carry their reason") {
  auto tok = model_tokenizer(tiny_model());
  zaya_chat_template* ct = nullptr;
  ZREQUIRE_OK(zaya_chat_template_from_tokenizer(tok.get(), &ct));
  Owned<zaya_chat_template> tpl(ct);

  const std::string messages = R"([{"role":"system","content":"Be brief."},{"role":"user","content":"Hi!"}])";
  const char* out = nullptr;
  size_t len = 0;
  ZREQUIRE_OK(zaya_chat_template_render(ct, messages.data(), messages.size(), nullptr, &out, &len));
  CHECK(std::string(out, len) ==
        "<bos><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n");

  zaya_chat_params p = zaya_chat_params_default();
  p.add_generation_prompt = 0;
  ZREQUIRE_OK(zaya_chat_template_render(ct, messages.data(), messages.size(), &p, &out, &len));
  CHECK(std::string(out, len).find("assistant") == std::string::npos);

  p = zaya_chat_params_default();
  const std::string extra = R"({"enable_thinking": true})";
  p.extra_json = extra.data();
  p.extra_json_length = extra.size();
  ZREQUIRE_OK(zaya_chat_template_render(ct, messages.data(), messages.size(), &p, &out, &len));
  CHECK(std::string(out, len).ends_with("<|im_start|>assistant\n<think>\n"));

  // The rendered prompt tokenizes with the special tokens as single ids.
  const auto ids = tokenize(tok.get(), std::string(out, len));
  CHECK(ids.front() == 2);
  CHECK(std::count(ids.begin(), ids.end(), 4) == 3);  // <|im_start|>

  const std::string broken = R"([{"role":"user","content":"Hi"})";
  ZCHECK_STATUS(zaya_chat_template_render(ct, broken.data(), broken.size(), nullptr, &out, &len), ZAYA_ERR_BAD_FORMAT);
  const std::string object = R"({"role":"user"})";
  ZCHECK_STATUS(zaya_chat_template_render(ct, object.data(), object.size(), nullptr, &out, &len),
                ZAYA_ERR_INVALID_ARGUMENT);
  p = zaya_chat_params_default();
  p.extra_json = "[1]";
  p.extra_json_length = 3;
  ZCHECK_STATUS(zaya_chat_template_render(ct, messages.data(), messages.size(), &p, &out, &len),
                ZAYA_ERR_INVALID_ARGUMENT);

  const std::string raising = "{{ raise_exception('no system messages, please') }}";
  zaya_chat_template* r = nullptr;
  ZREQUIRE_OK(zaya_chat_template_parse(raising.data(), raising.size(), &r));
  Owned<zaya_chat_template> raiser(r);
  ZCHECK_STATUS(zaya_chat_template_render(r, messages.data(), messages.size(), nullptr, &out, &len),
                ZAYA_ERR_TEMPLATE);
  CHECK(std::string(zaya_last_error()).find("no system messages, please") != std::string::npos);
  const std::string syntax = "{% for %}";
  ZCHECK_STATUS(zaya_chat_template_parse(syntax.data(), syntax.size(), &r), ZAYA_ERR_TEMPLATE);

  // A tokenizer without a chat template.
  const auto dir = zaya::test::temp_dir("capi-no-template");
  std::filesystem::copy_file(std::filesystem::path(tiny_tokenizer_dir()) / "tokenizer.json", dir / "tokenizer.json");
  zaya_tokenizer* plain = nullptr;
  ZREQUIRE_OK(zaya_tokenizer_load(dir.string().c_str(), &plain));
  Owned<zaya_tokenizer> plain_owner(plain);
  ZCHECK_STATUS(zaya_chat_template_from_tokenizer(plain, &r), ZAYA_ERR_UNSUPPORTED);
}

TEST_CASE("chat output parsing returns reasoning, content and tool calls as JSON") {
  const std::string text =
      "<think>\nLet me look.\n</think>\n\nChecking.\n<zyphra_tool_call>\n<function=get_weather>\n"
      "<parameter=city>\nParis\n</parameter>\n</function>\n</zyphra_tool_call>";
  const char* json = nullptr;
  size_t len = 0;
  ZREQUIRE_OK(zaya_parse_chat_output(text.data(), text.size(), 0, &json, &len));
  const zaya::Value v = zaya::Value::parse_json(std::string_view(json, len));
  CHECK(v.find("reasoning")->as_string() == "Let me look.");
  CHECK(v.find("content")->as_string() == "Checking.");
  CHECK(v.find("reasoning_finished")->as_bool());
  REQUIRE(v.find("tool_calls")->size() == 1);
  const zaya::Value& call = v.find("tool_calls")->as_array()[0];
  CHECK(call.find("name")->as_string() == "get_weather");
  CHECK(call.find("arguments")->as_array()[0].find("value")->as_string() == "Paris");
  ZCHECK_STATUS(zaya_parse_chat_output("\xff", 1, 0, &json, &len), ZAYA_ERR_INVALID_ARGUMENT);
}

// ---- context -------------------------------------------------------------------------------------

TEST_CASE("decode through the C ABI equals the C++ API bit for bit") {
  const auto input = golden("input_ids");
  auto ctx = make_context(tiny_model(), 2, 64);
  ZREQUIRE_OK(zaya_prefill(ctx.get(), 0, input.data(), input.size()));
  const auto c_logits = logits_row(ctx.get(), 0);

  auto model = zaya::Model::load(zaya::test::checkpoint("native-f32"), {.backend = "cpu"});
  zaya::Context cpp(model, {.max_context = 64, .threads = 1});
  const auto cpp_logits = cpp.prefill(0, input);
  REQUIRE(c_logits.size() == cpp_logits.size());
  CHECK(std::memcmp(c_logits.data(), cpp_logits.data(), c_logits.size() * sizeof(float)) == 0);
  size_t rows = 0;
  ZREQUIRE_OK(zaya_logits_rows(ctx.get(), &rows));
  CHECK(rows == 1);
  CHECK(length(ctx.get(), 0) == static_cast<int64_t>(input.size()));

  // Interleaved batch: two sequences, two logits rows.
  std::vector<zaya_batch_token> batch = {{1, 7, 0}, {0, 9, 1}, {1, 8, 1}};
  ZREQUIRE_OK(zaya_decode(ctx.get(), batch.data(), batch.size()));
  ZREQUIRE_OK(zaya_logits_rows(ctx.get(), &rows));
  CHECK(rows == 2);
  CHECK(length(ctx.get(), 1) == 2);
  const float* p = nullptr;
  size_t vocab = 0;
  ZCHECK_STATUS(zaya_logits(ctx.get(), 2, &p, &vocab), ZAYA_ERR_OUT_OF_RANGE);
}

TEST_CASE("invalid decodes change nothing") {
  auto ctx = make_context(tiny_model(), 2, 16);
  const std::vector<int32_t> prompt = {3, 4, 5};
  ZREQUIRE_OK(zaya_prefill(ctx.get(), 0, prompt.data(), prompt.size()));
  std::vector<zaya_batch_token> bad_token = {{0, 1, 0}, {0, 384, 1}};
  ZCHECK_STATUS(zaya_decode(ctx.get(), bad_token.data(), bad_token.size()), ZAYA_ERR_OUT_OF_RANGE);
  std::vector<zaya_batch_token> bad_seq = {{2, 1, 1}};
  ZCHECK_STATUS(zaya_decode(ctx.get(), bad_seq.data(), bad_seq.size()), ZAYA_ERR_OUT_OF_RANGE);
  std::vector<zaya_batch_token> negative = {{-1, 1, 1}};
  ZCHECK_STATUS(zaya_decode(ctx.get(), negative.data(), negative.size()), ZAYA_ERR_OUT_OF_RANGE);
  ZCHECK_STATUS(zaya_decode(ctx.get(), bad_seq.data(), 0), ZAYA_ERR_INVALID_ARGUMENT);
  ZCHECK_STATUS(zaya_decode(ctx.get(), nullptr, 3), ZAYA_ERR_INVALID_ARGUMENT);
  ZCHECK_STATUS(zaya_decode(ctx.get(), bad_seq.data(), size_t{1} << 40), ZAYA_ERR_INVALID_ARGUMENT);
  std::vector<int32_t> too_long(20, 3);
  ZCHECK_STATUS(zaya_prefill(ctx.get(), 0, too_long.data(), too_long.size()), ZAYA_ERR_LIMIT_EXCEEDED);
  CHECK(length(ctx.get(), 0) == 3);
  CHECK(length(ctx.get(), 1) == 0);
  ZCHECK_STATUS(zaya_sequence_truncate(ctx.get(), 0, 4), ZAYA_ERR_OUT_OF_RANGE);
  ZCHECK_STATUS(zaya_sequence_fork(ctx.get(), 0, 5), ZAYA_ERR_OUT_OF_RANGE);
  ZCHECK_STATUS(zaya_sequence_clear(ctx.get(), 65536), ZAYA_ERR_OUT_OF_RANGE);
  CHECK(length(ctx.get(), 0) == 3);

  zaya_context_params cp = zaya_context_params_default();
  zaya_context* c = nullptr;
  cp.max_sequences = 0;
  ZCHECK_STATUS(zaya_context_new(tiny_model(), &cp, &c), ZAYA_ERR_INVALID_ARGUMENT);
  cp = zaya_context_params_default();
  cp.max_context = -5;
  ZCHECK_STATUS(zaya_context_new(tiny_model(), &cp, &c), ZAYA_ERR_INVALID_ARGUMENT);
  cp = zaya_context_params_default();
  cp.threads = -1;
  ZCHECK_STATUS(zaya_context_new(tiny_model(), &cp, &c), ZAYA_ERR_INVALID_ARGUMENT);
  CHECK(c == nullptr);
}

TEST_CASE("fork, truncate and clear through the C ABI") {
  const auto input = golden("input_ids");
  auto ctx = make_context(tiny_model(), 3, 64);
  ZREQUIRE_OK(zaya_prefill(ctx.get(), 0, input.data(), input.size()));
  ZREQUIRE_OK(zaya_sequence_fork(ctx.get(), 0, 1));
  const zaya_batch_token next[] = {{0, 11, 1}, {1, 11, 1}};
  ZREQUIRE_OK(zaya_decode(ctx.get(), next, 2));
  CHECK(logits_row(ctx.get(), 0) == logits_row(ctx.get(), 1));

  // Truncate sequence 1 back by one and decode a different token: matches a fresh prefill.
  ZREQUIRE_OK(zaya_sequence_truncate(ctx.get(), 1, static_cast<int64_t>(input.size())));
  const zaya_batch_token other[] = {{1, 12, 1}};
  ZREQUIRE_OK(zaya_decode(ctx.get(), other, 1));
  const auto truncated = logits_row(ctx.get(), 0);
  auto fresh = input;
  fresh.push_back(12);
  ZREQUIRE_OK(zaya_prefill(ctx.get(), 2, fresh.data(), fresh.size()));
  CHECK(zaya::test::relative_error(truncated, logits_row(ctx.get(), 0)) < 1e-5);

  ZREQUIRE_OK(zaya_sequence_clear(ctx.get(), 1));
  CHECK(length(ctx.get(), 1) == 0);
  int32_t max_seq = 0;
  int64_t max_ctx = 0;
  int32_t threads = -1;
  ZREQUIRE_OK(zaya_context_get_limits(ctx.get(), &max_seq, &max_ctx, &threads));
  CHECK(max_seq == 3);
  CHECK(max_ctx == 64);
  CHECK(threads == 1);
}

TEST_CASE("sequence state saves to a buffer and restores exactly, in another context too") {
  const auto input = golden("input_ids");
  auto a = make_context(tiny_model(), 2, 64, 1, 64);
  ZREQUIRE_OK(zaya_prefill(a.get(), 0, input.data(), input.size()));

  size_t size = 0;
  ZCHECK_STATUS(zaya_sequence_save(a.get(), 0, nullptr, 0, &size), ZAYA_ERR_BUFFER_TOO_SMALL);
  REQUIRE(size > 1000);
  std::vector<unsigned char> state(size);
  ZCHECK_STATUS(zaya_sequence_save(a.get(), 0, state.data(), size - 1, &size), ZAYA_ERR_BUFFER_TOO_SMALL);
  ZREQUIRE_OK(zaya_sequence_save(a.get(), 0, state.data(), state.size(), &size));
  CHECK(size == state.size());
  std::vector<unsigned char> again(size);
  ZREQUIRE_OK(zaya_sequence_save(a.get(), 0, again.data(), again.size(), &size));
  CHECK(again == state);  // deterministic

  // Continue the original.
  const zaya_batch_token next[] = {{0, 42, 1}};
  ZREQUIRE_OK(zaya_decode(a.get(), next, 1));
  const auto expected = logits_row(a.get(), 0);

  // Restore into another context with a smaller truncate window, continue: identical.
  auto b = make_context(tiny_model(), 3, 32, 1, 4);
  ZREQUIRE_OK(zaya_sequence_load(b.get(), 2, state.data(), state.size()));
  CHECK(length(b.get(), 2) == static_cast<int64_t>(input.size()));
  const zaya_batch_token next_b[] = {{2, 42, 1}};
  ZREQUIRE_OK(zaya_decode(b.get(), next_b, 1));
  const auto restored = logits_row(b.get(), 0);
  REQUIRE(restored.size() == expected.size());
  CHECK(std::memcmp(restored.data(), expected.data(), expected.size() * sizeof(float)) == 0);
  // The truncate ring came along (within the new window of 4): cut the last two tokens (the
  // restored ring supplies the conv state) and continue like a fresh prefill.
  ZREQUIRE_OK(zaya_sequence_truncate(b.get(), 2, static_cast<int64_t>(input.size()) - 1));
  const zaya_batch_token other_b[] = {{2, 43, 1}};
  ZREQUIRE_OK(zaya_decode(b.get(), other_b, 1));
  const auto after_truncate = logits_row(b.get(), 0);
  auto fresh = std::vector<int32_t>(input.begin(), input.end() - 1);
  fresh.push_back(43);
  ZREQUIRE_OK(zaya_prefill(b.get(), 1, fresh.data(), fresh.size()));
  CHECK(zaya::test::relative_error(after_truncate, logits_row(b.get(), 0)) < 1e-5);
  ZCHECK_STATUS(zaya_sequence_truncate(b.get(), 2, 1), ZAYA_ERR_OUT_OF_RANGE);
  ZREQUIRE_OK(zaya_sequence_clear(b.get(), 1));

  // Restoring into the same sequence rewinds it.
  ZREQUIRE_OK(zaya_sequence_load(a.get(), 0, state.data(), state.size()));
  ZREQUIRE_OK(zaya_decode(a.get(), next, 1));
  CHECK(logits_row(a.get(), 0) == expected);

  // Damaged, truncated, foreign and oversized states are refused; the sequence is unchanged.
  const int64_t before = length(b.get(), 0);
  auto damaged = state;
  damaged[damaged.size() / 2] ^= 0x10;
  ZCHECK_STATUS(zaya_sequence_load(b.get(), 0, damaged.data(), damaged.size()), ZAYA_ERR_BAD_FORMAT);
  CHECK(std::string(zaya_last_error()).find("checksum") != std::string::npos);
  ZCHECK_STATUS(zaya_sequence_load(b.get(), 0, state.data(), state.size() - 9), ZAYA_ERR_BAD_FORMAT);
  ZCHECK_STATUS(zaya_sequence_load(b.get(), 0, state.data(), 20), ZAYA_ERR_BAD_FORMAT);
  const char junk[200] = "not a state";
  ZCHECK_STATUS(zaya_sequence_load(b.get(), 0, junk, sizeof junk), ZAYA_ERR_BAD_FORMAT);
  ZCHECK_STATUS(zaya_sequence_load(b.get(), 0, nullptr, 10), ZAYA_ERR_INVALID_ARGUMENT);
  auto small = make_context(tiny_model(), 1, 8);
  ZCHECK_STATUS(zaya_sequence_load(small.get(), 0, state.data(), state.size()), ZAYA_ERR_LIMIT_EXCEEDED);
  CHECK(length(small.get(), 0) == 0);
  CHECK(length(b.get(), 0) == before);

  // A model of another geometry.
  const auto dir = zaya::test::temp_dir("capi-other-geometry");
  zaya::SynthOptions synth;
  synth.geometry = zaya::synth_preset("tiny");
  synth.geometry.hidden = 32;
  synth.dtype = zaya::DType::f32;
  zaya::write_synthetic_checkpoint(dir, synth);
  zaya_model* other = nullptr;
  ZREQUIRE_OK(zaya_model_load(dir.string().c_str(), nullptr, &other));
  Owned<zaya_model> other_owner(other);
  auto c = make_context(other, 1, 64);
  ZCHECK_STATUS(zaya_sequence_load(c.get(), 0, state.data(), state.size()), ZAYA_ERR_INVALID_ARGUMENT);
  CHECK(std::string(zaya_last_error()).find("hidden=64") != std::string::npos);

  // An empty sequence round-trips too.
  size_t empty_size = 0;
  zaya_sequence_save(b.get(), 1, nullptr, 0, &empty_size);
  std::vector<unsigned char> empty(empty_size);
  ZREQUIRE_OK(zaya_sequence_save(b.get(), 1, empty.data(), empty.size(), &empty_size));
  ZREQUIRE_OK(zaya_sequence_load(b.get(), 2, empty.data(), empty.size()));
  CHECK(length(b.get(), 2) == 0);
}

// ---- sampling ------------------------------------------------------------------------------------

TEST_CASE("samplers: greedy, seeded draws, penalties, invalid input") {
  std::vector<float> logits(384, 0.0f);
  logits[17] = 5.0f;
  logits[99] = 4.0f;
  zaya_sampling_params greedy;
  ZREQUIRE_OK(zaya_sampling_params_init_greedy(&greedy, sizeof greedy));
  zaya_sampler* s = nullptr;
  ZREQUIRE_OK(zaya_sampler_new(&greedy, &s));
  Owned<zaya_sampler> g(s);
  int32_t token = -1;
  float prob = 0;
  ZREQUIRE_OK(zaya_sampler_sample(s, logits.data(), logits.size(), nullptr, 0, 0, 0, &token, &prob));
  CHECK(token == 17);
  CHECK(prob == 1.0f);
  ZREQUIRE_OK(zaya_sampler_sample(s, logits.data(), logits.size(), nullptr, 0, 0, 17, &token, nullptr));
  CHECK(token != 17);  // allowed_vocab = 17 masks it

  // A strong repetition penalty moves greedy off a token in the history.
  zaya_sampling_params penal = greedy;
  penal.repetition_penalty = 10.0f;
  ZREQUIRE_OK(zaya_sampler_new(&penal, &s));
  Owned<zaya_sampler> pen(s);
  const int32_t history[] = {17};
  ZREQUIRE_OK(zaya_sampler_sample(s, logits.data(), logits.size(), history, 1, 0, 0, &token, nullptr));
  CHECK(token == 99);

  // Seeded: same (seed, step) -> same draw; a bias of -inf bans.
  std::vector<float> flat(384, 1.0f);
  zaya_sampling_params sp = seeded(7);
  const int32_t bias_ids[] = {3};
  const float bias_values[] = {-INFINITY};
  sp.logit_bias_ids = bias_ids;
  sp.logit_bias_values = bias_values;
  sp.n_logit_bias = 1;
  ZREQUIRE_OK(zaya_sampler_new(&sp, &s));
  Owned<zaya_sampler> a(s);
  ZREQUIRE_OK(zaya_sampler_new(&sp, &s));
  Owned<zaya_sampler> b(s);
  std::set<int32_t> seen;
  for (uint64_t step = 0; step < 200; ++step) {
    int32_t x = -1, y = -1;
    ZREQUIRE_OK(zaya_sampler_sample(a.get(), flat.data(), flat.size(), nullptr, 0, step, 0, &x, nullptr));
    ZREQUIRE_OK(zaya_sampler_sample(b.get(), flat.data(), flat.size(), nullptr, 0, step, 0, &y, nullptr));
    CHECK(x == y);
    CHECK(x != 3);
    seen.insert(x);
  }
  CHECK(seen.size() > 50);

  zaya_sampling_params bad = zaya_sampling_params_default();
  bad.top_p = 0.0f;
  ZCHECK_STATUS(zaya_sampler_new(&bad, &s), ZAYA_ERR_INVALID_ARGUMENT);
  CHECK(std::string(zaya_last_error()).find("top_p") != std::string::npos);
  bad = zaya_sampling_params_default();
  bad.temperature_placement = 5;
  ZCHECK_STATUS(zaya_sampler_new(&bad, &s), ZAYA_ERR_INVALID_ARGUMENT);
  bad = zaya_sampling_params_default();
  bad.n_banned_tokens = 3;  // NULL pointer with a count
  ZCHECK_STATUS(zaya_sampler_new(&bad, &s), ZAYA_ERR_INVALID_ARGUMENT);

  logits[5] = NAN;
  ZCHECK_STATUS(zaya_sampler_sample(a.get(), logits.data(), logits.size(), nullptr, 0, 0, 0, &token, nullptr),
                ZAYA_ERR_INVALID_ARGUMENT);
  const int32_t bad_history[] = {400};
  ZCHECK_STATUS(zaya_sampler_sample(a.get(), flat.data(), flat.size(), bad_history, 1, 0, 0, &token, nullptr),
                ZAYA_ERR_OUT_OF_RANGE);
  ZCHECK_STATUS(zaya_sampler_sample(a.get(), flat.data(), flat.size(), nullptr, 0, 0, 385, &token, nullptr),
                ZAYA_ERR_INVALID_ARGUMENT);
  ZCHECK_STATUS(zaya_sampler_sample(a.get(), nullptr, 0, nullptr, 0, 0, 0, &token, nullptr), ZAYA_ERR_INVALID_ARGUMENT);
}

// ---- generation ----------------------------------------------------------------------------------

TEST_CASE("greedy generation through the C ABI reproduces the golden continuation") {
  const auto input = golden("input_ids");
  const auto greedy_ids = golden("greedy_ids");
  auto ctx = make_context(tiny_model(), 1, 64);
  zaya_sampling_params greedy;
  zaya_sampling_params_init_greedy(&greedy, sizeof greedy);
  zaya_request r = token_request(0, input, static_cast<int64_t>(greedy_ids.size()), &greedy);
  Collected got;
  zaya_result result = zaya_result_default();
  ZREQUIRE_OK(zaya_generate(ctx.get(), &r, 1, &Collected::callback, &got, &result));
  CHECK(got.tokens[0] == greedy_ids);
  CHECK(result.finish == ZAYA_FINISH_MAX_TOKENS);
  CHECK(result.prompt_tokens == static_cast<int64_t>(input.size()));
  CHECK(result.generated_tokens == static_cast<int64_t>(greedy_ids.size()));
  CHECK(got.finish[0] == ZAYA_FINISH_MAX_TOKENS);

  // The pull-style stream gives the same tokens.
  ZREQUIRE_OK(zaya_sequence_clear(ctx.get(), 0));
  zaya_stream* st = nullptr;
  ZREQUIRE_OK(zaya_stream_new(ctx.get(), &r, &st));
  Owned<zaya_stream> stream(st);
  std::vector<int32_t> pulled;
  zaya_token_event ev;
  ev.struct_size = sizeof ev;
  for (int i = 0; i < 100; ++i) {
    ZREQUIRE_OK(zaya_stream_next(st, &ev));
    if (ev.token >= 0) pulled.push_back(ev.token);
    if (ev.finish != ZAYA_FINISH_NONE) break;
  }
  CHECK(pulled == greedy_ids);
  CHECK(ev.finish == ZAYA_FINISH_MAX_TOKENS);
  ZREQUIRE_OK(zaya_stream_next(st, &ev));  // after the end: the same final state again
  CHECK(ev.finish == ZAYA_FINISH_MAX_TOKENS);
  CHECK(ev.token == -1);
  size_t n = 0;
  ZCHECK_STATUS(zaya_stream_tokens(st, nullptr, 0, &n), ZAYA_ERR_BUFFER_TOO_SMALL);
  CHECK(n == greedy_ids.size());
}

TEST_CASE("text generation: batched requests equal single runs; streams equal zaya_generate") {
  auto ctx = make_context(tiny_model(), 3, 128);
  const zaya_sampling_params s1 = seeded(11), s2 = seeded(22), s3 = seeded(33);
  const zaya_sampling_params* samplings[] = {&s1, &s2, &s3};
  const char* prompts[] = {"Hello world", "Tell me a story about a dragon", "What is the weather?"};
  std::vector<zaya_request> requests;
  for (int i = 0; i < 3; ++i) {
    zaya_request r = zaya_request_default();
    r.sequence = i;
    r.prompt_text = prompts[i];
    r.prompt_text_length = std::strlen(prompts[i]);
    r.add_special_tokens = 1;
    r.max_tokens = 12 + 4 * i;
    r.sampling = samplings[i];
    r.stop_at_eos = 0;
    requests.push_back(r);
  }
  Collected together(3);
  std::vector<zaya_result> results(3, zaya_result_default());
  ZREQUIRE_OK(zaya_generate(ctx.get(), requests.data(), 3, &Collected::callback, &together, results.data()));
  for (int i = 0; i < 3; ++i) {
    CHECK(results[size_t(i)].finish == ZAYA_FINISH_MAX_TOKENS);
    CHECK(results[size_t(i)].generated_tokens == 12 + 4 * i);
    CHECK(together.tokens[size_t(i)].size() == size_t(12 + 4 * i));
  }
  CHECK(together.tokens[0] != together.tokens[1]);

  for (int i = 0; i < 3; ++i) {
    auto solo = make_context(tiny_model(), 1, 128);
    zaya_request r = requests[size_t(i)];
    r.sequence = 0;
    Collected alone;
    ZREQUIRE_OK(zaya_generate(solo.get(), &r, 1, &Collected::callback, &alone, nullptr));
    CHECK(alone.tokens[0] == together.tokens[size_t(i)]);
    CHECK(alone.text[0] == together.text[size_t(i)]);

    auto pulled_ctx = make_context(tiny_model(), 1, 128);
    zaya_stream* st = nullptr;
    ZREQUIRE_OK(zaya_stream_new(pulled_ctx.get(), &r, &st));
    Owned<zaya_stream> stream(st);
    std::vector<int32_t> tokens;
    std::string text;
    zaya_token_event ev;
    ev.struct_size = sizeof ev;
    do {
      ZREQUIRE_OK(zaya_stream_next(st, &ev));
      if (ev.token >= 0) tokens.push_back(ev.token);
      text.append(ev.text, ev.text_length);
    } while (ev.finish == ZAYA_FINISH_NONE);
    CHECK(tokens == together.tokens[size_t(i)]);
    CHECK(text == together.text[size_t(i)]);
  }

  // A request array with mixed struct sizes is refused before anything runs.
  requests[1].struct_size = sizeof(zaya_request) + 8;
  ZCHECK_STATUS(zaya_generate(ctx.get(), requests.data(), 3, nullptr, nullptr, nullptr), ZAYA_ERR_INVALID_ARGUMENT);
}

TEST_CASE("generation stops: stop strings, stop tokens, callbacks, context limits, bad requests") {
  auto ctx = make_context(tiny_model(), 2, 40);
  auto tok = model_tokenizer(tiny_model());
  const zaya_sampling_params s = seeded(5);
  // Find what the model says, then use a piece of it as a stop string.
  zaya_request r = zaya_request_default();
  r.prompt_text = "Hello";
  r.prompt_text_length = 5;
  r.max_tokens = 20;
  r.sampling = &s;
  r.stop_at_eos = 0;
  Collected first;
  ZREQUIRE_OK(zaya_generate(ctx.get(), &r, 1, &Collected::callback, &first, nullptr));
  REQUIRE(first.tokens[0].size() == 20);

  // Stop token: the 5th generated id (first occurrence).
  const int32_t stop_id = first.tokens[0][4];
  const size_t first_at = size_t(std::find(first.tokens[0].begin(), first.tokens[0].end(), stop_id) - first.tokens[0].begin());
  ZREQUIRE_OK(zaya_sequence_clear(ctx.get(), 0));
  r.stop_tokens = &stop_id;
  r.n_stop_tokens = 1;
  Collected stopped;
  zaya_result res = zaya_result_default();
  ZREQUIRE_OK(zaya_generate(ctx.get(), &r, 1, &Collected::callback, &stopped, &res));
  CHECK(res.finish == ZAYA_FINISH_STOP_TOKEN);
  CHECK(res.generated_tokens == static_cast<int64_t>(first_at + 1));
  r.stop_tokens = nullptr;
  r.n_stop_tokens = 0;

  // Stop string: a piece of text the model produced; the output is cut right before it.
  const std::string full = first.text[0];
  size_t at = full.size() / 2;  // an ASCII pair from the middle on (the text may hold other UTF-8)
  while (at + 1 < full.size() && (static_cast<unsigned char>(full[at]) >= 0x80 || static_cast<unsigned char>(full[at + 1]) >= 0x80))
    ++at;
  if (at + 1 < full.size()) {
    const std::string stop = full.substr(at, 2);
    const size_t cut = full.find(stop);
    const char* stops[] = {stop.c_str()};
    r.stop_strings = stops;
    r.n_stop_strings = 1;
    ZREQUIRE_OK(zaya_sequence_clear(ctx.get(), 0));
    Collected cut_run;
    ZREQUIRE_OK(zaya_generate(ctx.get(), &r, 1, &Collected::callback, &cut_run, &res));
    CHECK(res.finish == ZAYA_FINISH_STOP_STRING);
    CHECK(cut_run.text[0] == full.substr(0, cut));
    const char* invalid[] = {"\xff"};
    r.stop_strings = invalid;
    ZCHECK_STATUS(zaya_generate(ctx.get(), &r, 1, nullptr, nullptr, nullptr), ZAYA_ERR_INVALID_ARGUMENT);
    r.stop_strings = nullptr;
    r.n_stop_strings = 0;
  }

  // The callback stops a request after 3 events.
  ZREQUIRE_OK(zaya_sequence_clear(ctx.get(), 0));
  Collected three;
  three.stop_after = 3;
  ZREQUIRE_OK(zaya_generate(ctx.get(), &r, 1, &Collected::callback, &three, &res));
  CHECK(res.finish == ZAYA_FINISH_CANCELLED);
  CHECK(res.generated_tokens == 3);

  // Context of 40: the prompt plus what fits.
  ZREQUIRE_OK(zaya_sequence_clear(ctx.get(), 0));
  r.max_tokens = 1000;
  ZREQUIRE_OK(zaya_generate(ctx.get(), &r, 1, nullptr, nullptr, &res));
  CHECK(res.finish == ZAYA_FINISH_CONTEXT_FULL);
  CHECK(length(ctx.get(), 0) == 40);

  // Bad requests fail before any sequence changes.
  zaya_request bad = r;
  bad.sequence = 1;
  const int32_t ids[] = {3, 4};
  bad.prompt_tokens = ids;
  bad.n_prompt_tokens = 2;  // and prompt_text: both
  ZCHECK_STATUS(zaya_generate(ctx.get(), &bad, 1, nullptr, nullptr, nullptr), ZAYA_ERR_INVALID_ARGUMENT);
  bad.prompt_text = nullptr;
  bad.prompt_text_length = 0;
  bad.max_tokens = -1;
  ZCHECK_STATUS(zaya_generate(ctx.get(), &bad, 1, nullptr, nullptr, nullptr), ZAYA_ERR_INVALID_ARGUMENT);
  bad.max_tokens = 5;
  const int32_t out_of_range[] = {384};
  bad.prompt_tokens = out_of_range;
  bad.n_prompt_tokens = 1;
  ZCHECK_STATUS(zaya_generate(ctx.get(), &bad, 1, nullptr, nullptr, nullptr), ZAYA_ERR_OUT_OF_RANGE);
  bad.prompt_tokens = ids;
  bad.n_prompt_tokens = 2;
  zaya_request twice[] = {bad, bad};
  ZCHECK_STATUS(zaya_generate(ctx.get(), twice, 2, nullptr, nullptr, nullptr), ZAYA_ERR_INVALID_ARGUMENT);
  bad.sequence = 9;
  ZCHECK_STATUS(zaya_generate(ctx.get(), &bad, 1, nullptr, nullptr, nullptr), ZAYA_ERR_OUT_OF_RANGE);
  CHECK(length(ctx.get(), 1) == 0);

  // Text prompts need a tokenizer.
  zaya_model_params mp = zaya_model_params_default();
  mp.load_tokenizer = 0;
  zaya_model* ids_only = nullptr;
  ZREQUIRE_OK(zaya_model_load(tiny_model_dir().c_str(), &mp, &ids_only));
  Owned<zaya_model> ids_owner(ids_only);
  auto plain = make_context(ids_only);
  r.max_tokens = 3;
  ZCHECK_STATUS(zaya_generate(plain.get(), &r, 1, nullptr, nullptr, nullptr), ZAYA_ERR_INVALID_ARGUMENT);
  CHECK(std::string(zaya_last_error()).find("tokenizer") != std::string::npos);
}

TEST_CASE("start_logits: one prefill, forked, then sampled in parallel") {
  const auto input = golden("input_ids");
  auto ctx = make_context(tiny_model(), 4, 64);
  ZREQUIRE_OK(zaya_prefill(ctx.get(), 0, input.data(), input.size()));
  const auto start = logits_row(ctx.get(), 0);
  for (int32_t s = 1; s < 4; ++s) ZREQUIRE_OK(zaya_sequence_fork(ctx.get(), 0, s));
  std::vector<zaya_sampling_params> sp;
  for (uint64_t seed = 1; seed <= 4; ++seed) sp.push_back(seeded(seed));
  std::vector<zaya_request> reqs;
  for (int32_t s = 0; s < 4; ++s) {
    zaya_request r = zaya_request_default();
    r.sequence = s;
    r.start_logits = start.data();
    r.n_start_logits = start.size();
    r.max_tokens = 8;
    r.sampling = &sp[size_t(s)];
    r.stop_at_eos = 0;
    reqs.push_back(r);
  }
  Collected forked(4);
  ZREQUIRE_OK(zaya_generate(ctx.get(), reqs.data(), 4, &Collected::callback, &forked, nullptr));
  for (int32_t s = 0; s < 4; ++s) {
    auto solo = make_context(tiny_model(), 1, 64);
    zaya_request r = token_request(0, input, 8, &sp[size_t(s)]);
    Collected alone;
    ZREQUIRE_OK(zaya_generate(solo.get(), &r, 1, &Collected::callback, &alone, nullptr));
    CHECK(alone.tokens[0] == forked.tokens[size_t(s)]);
  }
  // start_logits of the wrong size.
  reqs[0].n_start_logits = 10;
  ZCHECK_STATUS(zaya_generate(ctx.get(), reqs.data(), 1, nullptr, nullptr, nullptr), ZAYA_ERR_INVALID_ARGUMENT);
}

TEST_CASE("streams notice changes behind their back; cancel ends them between calls") {
  auto ctx = make_context(tiny_model(), 2, 128);
  const std::vector<int32_t> prompt = {2, 300, 301};
  zaya_request r = token_request(0, prompt, 50);
  zaya_stream* st = nullptr;
  ZREQUIRE_OK(zaya_stream_new(ctx.get(), &r, &st));
  Owned<zaya_stream> stream(st);
  zaya_token_event ev;
  ev.struct_size = sizeof ev;
  ZREQUIRE_OK(zaya_stream_next(st, &ev));
  ZREQUIRE_OK(zaya_stream_next(st, &ev));
  // Another sequence may be used between steps...
  const zaya_batch_token other[] = {{1, 5, 1}};
  ZREQUIRE_OK(zaya_decode(ctx.get(), other, 1));
  ZREQUIRE_OK(zaya_stream_next(st, &ev));
  CHECK(ev.finish == ZAYA_FINISH_NONE);
  // ...but not the stream's own.
  ZREQUIRE_OK(zaya_sequence_fork(ctx.get(), 1, 0));
  ZCHECK_STATUS(zaya_stream_next(st, &ev), ZAYA_ERR_INVALID_ARGUMENT);

  // Cancel between two next() calls ends the stream, and a later stream is not affected.
  ZREQUIRE_OK(zaya_sequence_clear(ctx.get(), 0));
  zaya_stream* st2 = nullptr;
  ZREQUIRE_OK(zaya_stream_new(ctx.get(), &r, &st2));
  Owned<zaya_stream> second(st2);
  ZREQUIRE_OK(zaya_stream_next(st2, &ev));
  CHECK(ev.finish == ZAYA_FINISH_NONE);
  zaya_context_cancel(ctx.get());
  ZREQUIRE_OK(zaya_stream_next(st2, &ev));
  CHECK(ev.finish == ZAYA_FINISH_CANCELLED);
  ZREQUIRE_OK(zaya_sequence_clear(ctx.get(), 0));
  zaya_stream* st3 = nullptr;
  ZREQUIRE_OK(zaya_stream_new(ctx.get(), &r, &st3));
  Owned<zaya_stream> third(st3);
  ZREQUIRE_OK(zaya_stream_next(st3, &ev));
  CHECK(ev.finish == ZAYA_FINISH_NONE);
  // A cancel when nothing runs does not hit the next decode.
  zaya_context_cancel(ctx.get());
  ZREQUIRE_OK(zaya_decode(ctx.get(), other, 1));

  // The stream keeps its context alive after the handle is freed.
  ZREQUIRE_OK(zaya_sequence_clear(ctx.get(), 0));
  zaya_stream* st4 = nullptr;
  ZREQUIRE_OK(zaya_stream_new(ctx.get(), &r, &st4));
  Owned<zaya_stream> fourth(st4);
  ctx.reset();
  ZREQUIRE_OK(zaya_stream_next(st4, &ev));
  CHECK(ev.token >= 0);
}

TEST_CASE("a context is one thread at a time: re-entry from a callback is ZAYA_ERR_BUSY") {
  auto ctx = make_context(tiny_model(), 2, 64);
  struct Reenter {
    zaya_context* ctx;
    zaya_status decode_status = ZAYA_OK;
    zaya_status length_status = ZAYA_OK;
    static int32_t fn(const zaya_token_event*, void* user) {
      auto* self = static_cast<Reenter*>(user);
      const zaya_batch_token t[] = {{1, 3, 1}};
      self->decode_status = zaya_decode(self->ctx, t, 1);
      int64_t n = 0;
      self->length_status = zaya_sequence_length(self->ctx, 1, &n);
      zaya_context_cancel(self->ctx);  // allowed: ends the generation
      return ZAYA_CONTINUE;
    }
  } reenter{ctx.get()};
  const std::vector<int32_t> prompt = {2, 3};
  zaya_request r = token_request(0, prompt, 10);
  zaya_result res = zaya_result_default();
  ZREQUIRE_OK(zaya_generate(ctx.get(), &r, 1, &Reenter::fn, &reenter, &res));
  CHECK(reenter.decode_status == ZAYA_ERR_BUSY);
  CHECK(reenter.length_status == ZAYA_ERR_BUSY);
  CHECK(res.finish == ZAYA_FINISH_CANCELLED);
  CHECK(res.generated_tokens == 1);
  CHECK(length(ctx.get(), 1) == 0);
}

TEST_CASE("the log callback receives levels and messages") {
  struct Log {
    std::vector<std::pair<int32_t, std::string>> lines;
    static void fn(int32_t level, const char* message, void* user) {
      static_cast<Log*>(user)->lines.emplace_back(level, message);
    }
  } log;
  zaya_set_log_callback(&Log::fn, &log, ZAYA_LOG_DEBUG);
  auto ctx = make_context(tiny_model(), 1, 16);
  zaya_decode(ctx.get(), nullptr, 0);  // fails: logged at DEBUG
  zaya_set_log_callback(nullptr, nullptr, ZAYA_LOG_DEBUG);
  zaya_decode(ctx.get(), nullptr, 0);  // not logged
  bool info = false, debug = false;
  for (const auto& [level, line] : log.lines) {
    info = info || (level == ZAYA_LOG_INFO && line.find("context") != std::string::npos);
    debug = debug || (level == ZAYA_LOG_DEBUG && line.find("zaya_decode") != std::string::npos);
  }
  CHECK(info);
  CHECK(debug);
  CHECK(log.lines.size() == 2);

  Log warn_only;
  zaya_set_log_callback(&Log::fn, &warn_only, ZAYA_LOG_WARN);
  zaya_decode(ctx.get(), nullptr, 0);
  zaya_set_log_callback(nullptr, nullptr, 0);
  CHECK(warn_only.lines.empty());
}

// ---- Markovian RSA ---------------------------------------------------------------------------------

namespace {

struct RsaEvents {
  std::vector<std::string> kinds;
  int stop_at = -1;
  static int32_t fn(const char* json, size_t length, void* user) {
    auto* self = static_cast<RsaEvents*>(user);
    const zaya::Value event = zaya::Value::parse_json(std::string_view(json, length));
    self->kinds.push_back(event.find("kind")->as_string());
    return static_cast<int>(self->kinds.size()) == self->stop_at ? ZAYA_STOP : ZAYA_CONTINUE;
  }
};

zaya::Value rsa_json(zaya_rsa* r, bool text) {
  const char* json = nullptr;
  size_t len = 0;
  if (zaya_rsa_result_json(r, text, &json, &len) != ZAYA_OK) FAIL(zaya_last_error());
  return zaya::Value::parse_json(std::string_view(json, len));
}

}  // namespace

TEST_CASE("Markovian RSA through the C ABI: options by name, progress, cancel, JSON result") {
  zaya_rsa* r = nullptr;
  ZCHECK_STATUS(zaya_rsa_new(tiny_model(), "no-such-preset", &r), ZAYA_ERR_INVALID_ARGUMENT);
  ZCHECK_STATUS(zaya_rsa_new(nullptr, nullptr, &r), ZAYA_ERR_INVALID_ARGUMENT);
  ZREQUIRE_OK(zaya_rsa_new(tiny_model(), "light", &r));
  Owned<zaya_rsa> run(r);
  const std::pair<const char*, const char*> options[] = {
      {"n", "3"}, {"c", "2"}, {"t", "1"}, {"beta", "6"}, {"tau", "4"}, {"seed", "5"}, {"threads", "1"},
      {"temperature", "0.9"}, {"progress_every", "2"}, {"enable_thinking", "default"}, {"tail", "full"},
      {"kv_cache", "f16"}};
  for (const auto& [name, value] : options) ZREQUIRE_OK(zaya_rsa_set(r, name, value));
  ZCHECK_STATUS(zaya_rsa_set(r, "kv_cache", "f8"), ZAYA_ERR_INVALID_ARGUMENT);
  ZCHECK_STATUS(zaya_rsa_set(r, "warp_factor", "9"), ZAYA_ERR_INVALID_ARGUMENT);
  ZCHECK_STATUS(zaya_rsa_set(r, "n", "many"), ZAYA_ERR_INVALID_ARGUMENT);
  ZCHECK_STATUS(zaya_rsa_set(r, "n", "0"), ZAYA_ERR_INVALID_ARGUMENT);
  ZCHECK_STATUS(zaya_rsa_set(r, "temperature", "nan"), ZAYA_ERR_INVALID_ARGUMENT);
  ZCHECK_STATUS(zaya_rsa_set(r, "keep_outputs", "maybe"), ZAYA_ERR_INVALID_ARGUMENT);
  ZCHECK_STATUS(zaya_rsa_set(r, nullptr, "1"), ZAYA_ERR_INVALID_ARGUMENT);
  const char* answer = nullptr;
  ZCHECK_STATUS(zaya_rsa_answer(r, &answer, nullptr), ZAYA_ERR_INVALID_ARGUMENT);  // no run yet

  const std::string question = "What is 2+2? Put the answer in \\boxed{}.";
  RsaEvents events;
  ZREQUIRE_OK(zaya_rsa_run(r, question.data(), question.size(), nullptr, 0, &RsaEvents::fn, &events));
  const zaya::Value result = rsa_json(r, true);
  CHECK(result.find("stopped_by")->as_string() == "done");
  const auto& stages = result.find("stages")->as_array();
  REQUIRE(stages.size() == 2);
  for (const auto& stage : stages) {
    REQUIRE(stage.find("candidates")->size() == 3);
    for (const auto& cand : stage.find("candidates")->as_array()) CHECK(cand.find("generated_tokens")->as_int() <= 6);
  }
  CHECK(stages[1].find("candidates")->as_array()[0].find("sources")->size() == 2);  // C = 2 tails
  REQUIRE(!events.kinds.empty());
  CHECK(events.kinds.front() == "stage_started");
  CHECK(std::count(events.kinds.begin(), events.kinds.end(), "stage_finished") == 2);
  CHECK(std::count(events.kinds.begin(), events.kinds.end(), "candidate_finished") == 6);
  size_t len = 0;
  ZREQUIRE_OK(zaya_rsa_answer(r, &answer, &len));
  CHECK(std::strlen(answer) == len);

  // Same seed, same run.
  ZREQUIRE_OK(zaya_rsa_run(r, question.data(), question.size(), nullptr, 0, nullptr, nullptr));
  const zaya::Value again = rsa_json(r, true);
  for (size_t s = 0; s < 2; ++s)
    for (size_t i = 0; i < 3; ++i)
      CHECK(again.find("stages")->as_array()[s].find("candidates")->as_array()[i].find("text")->as_string() ==
            stages[s].find("candidates")->as_array()[i].find("text")->as_string());

  // The progress callback stops the run: still a result, stopped by cancel.
  RsaEvents stopper;
  stopper.stop_at = 1;
  ZREQUIRE_OK(zaya_rsa_run(r, question.data(), question.size(), nullptr, 0, &RsaEvents::fn, &stopper));
  CHECK(rsa_json(r, false).find("stopped_by")->as_string() == "cancel");

  // Prompt ids verbatim; and an impossible combination (C > N) is refused at run time.
  const std::vector<int32_t> ids = {2, 4, 300, 301, 5, 4};
  ZREQUIRE_OK(zaya_rsa_set(r, "t", "0"));
  ZREQUIRE_OK(zaya_rsa_run(r, nullptr, 0, ids.data(), ids.size(), nullptr, nullptr));
  CHECK(rsa_json(r, false).find("stages")->size() == 1);
  ZREQUIRE_OK(zaya_rsa_set(r, "c", "5"));
  ZCHECK_STATUS(zaya_rsa_run(r, question.data(), question.size(), nullptr, 0, nullptr, nullptr),
                ZAYA_ERR_INVALID_ARGUMENT);
  ZCHECK_STATUS(zaya_rsa_run(r, nullptr, 0, nullptr, 0, nullptr, nullptr), ZAYA_ERR_INVALID_ARGUMENT);
  zaya_rsa_cancel(nullptr);  // ignored
}
