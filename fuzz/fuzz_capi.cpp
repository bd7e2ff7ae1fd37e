// fuzz/fuzz_capi.cpp - the C ABI's text entry points, driven the way a host program would drive
// them with text from its users: tokenize / detokenize / token lookup, streaming detokenization,
// chat-template parse and render (template source and messages JSON), chat-output parsing, and a
// short generation from a text prompt with stop strings on the tiny test model + ChatML tokenizer.
// Input: byte 0 picks the entry point, the rest is its text (or ids).
// Accepted: every call returns a documented status (never a crash, an abort or an exception
// crossing the boundary), outputs obey the buffer rule, and zaya_last_error() is a string.
#include "fuzz_support.h"

#include <zaya.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace {

struct Fixture {
  zaya_model* model = nullptr;
  zaya_tokenizer* tokenizer = nullptr;
  zaya_chat_template* chat = nullptr;
  zaya_context* context = nullptr;
};

const Fixture& fixture() {
  static const Fixture f = [] {
    Fixture out;
    // The tiny checkpoint with the tiny ChatML tokenizer next to it, assembled in a temp dir.
    const auto dir = std::filesystem::temp_directory_path() / "zaya-fuzz-capi-model";
    std::filesystem::create_directories(dir);
    const auto data = zaya::fuzz::data_dir();
    const auto copy = [&](const std::filesystem::path& from) {
      std::filesystem::copy_file(from, dir / from.filename(), std::filesystem::copy_options::overwrite_existing);
    };
    copy(data / "checkpoints" / "tiny-a" / "native-f32" / "config.json");
    copy(data / "checkpoints" / "tiny-a" / "native-f32" / "model.safetensors");
    copy(data / "tiny-chat" / "tokenizer.json");
    copy(data / "tiny-chat" / "tokenizer_config.json");
    if (zaya_model_load(dir.string().c_str(), nullptr, &out.model) != ZAYA_OK ||
        zaya_model_get_tokenizer(out.model, &out.tokenizer) != ZAYA_OK ||
        zaya_chat_template_from_tokenizer(out.tokenizer, &out.chat) != ZAYA_OK) {
      std::fprintf(stderr, "fuzz_capi: fixture failed: %s\n", zaya_last_error());
      std::abort();
    }
    zaya_context_params cp = zaya_context_params_default();
    cp.max_context = 48;
    cp.threads = 1;
    cp.max_sequences = 2;
    if (zaya_context_new(out.model, &cp, &out.context) != ZAYA_OK) std::abort();
    return out;
  }();
  return f;
}

bool known(zaya_status s) {
  return (s >= ZAYA_OK && s <= ZAYA_ERR_INTERNAL && s != ZAYA_ERR_INTERNAL) || s == ZAYA_ERR_BUFFER_TOO_SMALL;
}

void check_status(zaya_status s) {
  if (!known(s)) {
    std::fprintf(stderr, "fuzz_capi: status %d: %s\n", static_cast<int>(s), zaya_last_error());
    ZAYA_FUZZ_CHECK(false);
  }
  ZAYA_FUZZ_CHECK(zaya_last_error() != nullptr);
}

// Detokenize with a buffer of every interesting size: the buffer rule must hold for each.
void detokenize_all_sizes(const zaya_tokenizer* tok, const std::vector<int32_t>& ids, int32_t skip) {
  size_t needed = 0;
  zaya_status s = zaya_detokenize(tok, ids.data(), ids.size(), skip, nullptr, 0, &needed);
  check_status(s);
  if (s != ZAYA_OK && s != ZAYA_ERR_BUFFER_TOO_SMALL) return;
  for (size_t capacity : {size_t{1}, needed, needed + 1}) {
    std::vector<char> buffer(capacity + 1, '\x7f');
    size_t length = 0;
    s = zaya_detokenize(tok, ids.data(), ids.size(), skip, buffer.data(), capacity, &length);
    check_status(s);
    ZAYA_FUZZ_CHECK(length == needed);
    ZAYA_FUZZ_CHECK(buffer[capacity] == '\x7f');  // nothing written past the capacity
    if (capacity >= needed + 1) {
      ZAYA_FUZZ_CHECK(s == ZAYA_OK && buffer[needed] == '\0');
    } else {
      ZAYA_FUZZ_CHECK(s == ZAYA_ERR_BUFFER_TOO_SMALL && (capacity == 0 || buffer[0] == '\0'));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)fixture();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fixture& f = fixture();
  zaya::fuzz::Input in(data, size);
  const uint8_t op = in.byte();
  const std::string_view text = in.rest();
  switch (op % 8) {
    case 0: {  // tokenize (+ round trip through detokenize)
      size_t count = 0;
      zaya_status s = zaya_tokenize(f.tokenizer, text.data(), text.size(), op & 8, nullptr, 0, &count);
      check_status(s);
      if (s != ZAYA_ERR_BUFFER_TOO_SMALL && s != ZAYA_OK) return 0;
      std::vector<int32_t> ids(count + 1, -7);
      size_t again = 0;
      s = zaya_tokenize(f.tokenizer, text.data(), text.size(), op & 8, ids.data(), count, &again);
      check_status(s);
      ZAYA_FUZZ_CHECK(s == ZAYA_OK && again == count && ids[count] == -7);
      ids.pop_back();
      detokenize_all_sizes(f.tokenizer, ids, op & 16);
      return 0;
    }
    case 1: {  // detokenize arbitrary ids, one-shot and streaming
      std::vector<int32_t> ids(text.size() / 4);
      if (!ids.empty()) std::memcpy(ids.data(), text.data(), ids.size() * 4);
      for (int32_t& id : ids)
        if (!(id & 0x40000000)) id = static_cast<int32_t>(static_cast<uint32_t>(id) % 400);  // mostly near the vocabulary
      detokenize_all_sizes(f.tokenizer, ids, op & 8);
      zaya_detokenizer* d = nullptr;
      check_status(zaya_detokenizer_new(f.tokenizer, op & 8, &d));
      for (int32_t id : ids) {
        const char* piece = nullptr;
        size_t length = 0;
        const zaya_status s = zaya_detokenizer_push(d, id, &piece, &length);
        check_status(s);
        if (s == ZAYA_OK) ZAYA_FUZZ_CHECK(piece != nullptr && std::strlen(piece) <= length);
      }
      const char* rest = nullptr;
      size_t length = 0;
      check_status(zaya_detokenizer_finish(d, &rest, &length));
      zaya_detokenizer_free(d);
      return 0;
    }
    case 2: {  // token text -> id
      int32_t id = 0;
      check_status(zaya_tokenizer_token_id(f.tokenizer, text.data(), text.size(), &id));
      return 0;
    }
    case 3: {  // a template from the user, rendered over a fixed conversation
      zaya_chat_template* t = nullptr;
      zaya_status s = zaya_chat_template_parse(text.data(), text.size(), &t);
      check_status(s);
      if (s != ZAYA_OK) return 0;
      const std::string messages = R"([{"role":"user","content":"hi"},{"role":"assistant","content":"ok"}])";
      const char* out = nullptr;
      size_t length = 0;
      check_status(zaya_chat_template_render(t, messages.data(), messages.size(), nullptr, &out, &length));
      zaya_chat_template_free(t);
      return 0;
    }
    case 4: {  // messages / tools / extra JSON from the user, rendered by the model's template
      const std::string_view messages = in.part('\0');
      const std::string_view tools = in.part('\0');
      const std::string_view extra = in.rest();
      zaya_chat_params params = zaya_chat_params_default();
      params.add_generation_prompt = op & 8 ? 1 : 0;
      if (!tools.empty()) {
        params.tools_json = tools.data();
        params.tools_json_length = tools.size();
      }
      if (!extra.empty()) {
        params.extra_json = extra.data();
        params.extra_json_length = extra.size();
      }
      const char* out = nullptr;
      size_t length = 0;
      const zaya_status s =
          zaya_chat_template_render(f.chat, messages.data(), messages.size(), &params, &out, &length);
      check_status(s);
      if (s == ZAYA_OK) ZAYA_FUZZ_CHECK(out != nullptr && out[length] == '\0');
      return 0;
    }
    case 5: {  // generated text -> reasoning / content / tool calls JSON
      const char* json = nullptr;
      size_t length = 0;
      const zaya_status s = zaya_parse_chat_output(text.data(), text.size(), op & 8, &json, &length);
      check_status(s);
      if (s == ZAYA_OK) ZAYA_FUZZ_CHECK(json != nullptr && json[length] == '\0');
      return 0;
    }
    case 6: {  // a text prompt and stop strings, generated on the tiny model
      const std::string prompt(in.part('\0'));
      std::vector<std::string> stops;
      while (!in.empty() && stops.size() < 4) stops.emplace_back(in.part('\0'));
      std::vector<const char*> stop_ptrs;
      for (const auto& s : stops) stop_ptrs.push_back(s.c_str());
      zaya_sequence_clear(f.context, 0);
      zaya_sampling_params sp;
      zaya_sampling_params_init_greedy(&sp, sizeof sp);
      zaya_request r = zaya_request_default();
      r.prompt_text = prompt.data();
      r.prompt_text_length = prompt.size();
      r.add_special_tokens = op & 8 ? 1 : 0;
      r.max_tokens = 6;
      r.sampling = &sp;
      r.stop_strings = stop_ptrs.data();
      r.n_stop_strings = stop_ptrs.size();
      zaya_result result = zaya_result_default();
      const zaya_status s = zaya_generate(
          f.context, &r, 1,
          [](const zaya_token_event* e, void*) -> int32_t {
            ZAYA_FUZZ_CHECK(e->text != nullptr && std::strlen(e->text) <= e->text_length && e->text[e->text_length] == '\0');
            return 0;
          },
          nullptr, &result);
      check_status(s);
      return 0;
    }
    default: {  // saved sequence state from an untrusted file
      check_status(zaya_sequence_load(f.context, 1, text.data(), text.size()));
      return 0;
    }
  }
}
