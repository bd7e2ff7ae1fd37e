// zaya template render [--max-output-bytes N] [--max-depth N] [--max-steps N] [--max-seconds S]
//
// Renders chat templates the way transformers' apply_chat_template does, one JSON object per
// stdin line (the format of tests/data/chat-templates/cases.jsonl):
//   {"template": "...", "special_tokens": {"bos_token": "<s>", ...}, "messages": [...],
//    "tools": [...], "add_generation_prompt": true, "enable_thinking": false,
//    "variables": {...more template variables...}, "now": "2026-11-22T13:45:07"}
// Only "template" and "messages" are required; "now" fixes strftime_now's clock (local time
// otherwise). Each line produces {"output": "..."} or {"error": "...", "code": "..."}, so a
// template that raises does not stop the batch.
#include "cli.h"

#include <zaya/chat_template.h>
#include <zaya/json_writer.h>
#include <zaya/value.h>

#include <cstdio>
#include <ctime>
#include <iostream>
#include <optional>
#include <string>

namespace {

void write_line(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

// "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM[:SS]" (a space works instead of T), as local time.
std::tm parse_now(const std::string& text) {
  std::tm tm{};
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  char separator = 0;
  int fields = std::sscanf(text.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d", &year, &month, &day, &separator, &hour, &minute,
                           &second);
  bool date_only = fields == 3 && text.size() == 10;
  bool with_time = fields >= 6 && (separator == 'T' || separator == ' ');
  if ((!date_only && !with_time) || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
      second > 60) {
    zaya::fail(zaya::ErrorCode::invalid_argument, "\"now\" must look like 2026-11-22 or 2026-11-22T13:45:07, not '{}'",
               text);
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  tm.tm_isdst = -1;
  std::tm normalized = tm;
  std::mktime(&normalized);  // fills in the weekday and the day of the year
  tm.tm_wday = normalized.tm_wday;
  tm.tm_yday = normalized.tm_yday;
  return tm;
}

const zaya::Value& require_member(const zaya::Value& request, const char* name) {
  const zaya::Value* value = request.find(name);
  if (!value) zaya::fail(zaya::ErrorCode::invalid_argument, "missing \"{}\"", name);
  return *value;
}

std::string render_line(const std::string& line, const zaya::TemplateLimits& limits,
                        std::optional<std::pair<std::string, zaya::ChatTemplate>>& cache) {
  zaya::Value request = zaya::Value::parse_json(line);
  if (!request.is_object()) zaya::fail(zaya::ErrorCode::invalid_argument, "each line must be a JSON object");
  const zaya::Value& source = require_member(request, "template");
  if (!source.is_string()) zaya::fail(zaya::ErrorCode::invalid_argument, "\"template\" must be a string");
  // Batches usually render one template many times: keep the last one parsed.
  if (!cache || cache->first != source.as_string()) {
    cache.reset();
    cache.emplace(source.as_string(), zaya::ChatTemplate::parse(source.as_string(), limits));
  }
  zaya::Value extra = zaya::Value::object();
  for (const char* group : {"special_tokens", "variables"}) {
    const zaya::Value* members = request.find(group);
    if (!members || members->is_null()) continue;
    if (!members->is_object()) zaya::fail(zaya::ErrorCode::invalid_argument, "\"{}\" must be an object", group);
    for (const auto& [name, value] : members->as_object()) extra.as_object().set(name, value);
  }
  if (const zaya::Value* thinking = request.find("enable_thinking")) extra["enable_thinking"] = *thinking;
  const zaya::Value* tools = request.find("tools");
  const zaya::Value* generation_prompt = request.find("add_generation_prompt");
  bool add_generation_prompt = false;
  if (generation_prompt && !generation_prompt->is_null()) {
    if (!generation_prompt->is_bool()) {
      zaya::fail(zaya::ErrorCode::invalid_argument, "\"add_generation_prompt\" must be true or false");
    }
    add_generation_prompt = generation_prompt->as_bool();
  }
  zaya::RenderOptions options;
  if (const zaya::Value* now = request.find("now"); now && !now->is_null()) {
    if (!now->is_string()) zaya::fail(zaya::ErrorCode::invalid_argument, "\"now\" must be a string");
    options.now = parse_now(now->as_string());
  }
  return cache->second.render_chat(require_member(request, "messages"), tools ? *tools : zaya::Value(),
                                   add_generation_prompt, extra, options);
}

int run_template(zaya::cli::Args& args) {
  zaya::TemplateLimits limits;
  limits.max_output_bytes = static_cast<size_t>(
      args.get_int("max-output-bytes", static_cast<long long>(limits.max_output_bytes), 1, 1LL << 40));
  limits.max_depth = static_cast<int>(args.get_int("max-depth", limits.max_depth, 1, 100000));
  limits.max_steps = static_cast<uint64_t>(
      args.get_int("max-steps", static_cast<long long>(limits.max_steps), 1, 1LL << 62));
  limits.max_seconds = args.get_double("max-seconds", limits.max_seconds);
  const auto& words = args.positional();
  if (words.size() != 1 || words[0] != "render") {
    zaya::fail(zaya::ErrorCode::invalid_argument, "usage: zaya template render [--max-output-bytes N] [--max-depth N] "
                                                  "[--max-steps N] [--max-seconds S] < requests.jsonl");
  }
  args.finish();
  std::optional<std::pair<std::string, zaya::ChatTemplate>> cache;
  std::string line;
  for (size_t line_number = 1; std::getline(std::cin, line); ++line_number) {
    if (line.find_first_not_of(" \t\r\n") == std::string::npos) continue;
    std::string out;
    try {
      out = "{\"output\": " + zaya::json::quote(render_line(line, limits, cache)) + "}";
    } catch (const zaya::Error& e) {
      out = "{\"error\": " + zaya::json::quote(e.what()) + ", \"code\": " +
            zaya::json::quote(zaya::error_code_name(e.code())) + "}";
    }
    write_line(out);
  }
  return 0;
}

}  // namespace

ZAYA_CLI_COMMAND("template",
                 "template render [--max-output-bytes N] [--max-depth N] [--max-steps N] [--max-seconds S]  JSON lines "
                 "{\"template\", \"messages\", \"tools\", \"special_tokens\", \"add_generation_prompt\", ...} on stdin "
                 "-> {\"output\": ...} or {\"error\": ...}",
                 {}, run_template);
