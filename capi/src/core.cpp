// capi/src/core.cpp - versions, status names, the thread-local last error, logging, backends,
// argument helpers and the chat-output parser of the C ABI.
#include "internal.h"

#include <zaya/backend.h>
#include <zaya/chat_output.h>
#include <zaya/json_writer.h>
#include <zaya/utf8.h>

#include <shared_mutex>

namespace zaya::capi {

// ---- last error -----------------------------------------------------------------------------------

namespace {

thread_local std::string t_error;
thread_local const char* t_error_text = "";

}  // namespace

void clear_last_error() noexcept {
  t_error.clear();
  t_error_text = "";
}

void set_last_error(zaya_status status, const char* function, const char* message) noexcept {
  try {
    t_error.assign(message);
    t_error_text = t_error.c_str();
  } catch (...) {
    t_error_text = "out of memory while recording an error";
  }
  logf(ZAYA_LOG_DEBUG, "{} failed ({}): {}", function, zaya_status_name(status), t_error_text);
}

// ---- logging ------------------------------------------------------------------------------------

namespace {

struct LogSink {
  std::shared_mutex mutex;
  zaya_log_fn callback = nullptr;
  void* user_data = nullptr;
  std::atomic<int32_t> min_level{ZAYA_LOG_NONE};
};

LogSink& sink() {
  static LogSink s;
  return s;
}

thread_local bool t_in_log_callback = false;

}  // namespace

bool log_enabled(int32_t level) noexcept {
  return level >= sink().min_level.load(std::memory_order_relaxed) && !t_in_log_callback;
}

void log_message(int32_t level, std::string_view message) noexcept {
  if (!log_enabled(level)) return;
  LogSink& s = sink();
  try {
    std::string line(message);
    std::shared_lock lock(s.mutex);
    if (!s.callback || level < s.min_level.load(std::memory_order_relaxed)) return;
    t_in_log_callback = true;
    s.callback(level, line.c_str(), s.user_data);
    t_in_log_callback = false;
  } catch (...) {
    t_in_log_callback = false;
  }
}

// ---- argument helpers ---------------------------------------------------------------------------

std::string_view text_arg(const char* text, size_t length, const char* name) {
  if (length > kMaxTextBytes)
    c_fail(ZAYA_ERR_INVALID_ARGUMENT, "{}: {} bytes is absurd (limit {})", name, length, kMaxTextBytes);
  if (length && !text) c_fail(ZAYA_ERR_INVALID_ARGUMENT, "{} is NULL but its length is {}", name, length);
  std::string_view view(length ? text : "", length);
  if (size_t bad = utf8::first_invalid(view); bad != view.size())
    c_fail(ZAYA_ERR_INVALID_ARGUMENT, "{} is not valid UTF-8 (byte {})", name, bad);
  return view;
}

std::string_view cstring_arg(const char* text, const char* name, size_t limit) {
  if (!text) c_fail(ZAYA_ERR_INVALID_ARGUMENT, "{} is NULL", name);
  const void* nul = std::memchr(text, 0, limit + 1);
  if (!nul) c_fail(ZAYA_ERR_INVALID_ARGUMENT, "{} is longer than {} bytes", name, limit);
  return std::string_view(text, static_cast<size_t>(static_cast<const char*>(nul) - text));
}

void write_text(std::string_view text, char* buffer, size_t capacity, size_t* out_length) {
  if (capacity && !buffer) c_fail(ZAYA_ERR_INVALID_ARGUMENT, "text buffer is NULL but its capacity is {}", capacity);
  if (out_length) *out_length = text.size();
  if (capacity < text.size() + 1) {
    if (capacity) buffer[0] = '\0';
    c_fail(ZAYA_ERR_BUFFER_TOO_SMALL, "the text needs {} bytes and a NUL, the buffer holds {}", text.size(), capacity);
  }
  if (!text.empty()) std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
}

void write_ids(const std::vector<int32_t>& ids, int32_t* buffer, size_t capacity, size_t* out_count) {
  if (capacity && !buffer) c_fail(ZAYA_ERR_INVALID_ARGUMENT, "id buffer is NULL but its capacity is {}", capacity);
  if (out_count) *out_count = ids.size();
  if (capacity < ids.size())
    c_fail(ZAYA_ERR_BUFFER_TOO_SMALL, "{} ids do not fit a buffer of {}", ids.size(), capacity);
  if (!ids.empty()) std::memcpy(buffer, ids.data(), ids.size() * sizeof(int32_t));
}

// ---- sampling parameters --------------------------------------------------------------------------

namespace {

zaya_sampling_params from_sampling(const SamplingParams& s) noexcept {
  zaya_sampling_params p;
  std::memset(&p, 0, sizeof p);
  p.struct_size = sizeof p;
  p.temperature = s.temperature;
  p.top_k = s.top_k;
  p.top_p = s.top_p;
  p.min_p = s.min_p;
  p.repetition_penalty = s.repetition_penalty;
  p.presence_penalty = s.presence_penalty;
  p.frequency_penalty = s.frequency_penalty;
  p.penalty_last_n = s.penalty_last_n;
  p.greedy = s.greedy ? 1 : 0;
  p.temperature_placement = static_cast<int32_t>(s.temperature_placement);
  p.seed = s.seed;
  return p;
}

}  // namespace

zaya_sampling_params default_sampling_params() noexcept {
  zaya_sampling_params p;
  std::memset(&p, 0, sizeof p);
  try {
    p = from_sampling(SamplingParams::defaults());
  } catch (...) {
  }
  return p;
}

SamplingParams to_sampling(const zaya_sampling_params& p) {
  SamplingParams s;
  s.temperature = p.temperature;
  s.top_k = p.top_k;
  s.top_p = p.top_p;
  s.min_p = p.min_p;
  s.repetition_penalty = p.repetition_penalty;
  s.presence_penalty = p.presence_penalty;
  s.frequency_penalty = p.frequency_penalty;
  s.penalty_last_n = p.penalty_last_n;
  s.greedy = p.greedy != 0;
  if (p.temperature_placement != ZAYA_TEMPERATURE_BEFORE_FILTERS && p.temperature_placement != ZAYA_TEMPERATURE_AFTER_FILTERS)
    c_fail(ZAYA_ERR_INVALID_ARGUMENT, "sampling.temperature_placement = {} (use ZAYA_TEMPERATURE_*)",
           p.temperature_placement);
  s.temperature_placement = static_cast<TemperaturePlacement>(p.temperature_placement);
  s.seed = p.seed;
  require_array(p.logit_bias_ids, p.n_logit_bias, kMaxListEntries, "sampling.logit_bias_ids");
  require_array(p.logit_bias_values, p.n_logit_bias, kMaxListEntries, "sampling.logit_bias_values");
  require_array(p.banned_tokens, p.n_banned_tokens, kMaxListEntries, "sampling.banned_tokens");
  for (size_t i = 0; i < p.n_logit_bias; ++i) s.logit_bias.emplace_back(p.logit_bias_ids[i], p.logit_bias_values[i]);
  s.banned_tokens.assign(p.banned_tokens, p.banned_tokens + p.n_banned_tokens);
  s.validate();
  return s;
}

// ---- cancel ----------------------------------------------------------------------------------------

void cancel_context(ContextState& state) noexcept {
  std::lock_guard lock(state.mutex);
  state.epoch.fetch_add(1, std::memory_order_relaxed);
  if (state.active) state.context->cancel();
}

}  // namespace zaya::capi

using namespace zaya;
using namespace zaya::capi;

// The backends found at first use (C++ linkage: it returns a C++ type).
namespace {

const std::vector<std::pair<std::string, std::string>>& backends() {
  static const auto list = list_backends();
  return list;
}

}  // namespace

extern "C" {

// ---- versions --------------------------------------------------------------------------------------

ZAYA_API const char* zaya_version(void) { return ZAYA_VERSION_STRING; }
ZAYA_API uint32_t zaya_version_number(void) { return ZAYA_VERSION_NUMBER; }
ZAYA_API uint32_t zaya_abi_version(void) { return ZAYA_ABI_VERSION; }

// ---- errors ----------------------------------------------------------------------------------------

ZAYA_API const char* zaya_status_name(zaya_status status) {
  switch (status) {
    case ZAYA_OK: return "ok";
    case ZAYA_ERR_BUFFER_TOO_SMALL: return "buffer too small";
    case ZAYA_ERR_BUSY: return "busy";
    default: break;
  }
  if (status > 0 && status <= static_cast<zaya_status>(ErrorCode::internal))
    return error_code_name(static_cast<ErrorCode>(status));
  return "unknown status";
}

ZAYA_API const char* zaya_last_error(void) { return t_error_text; }

// ---- logging ---------------------------------------------------------------------------------------

ZAYA_API void zaya_set_log_callback(zaya_log_fn callback, void* user_data, int32_t min_level) {
  guard_void("zaya_set_log_callback", [&] {
    if (t_in_log_callback) return;  // documented: ignored from inside a log callback
    LogSink& s = sink();
    std::unique_lock lock(s.mutex);  // waits for callbacks running on other threads
    s.callback = callback;
    s.user_data = user_data;
    s.min_level.store(callback ? std::clamp<int32_t>(min_level, ZAYA_LOG_DEBUG, ZAYA_LOG_NONE) : ZAYA_LOG_NONE,
                      std::memory_order_relaxed);
  });
}

// ---- backends --------------------------------------------------------------------------------------

ZAYA_API size_t zaya_backend_count(void) {
  size_t n = 0;
  guard("zaya_backend_count", [&] { n = backends().size(); });
  return n;
}

ZAYA_API zaya_status zaya_backend_info(size_t index, const char** name, const char** status) {
  return guard("zaya_backend_info", [&] {
    const auto& list = backends();
    if (index >= list.size())
      c_fail(ZAYA_ERR_OUT_OF_RANGE, "backend index {} (this build has {})", index, list.size());
    if (name) *name = list[index].first.c_str();
    if (status) *status = list[index].second.c_str();
  });
}

// ---- chat output -----------------------------------------------------------------------------------

ZAYA_API zaya_status zaya_parse_chat_output(const char* text, size_t text_length, int32_t starts_in_reasoning,
                                            const char** out_json, size_t* out_length) {
  static thread_local std::string result;
  return guard("zaya_parse_chat_output", [&] {
    require_out(out_json, "out_json");
    const std::string_view input = text_arg(text, text_length, "text");
    ChatOutputOptions options;
    options.starts_in_reasoning = starts_in_reasoning != 0;
    const ChatOutput parsed = parse_chat_output(input, options);
    std::string out = "{\"reasoning\":";
    json::append_string(out, parsed.reasoning);
    out += ",\"content\":";
    json::append_string(out, parsed.content);
    out += parsed.reasoning_started ? ",\"reasoning_started\":true" : ",\"reasoning_started\":false";
    out += parsed.reasoning_finished ? ",\"reasoning_finished\":true" : ",\"reasoning_finished\":false";
    out += ",\"tool_calls\":[";
    for (size_t i = 0; i < parsed.tool_calls.size(); ++i) {
      if (i) out += ',';
      out += "{\"name\":";
      json::append_string(out, parsed.tool_calls[i].name);
      out += ",\"arguments\":[";
      for (size_t j = 0; j < parsed.tool_calls[i].arguments.size(); ++j) {
        if (j) out += ',';
        out += "{\"name\":";
        json::append_string(out, parsed.tool_calls[i].arguments[j].name);
        out += ",\"value\":";
        json::append_string(out, parsed.tool_calls[i].arguments[j].value);
        out += '}';
      }
      out += "]}";
    }
    out += "],\"malformed_tool_calls\":[";
    for (size_t i = 0; i < parsed.malformed_tool_calls.size(); ++i) {
      if (i) out += ',';
      out += "{\"raw_text\":";
      json::append_string(out, parsed.malformed_tool_calls[i].raw_text);
      out += ",\"reason\":";
      json::append_string(out, parsed.malformed_tool_calls[i].reason);
      out += '}';
    }
    out += "]}";
    result = std::move(out);
    *out_json = result.c_str();
    if (out_length) *out_length = result.size();
  });
}

}  // extern "C"
