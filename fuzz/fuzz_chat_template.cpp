// fuzz/fuzz_chat_template.cpp - parsing and rendering Jinja chat templates.
// Input: the template source, optionally followed by a NUL byte and a JSON object of variables
// (otherwise a small conversation is used, as apply_chat_template would pass it).
// Limits are tighter than the defaults so that each execution stays fast; the depth limit is
// the default one, so native stack use at the deepest allowed nesting is exercised under ASan.
// Accepted: template_error / limit_exceeded (bad_format for the variables' JSON), or output
// within max_output_bytes.
#include "fuzz_support.h"

#include <zaya/chat_template.h>
#include <zaya/value.h>

#include <ctime>
#include <optional>

namespace {

const zaya::Value& default_variables() {
  static const zaya::Value v = zaya::Value::parse_json(R"({
    "messages": [
      {"role": "system", "content": "You are helpful."},
      {"role": "user", "content": "Hi <b>there</b> \u00e9\ud83d\ude00"},
      {"role": "assistant", "content": "Hello!", "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}}]},
      {"role": "tool", "content": "{\"temp\": 21.5}"},
      {"role": "user", "content": [{"type": "text", "text": "and tomorrow?"}]}
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
    "documents": null,
    "add_generation_prompt": true,
    "bos_token": "<bos>", "eos_token": "<eos>", "enable_thinking": false
  })");
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zaya;
  fuzz::Input in(data, size);
  const std::string_view source = in.part('\0');
  const bool has_variables = !in.empty();
  TemplateLimits limits;
  limits.max_output_bytes = size_t{1} << 20;
  limits.max_steps = 200'000;
  limits.max_seconds = 2.0;
  limits.max_allocated_bytes = size_t{64} << 20;
  std::optional<ChatTemplate> tmpl;
  try {
    tmpl = ChatTemplate::parse(source, limits);
  } catch (const Error& e) {
    fuzz::expect_code(e, {ErrorCode::template_error, ErrorCode::limit_exceeded});
    return 0;
  }
  Value variables;
  if (has_variables) {
    try {
      variables = Value::parse_json(in.rest());
    } catch (const Error& e) {
      fuzz::expect_code(e, {ErrorCode::bad_format});
      return 0;
    }
    if (!variables.is_object()) variables = default_variables();
  } else {
    variables = default_variables();
  }
  RenderOptions options;
  std::tm now{};
  now.tm_year = 125;
  now.tm_mon = 5;
  now.tm_mday = 15;
  options.now = now;
  try {
    const std::string out = tmpl->render(variables, options);
    ZAYA_FUZZ_CHECK(out.size() <= limits.max_output_bytes);
  } catch (const Error& e) {
    fuzz::expect_code(e, {ErrorCode::template_error, ErrorCode::limit_exceeded});
  }
  return 0;
}
