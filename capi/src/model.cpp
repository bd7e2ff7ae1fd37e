// capi/src/model.cpp - models, tokenizers, streaming detokenizers and chat templates.
#include "internal.h"

#include <zaya/model_tokenizer.h>

#include <filesystem>

using namespace zaya;
using namespace zaya::capi;

namespace {

zaya_model_params default_model_params() noexcept {
  zaya_model_params p;
  std::memset(&p, 0, sizeof p);
  p.struct_size = sizeof p;
  p.backend = nullptr;
  p.skip_semantics = ZAYA_SKIP_SCALE_INPUT;
  p.load_tokenizer = 1;
  return p;
}

zaya_chat_params default_chat_params() noexcept {
  zaya_chat_params p;
  std::memset(&p, 0, sizeof p);
  p.struct_size = sizeof p;
  p.add_generation_prompt = 1;
  return p;
}

// A JSON argument parsed into a Value (bad_format with the reason on malformed input).
Value json_arg(const char* text, size_t length, const char* name) {
  const std::string_view view = text_arg(text, length, name);
  try {
    return Value::parse_json(view);
  } catch (const Error& e) {
    c_fail(static_cast<zaya_status>(e.code()), "{}: {}", name, e.what());
  }
}

}  // namespace

extern "C" {

// ---- model -----------------------------------------------------------------------------------------

ZAYA_API zaya_status zaya_model_params_init(zaya_model_params* params, size_t struct_size) {
  return guard("zaya_model_params_init",
               [&] { init_struct(params, struct_size, default_model_params(), kModelParamsV1, "zaya_model_params"); });
}

ZAYA_API zaya_status zaya_model_load(const char* directory, const zaya_model_params* params, zaya_model** out_model) {
  return guard("zaya_model_load", [&] {
    require_out(out_model, "out_model");
    *out_model = nullptr;
    const std::string_view dir = cstring_arg(directory, "directory");
    const zaya_model_params p = read_struct(params, default_model_params(), kModelParamsV1, "zaya_model_params");

    ModelOptions options;
    options.backend = p.backend ? std::string(cstring_arg(p.backend, "backend", 64)) : "auto";
    switch (p.skip_semantics) {
      case ZAYA_SKIP_SCALE_INPUT: options.skip = SkipSemantics::scale_input; break;
      case ZAYA_SKIP_ZERO: options.skip = SkipSemantics::zero; break;
      default: c_fail(ZAYA_ERR_INVALID_ARGUMENT, "skip_semantics = {} (use ZAYA_SKIP_*)", p.skip_semantics);
    }
    if (p.head_shortlist < 0) c_fail(ZAYA_ERR_INVALID_ARGUMENT, "head_shortlist = {} (0: off, K > 0: K candidates)", p.head_shortlist);
    options.head_shortlist = static_cast<size_t>(p.head_shortlist);
    if (p.progress) {
      const zaya_progress_fn fn = p.progress;
      void* user_data = p.progress_user_data;
      options.progress = [fn, user_data](float fraction) { return fn(fraction, user_data) == ZAYA_CONTINUE; };
    }

    auto state = std::make_shared<ModelState>();
    state->model = Model::load(std::filesystem::path(std::string(dir)), options);
    if (p.load_tokenizer) {
      if (p.tokenizer_path) {
        const std::string_view path = cstring_arg(p.tokenizer_path, "tokenizer_path");
        state->tokenizer = std::make_shared<const Tokenizer>(load_model_tokenizer(std::filesystem::path(std::string(path))));
      } else if (model_has_tokenizer(std::filesystem::path(std::string(dir)))) {
        state->tokenizer = std::make_shared<const Tokenizer>(load_model_tokenizer(std::filesystem::path(std::string(dir))));
      }
    }
    state->info = state->model->info();
    logf(ZAYA_LOG_INFO, "loaded model {} ({} tensors, {}): backend {}, {}", state->info.directory.string(),
         state->info.tensor_count, state->info.stored_dtypes, state->info.backend,
         state->tokenizer ? "with tokenizer" : "no tokenizer");
    if (!state->info.backend_log.empty())
      logf(options.backend == "auto" ? ZAYA_LOG_INFO : ZAYA_LOG_WARN, "backend: {}", state->info.backend_log);

    auto* handle = new zaya_model;
    handle->state = std::move(state);
    *out_model = handle;
  });
}

ZAYA_API void zaya_model_free(zaya_model* model) { free_handle(model); }

ZAYA_API zaya_status zaya_model_get_info(const zaya_model* model, zaya_model_info* info) {
  return guard("zaya_model_get_info", [&] {
    const ModelState& m = *handle(model).state;
    require_out(info, "info");
    zaya_model_info out;
    std::memset(&out, 0, sizeof out);
    const ModelConfig& c = m.model->config();
    out.vocab_size = c.vocab;
    out.hidden_size = c.hidden;
    out.layers = c.blocks;
    out.experts = c.experts;
    out.max_position = c.max_position;
    out.bos_id = c.bos_id;
    out.eos_id = c.eos_ids.empty() ? -1 : c.eos_ids.front();
    out.total_params = m.info.total_params;
    out.active_params = m.info.active_params;
    out.stored_bytes = m.info.stored_bytes;
    out.has_tokenizer = m.tokenizer ? 1 : 0;
    out.has_chat_template = m.tokenizer && !m.tokenizer->chat_template().empty() ? 1 : 0;
    out.backend = m.info.backend.c_str();
    out.backend_log = m.info.backend_log.c_str();
    out.directory = m.info.directory.c_str();
    out.stored_dtypes = m.info.stored_dtypes.c_str();
    out.head_shortlist_bytes = m.info.head_shortlist_bytes;
    write_struct(info, out, kModelInfoV1, "zaya_model_info");
  });
}

ZAYA_API zaya_status zaya_model_get_tokenizer(const zaya_model* model, zaya_tokenizer** out_tokenizer) {
  return guard("zaya_model_get_tokenizer", [&] {
    const ModelState& m = *handle(model).state;
    require_out(out_tokenizer, "out_tokenizer");
    *out_tokenizer = nullptr;
    if (!m.tokenizer) return;
    auto* h = new zaya_tokenizer;
    h->tokenizer = m.tokenizer;
    *out_tokenizer = h;
  });
}

// ---- tokenizer -------------------------------------------------------------------------------------

ZAYA_API zaya_status zaya_tokenizer_load(const char* path, zaya_tokenizer** out_tokenizer) {
  return guard("zaya_tokenizer_load", [&] {
    require_out(out_tokenizer, "out_tokenizer");
    *out_tokenizer = nullptr;
    const std::string_view p = cstring_arg(path, "path");
    auto tokenizer = std::make_shared<const Tokenizer>(load_model_tokenizer(std::filesystem::path(std::string(p))));
    auto* h = new zaya_tokenizer;
    h->tokenizer = std::move(tokenizer);
    *out_tokenizer = h;
  });
}

ZAYA_API void zaya_tokenizer_free(zaya_tokenizer* tokenizer) { free_handle(tokenizer); }

ZAYA_API zaya_status zaya_tokenize(const zaya_tokenizer* tokenizer, const char* text, size_t text_length,
                                   int32_t add_special_tokens, int32_t* ids, size_t capacity, size_t* out_count) {
  return guard("zaya_tokenize", [&] {
    const Tokenizer& t = *handle(tokenizer).tokenizer;
    const std::string_view input = text_arg(text, text_length, "text");
    write_ids(t.encode(input, add_special_tokens != 0), ids, capacity, out_count);
  });
}

ZAYA_API zaya_status zaya_detokenize(const zaya_tokenizer* tokenizer, const int32_t* ids, size_t count,
                                     int32_t skip_special_tokens, char* text, size_t capacity, size_t* out_length) {
  return guard("zaya_detokenize", [&] {
    const Tokenizer& t = *handle(tokenizer).tokenizer;
    require_array(ids, count, kMaxTokens, "ids");
    const std::string decoded = t.decode(std::span<const int32_t>(ids, count), skip_special_tokens != 0);
    write_text(decoded, text, capacity, out_length);
  });
}

ZAYA_API zaya_status zaya_tokenizer_vocab_size(const zaya_tokenizer* tokenizer, size_t* out_size) {
  return guard("zaya_tokenizer_vocab_size", [&] {
    const Tokenizer& t = *handle(tokenizer).tokenizer;
    require_out(out_size, "out_size");
    *out_size = t.vocab_size();
  });
}

ZAYA_API zaya_status zaya_tokenizer_token_text(const zaya_tokenizer* tokenizer, int32_t id, char* text,
                                               size_t capacity, size_t* out_length) {
  return guard("zaya_tokenizer_token_text", [&] {
    const Tokenizer& t = *handle(tokenizer).tokenizer;
    write_text(t.id_to_token(id), text, capacity, out_length);
  });
}

ZAYA_API zaya_status zaya_tokenizer_token_id(const zaya_tokenizer* tokenizer, const char* token, size_t token_length,
                                             int32_t* out_id) {
  return guard("zaya_tokenizer_token_id", [&] {
    const Tokenizer& t = *handle(tokenizer).tokenizer;
    require_out(out_id, "out_id");
    const auto id = t.token_to_id(text_arg(token, token_length, "token"));
    *out_id = id ? *id : -1;
  });
}

ZAYA_API zaya_status zaya_tokenizer_is_special(const zaya_tokenizer* tokenizer, int32_t id, int32_t* out_special) {
  return guard("zaya_tokenizer_is_special", [&] {
    const Tokenizer& t = *handle(tokenizer).tokenizer;
    require_out(out_special, "out_special");
    if (id < 0 || static_cast<size_t>(id) >= t.vocab_size())
      c_fail(ZAYA_ERR_OUT_OF_RANGE, "token id {} outside [0, {})", id, t.vocab_size());
    *out_special = t.is_special(id) ? 1 : 0;
  });
}

ZAYA_API zaya_status zaya_tokenizer_special_id(const zaya_tokenizer* tokenizer, int32_t which, int32_t* out_id) {
  return guard("zaya_tokenizer_special_id", [&] {
    const Tokenizer& t = *handle(tokenizer).tokenizer;
    require_out(out_id, "out_id");
    const std::optional<SpecialToken>* token = nullptr;
    switch (which) {
      case ZAYA_TOKEN_BOS: token = &t.bos_token(); break;
      case ZAYA_TOKEN_EOS: token = &t.eos_token(); break;
      case ZAYA_TOKEN_PAD: token = &t.pad_token(); break;
      case ZAYA_TOKEN_UNK: token = &t.unk_token(); break;
      default: c_fail(ZAYA_ERR_INVALID_ARGUMENT, "which = {} (use ZAYA_TOKEN_*)", which);
    }
    *out_id = (*token && (*token)->id) ? *(*token)->id : -1;
  });
}

// ---- streaming detokenizer -------------------------------------------------------------------------

ZAYA_API zaya_status zaya_detokenizer_new(const zaya_tokenizer* tokenizer, int32_t skip_special_tokens,
                                          zaya_detokenizer** out_detokenizer) {
  return guard("zaya_detokenizer_new", [&] {
    const auto& t = handle(tokenizer).tokenizer;
    require_out(out_detokenizer, "out_detokenizer");
    *out_detokenizer = nullptr;
    auto h = std::make_unique<zaya_detokenizer>();
    h->tokenizer = t;
    h->decoder.emplace(*t, skip_special_tokens != 0);
    *out_detokenizer = h.release();
  });
}

ZAYA_API void zaya_detokenizer_free(zaya_detokenizer* detokenizer) { free_handle(detokenizer); }

ZAYA_API zaya_status zaya_detokenizer_push(zaya_detokenizer* detokenizer, int32_t id, const char** out_text,
                                           size_t* out_length) {
  return guard("zaya_detokenizer_push", [&] {
    zaya_detokenizer& d = handle(detokenizer);
    BusyLease lease(d.busy, "zaya_detokenizer");
    require_out(out_text, "out_text");
    d.text = d.decoder->push(id);
    *out_text = d.text.c_str();
    if (out_length) *out_length = d.text.size();
  });
}

ZAYA_API zaya_status zaya_detokenizer_finish(zaya_detokenizer* detokenizer, const char** out_text,
                                             size_t* out_length) {
  return guard("zaya_detokenizer_finish", [&] {
    zaya_detokenizer& d = handle(detokenizer);
    BusyLease lease(d.busy, "zaya_detokenizer");
    require_out(out_text, "out_text");
    d.text = d.decoder->finish();
    *out_text = d.text.c_str();
    if (out_length) *out_length = d.text.size();
  });
}

// ---- chat templates --------------------------------------------------------------------------------

ZAYA_API zaya_status zaya_chat_params_init(zaya_chat_params* params, size_t struct_size) {
  return guard("zaya_chat_params_init",
               [&] { init_struct(params, struct_size, default_chat_params(), kChatParamsV1, "zaya_chat_params"); });
}

ZAYA_API zaya_status zaya_chat_template_from_tokenizer(const zaya_tokenizer* tokenizer,
                                                       zaya_chat_template** out_template) {
  return guard("zaya_chat_template_from_tokenizer", [&] {
    const Tokenizer& t = *handle(tokenizer).tokenizer;
    require_out(out_template, "out_template");
    *out_template = nullptr;
    if (t.chat_template().empty()) c_fail(ZAYA_ERR_UNSUPPORTED, "the tokenizer has no chat template");
    auto h = std::make_unique<zaya_chat_template>();
    h->chat_template.emplace(ChatTemplate::parse(t.chat_template()));
    const std::pair<const char*, const std::optional<SpecialToken>*> specials[] = {
        {"bos_token", &t.bos_token()}, {"eos_token", &t.eos_token()}, {"pad_token", &t.pad_token()},
        {"unk_token", &t.unk_token()}};
    for (const auto& [name, token] : specials)
      if (*token) h->specials[name] = Value((*token)->text);
    *out_template = h.release();
  });
}

ZAYA_API zaya_status zaya_chat_template_parse(const char* source, size_t source_length,
                                              zaya_chat_template** out_template) {
  return guard("zaya_chat_template_parse", [&] {
    require_out(out_template, "out_template");
    *out_template = nullptr;
    const std::string_view text = text_arg(source, source_length, "source");
    auto h = std::make_unique<zaya_chat_template>();
    h->chat_template.emplace(ChatTemplate::parse(text));
    *out_template = h.release();
  });
}

ZAYA_API void zaya_chat_template_free(zaya_chat_template* chat_template) { free_handle(chat_template); }

ZAYA_API zaya_status zaya_chat_template_render(zaya_chat_template* chat_template, const char* messages_json,
                                               size_t messages_json_length, const zaya_chat_params* params,
                                               const char** out_text, size_t* out_length) {
  return guard("zaya_chat_template_render", [&] {
    zaya_chat_template& h = handle(chat_template);
    BusyLease lease(h.busy, "zaya_chat_template");
    require_out(out_text, "out_text");
    const zaya_chat_params p = read_struct(params, default_chat_params(), kChatParamsV1, "zaya_chat_params");
    const Value messages = json_arg(messages_json, messages_json_length, "messages_json");
    if (!messages.is_array()) c_fail(ZAYA_ERR_INVALID_ARGUMENT, "messages_json must be a JSON array of messages");
    Value tools;
    if (p.tools_json) {
      tools = json_arg(p.tools_json, p.tools_json_length, "tools_json");
      if (!tools.is_array() && !tools.is_null()) c_fail(ZAYA_ERR_INVALID_ARGUMENT, "tools_json must be a JSON array");
    }
    Value extra = h.specials;
    if (p.extra_json) {
      const Value more = json_arg(p.extra_json, p.extra_json_length, "extra_json");
      if (!more.is_object()) c_fail(ZAYA_ERR_INVALID_ARGUMENT, "extra_json must be a JSON object");
      for (const auto& [key, value] : more.as_object()) extra[key] = value;
    }
    h.text = h.chat_template->render_chat(messages, tools, p.add_generation_prompt != 0, extra);
    *out_text = h.text.c_str();
    if (out_length) *out_length = h.text.size();
  });
}

}  // extern "C"
