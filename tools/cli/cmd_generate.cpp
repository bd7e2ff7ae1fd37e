// zaya generate --model DIR (--prompt TEXT | --chat MESSAGES.json | --ids 2,17,5) [sampling flags]
//               [--max-tokens N] [--stop STR] [--no-think] [--ignore-eos] [--json]
// Streams text to stdout as it is produced (text prompts), or prints the generated ids.
#include "cli.h"
#include "model_args.h"
#include "ids.h"
#include "sampling_args.h"

#include <zaya/model_tokenizer.h>
#include <zaya/chat_format.h>
#include <zaya/generator.h>
#include <zaya/json_writer.h>
#include <zaya/mapped_file.h>
#include <zaya/tokenizer.h>

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>

namespace {

int run_generate(zaya::cli::Args& args) {
  const std::string dir = args.require("model");
  auto ids_text = args.get("ids");
  auto prompt = args.get("prompt");
  auto chat_file = args.get("chat");
  if ((ids_text ? 1 : 0) + (prompt ? 1 : 0) + (chat_file ? 1 : 0) != 1)
    zaya::fail(zaya::ErrorCode::invalid_argument, "give exactly one of --prompt, --chat or --ids");
  const int64_t max_tokens = args.get_int("max-tokens", 256, 0, 1 << 24);
  auto stop = args.get("stop");
  const bool as_json = args.flag("json");
  const bool ignore_eos = args.flag("ignore-eos");
  const bool no_think = args.flag("no-think");
  zaya::GenerationConfig config;
  config.sampling = zaya::cli::parse_sampling(args);
  config.max_tokens = max_tokens;
  config.stop_at_eos = !ignore_eos;
  if (stop) config.stop_strings.push_back(*stop);
  zaya::ModelOptions options = zaya::cli::parse_model_options(args);
  const int threads = static_cast<int>(args.get_int("threads", 0, 0, 1024));
  const zaya::DType kv_cache = zaya::cli::parse_kv_cache(args);
  args.finish();

  auto model = zaya::Model::load(dir, options);
  std::optional<zaya::Tokenizer> tokenizer;
  if (zaya::model_has_tokenizer(dir)) tokenizer = zaya::load_model_tokenizer(dir);
  if ((prompt || chat_file || stop) && !tokenizer)
    zaya::fail(zaya::ErrorCode::unsupported, "{} has no tokenizer.json: use --ids", dir);

  std::vector<int32_t> prompt_ids;
  if (ids_text) {
    prompt_ids = zaya::cli::parse_ids(*ids_text);
  } else if (prompt) {
    prompt_ids = tokenizer->encode(*prompt, /*add_special_tokens=*/true);
  } else {
    zaya::ChatRequest request;
    request.messages = zaya::Value::parse_json(zaya::read_text_file(*chat_file, size_t(64) << 20));
    if (no_think) request.extra.as_object().set("enable_thinking", zaya::Value(false));
    prompt_ids = zaya::ChatFormatter(*tokenizer).encode(request);
  }
  if (prompt_ids.empty()) zaya::fail(zaya::ErrorCode::invalid_argument, "the prompt is empty");

  zaya::Context ctx(model, {.max_sequences = 1,
                            .max_context = static_cast<int64_t>(prompt_ids.size()) + std::max<int64_t>(max_tokens, 1),
                            .threads = threads,
                            .truncate_window = 0,
                            .kv_cache_type = kv_cache});
  zaya::Generator generator(ctx, tokenizer ? &*tokenizer : nullptr);
  const bool stream = !as_json && !ids_text;
  auto results = generator.run({zaya::GenerationRequest{0, prompt_ids, nullptr, config}}, [&](const zaya::TokenEvent& e) {
    if (stream && !e.text.empty()) {
      std::fwrite(e.text.data(), 1, e.text.size(), stdout);
      std::fflush(stdout);
    }
    return true;
  });
  const auto& r = results[0];
  if (as_json) {
    std::string out = "{\"ids\":[";
    for (size_t i = 0; i < r.tokens.size(); ++i) out += fmt::format("{}{}", i ? "," : "", r.tokens[i]);
    out += "]";
    if (ids_text) {  // ids in, ids out: exactly {"ids":[...]}
      fmt::print("{}}}\n", out);
      return 0;
    }
    if (tokenizer) {
      out += ",\"text\":";
      zaya::json::append_string(out, r.text);
    }
    out += fmt::format(",\"finish\":\"{}\",\"prompt_tokens\":{}}}", zaya::finish_reason_name(r.finish), r.prompt_tokens);
    fmt::print("{}\n", out);
  } else if (ids_text) {
    for (size_t i = 0; i < r.tokens.size(); ++i) fmt::print("{}{}", i ? " " : "", r.tokens[i]);
    fmt::print("\n");
  } else {
    fmt::print("\n");
    fmt::print(stderr, "[{} prompt tokens, {} generated, {}; prefill {:.1f} tok/s, decode {:.1f} tok/s]\n", r.prompt_tokens,
               r.tokens.size(), zaya::finish_reason_name(r.finish),
               generator.prefill_seconds() > 0 ? generator.prefill_tokens() / generator.prefill_seconds() : 0.0,
               generator.decode_seconds() > 0 ? generator.decode_tokens() / generator.decode_seconds() : 0.0);
  }
  return 0;
}

std::set<std::string> flags() {
  auto f = zaya::cli::sampling_flags();
  f.insert({"json", "ignore-eos", "no-think"});
  return f;
}

}  // namespace

ZAYA_CLI_COMMAND("generate",
                 std::string("generate --model DIR (--prompt TEXT | --chat MESSAGES.json | --ids 2,17,5) [--max-tokens N] "
                             "[--stop STR] [--no-think] [--ignore-eos] [--json] ") +
                     zaya::cli::kKvCacheUsage + " " + zaya::cli::kSamplingUsage,
                 flags(), run_generate);
