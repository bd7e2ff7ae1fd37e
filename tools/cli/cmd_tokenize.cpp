// zaya tokenize --tokenizer PATH [--no-special]      {"text": "..."} lines -> {"ids": [...]} lines
// zaya detokenize --tokenizer PATH [--skip-special]  {"ids": [...]} lines  -> {"text": "..."} lines
// PATH is a tokenizer.json file or a model directory containing one. One output line per
// non-blank input line, flushed as it is written so the commands can sit behind a pipe.
#include "cli.h"

#include <zaya/model_tokenizer.h>
#include <zaya/json_writer.h>
#include <zaya/tokenizer.h>

#include <fmt/format.h>
#include <simdjson.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace {

bool is_blank(const std::string& line) { return line.find_first_not_of(" \t\r\n") == std::string::npos; }

void write_line(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

// Parses one input line as a JSON object; errors name the line.
simdjson::dom::object parse_line(simdjson::dom::parser& parser, const std::string& line, size_t line_number) {
  simdjson::dom::object object;
  if (auto error = parser.parse(line).get(object))
    zaya::fail(zaya::ErrorCode::invalid_argument, "stdin line {}: not a JSON object: {}", line_number,
               simdjson::error_message(error));
  return object;
}

int run_tokenize(zaya::cli::Args& args) {
  const std::string path = args.require("tokenizer");
  const bool add_special_tokens = !args.flag("no-special");
  args.finish();
  const zaya::Tokenizer tokenizer = zaya::load_model_tokenizer(path);
  simdjson::dom::parser parser;
  std::string line, out;
  for (size_t line_number = 1; std::getline(std::cin, line); ++line_number) {
    if (is_blank(line)) continue;
    std::string_view text;
    if (parse_line(parser, line, line_number)["text"].get_string().get(text))
      zaya::fail(zaya::ErrorCode::invalid_argument, "stdin line {}: expected {{\"text\": \"...\"}}", line_number);
    std::vector<int32_t> ids;
    try {
      ids = tokenizer.encode(text, add_special_tokens);
    } catch (const zaya::Error& e) {
      throw zaya::Error(e.code(), fmt::format("stdin line {}: {}", line_number, e.what()));
    }
    out = "{\"ids\": [";
    for (size_t i = 0; i < ids.size(); ++i) fmt::format_to(std::back_inserter(out), "{}{}", i ? ", " : "", ids[i]);
    out += "]}";
    write_line(out);
  }
  return 0;
}

int run_detokenize(zaya::cli::Args& args) {
  const std::string path = args.require("tokenizer");
  const bool skip_special_tokens = args.flag("skip-special");
  args.finish();
  const zaya::Tokenizer tokenizer = zaya::load_model_tokenizer(path);
  simdjson::dom::parser parser;
  std::string line, out;
  for (size_t line_number = 1; std::getline(std::cin, line); ++line_number) {
    if (is_blank(line)) continue;
    simdjson::dom::array array;
    if (parse_line(parser, line, line_number)["ids"].get_array().get(array))
      zaya::fail(zaya::ErrorCode::invalid_argument, "stdin line {}: expected {{\"ids\": [...]}}", line_number);
    std::vector<int32_t> ids;
    for (simdjson::dom::element element : array) {
      int64_t id = 0;
      if (element.get_int64().get(id) || id < INT32_MIN || id > INT32_MAX)
        zaya::fail(zaya::ErrorCode::invalid_argument, "stdin line {}: ids must be integers", line_number);
      ids.push_back(static_cast<int32_t>(id));
    }
    std::string text;
    try {
      text = tokenizer.decode(ids, skip_special_tokens);
    } catch (const zaya::Error& e) {
      throw zaya::Error(e.code(), fmt::format("stdin line {}: {}", line_number, e.what()));
    }
    out = "{\"text\": ";
    zaya::json::append_string(out, text);
    out += "}";
    write_line(out);
  }
  return 0;
}

}  // namespace

ZAYA_CLI_COMMAND("tokenize",
                 "tokenize --tokenizer PATH [--no-special]     JSON lines {\"text\": ...} on stdin -> {\"ids\": [...]}",
                 {"no-special"}, run_tokenize);
ZAYA_CLI_COMMAND("detokenize",
                 "detokenize --tokenizer PATH [--skip-special] JSON lines {\"ids\": [...]} on stdin -> {\"text\": ...}",
                 {"skip-special"}, run_detokenize);
