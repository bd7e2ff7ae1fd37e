// zaya chat --model DIR [--system TEXT] [--hide-reasoning] [--no-think] [--max-tokens N] [sampling flags]
// An interactive chat in the terminal: history kept, answers streamed, reasoning shown dimmed
// (or hidden), Ctrl-C stops the current answer (not the program), Ctrl-D or /exit quits.
// Each turn prefills only what the conversation added: sequence 1 keeps the cache of the last
// prompt, and sequence 0 starts from a fork of it cut back to the prefix the new prompt shares
// (templates often render the last generation prompt differently in the history, e.g. without
// its opening <think>: a few tokens, within the truncate window); otherwise the whole prompt is
// prefilled again.
#include "cli.h"
#include "model_args.h"
#include "sampling_args.h"

#include <zaya/model_tokenizer.h>
#include <zaya/chat_format.h>
#include <zaya/chat_output.h>
#include <zaya/generator.h>
#include <zaya/tokenizer.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <unistd.h>

namespace {

std::atomic<zaya::Context*> g_active_context{nullptr};
std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) {
  g_interrupted.store(true);
  if (zaya::Context* ctx = g_active_context.load()) ctx->cancel();  // atomic store inside: signal-safe
}

int run_chat(zaya::cli::Args& args) {
  const std::string dir = args.require("model");
  auto system = args.get("system");
  const bool hide_reasoning = args.flag("hide-reasoning");
  const bool no_think = args.flag("no-think");
  const int64_t max_tokens = args.get_int("max-tokens", 1024, 1, 1 << 24);
  const int64_t max_context = args.get_int("context", 8192, 16, 1 << 24);
  zaya::GenerationConfig config;
  config.sampling = zaya::cli::parse_sampling(args);
  config.max_tokens = max_tokens;
  zaya::ModelOptions options = zaya::cli::parse_model_options(args);
  const int threads = static_cast<int>(args.get_int("threads", 0, 0, 1024));
  const zaya::DType kv_cache = zaya::cli::parse_kv_cache(args);
  args.finish();

  auto model = zaya::Model::load(dir, options);
  auto tokenizer = zaya::load_model_tokenizer(dir);
  zaya::ChatFormatter formatter(tokenizer);
  constexpr int64_t kRewind = 64;  // how far back the cached prompt can be cut (truncate window)
  zaya::Context ctx(model, {.max_sequences = 2, .max_context = max_context, .threads = threads,
                            .truncate_window = kRewind, .kv_cache_type = kv_cache});
  std::vector<int32_t> cached_prompt;  // the prompt whose cache sequence 1 holds (empty: none)
  zaya::Generator generator(ctx, &tokenizer);
  const bool tty = isatty(fileno(stdout));
  const char* dim = tty ? "\x1b[2m" : "";
  const char* reset = tty ? "\x1b[0m" : "";

  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);

  zaya::Value messages = zaya::Value::array();
  if (system) messages.as_array().push_back(zaya::Value::object({{"role", "system"}, {"content", *system}}));
  fmt::print(stderr, "zaya chat: {} ({}). Ctrl-C stops an answer, Ctrl-D or /exit quits.\n", dir, model->info().backend);
  std::string line;
  for (;;) {
    fmt::print("{}> ", tty ? "\n" : "");
    std::fflush(stdout);
    g_interrupted.store(false);
    if (!std::getline(std::cin, line)) break;
    if (line == "/exit" || line == "/quit") break;
    if (line.empty()) continue;
    messages.as_array().push_back(zaya::Value::object({{"role", "user"}, {"content", line}}));
    zaya::ChatRequest request;
    request.messages = messages;
    if (no_think) request.extra.as_object().set("enable_thinking", zaya::Value(false));
    std::vector<int32_t> prompt;
    try {
      prompt = formatter.encode(request);
    } catch (const zaya::Error& e) {
      fmt::print(stderr, "error: {}\n", e.what());
      messages.as_array().pop_back();
      continue;
    }
    ctx.reset_cancel();
    g_active_context.store(&ctx);
    // Sequence 0 := the shared prefix of the cached prompt (or nothing), then the rest of the
    // prompt; its state is kept in sequence 1 for the next turn.
    size_t reused = static_cast<size_t>(
        std::mismatch(cached_prompt.begin(), cached_prompt.end(), prompt.begin(), prompt.end()).first - cached_prompt.begin());
    if (reused == prompt.size() || cached_prompt.size() - reused > static_cast<size_t>(kRewind) - 2) reused = 0;
    std::shared_ptr<const std::vector<float>> logits;
    try {
      if (reused > 0) {
        ctx.fork(1, 0);
        try {
          ctx.truncate(0, static_cast<int64_t>(reused));
        } catch (const zaya::Error&) {  // not cut exactly after all: the whole prompt, then
          reused = 0;
        }
      }
      if (reused == 0) ctx.clear(0);
      logits = std::make_shared<const std::vector<float>>(
          ctx.prefill(0, std::span<const int32_t>(prompt).subspan(reused)));
      ctx.fork(0, 1);
      cached_prompt = prompt;
    } catch (const zaya::Error& e) {
      g_active_context.store(nullptr);
      fmt::print(stderr, "{}\n", e.code() == zaya::ErrorCode::cancelled ? "[stopped]" : std::string("error: ") + e.what());
      messages.as_array().pop_back();  // sequence 1 and cached_prompt still agree: nothing else to undo
      continue;
    }
    // A template that opens <think> in the generation prompt leaves the model inside reasoning:
    // the parser must know, or the reasoning would be shown and kept as the answer.
    zaya::ChatOutputOptions output_options;
    {
      const size_t tail = std::min<size_t>(prompt.size(), 8);
      std::string end = tokenizer.decode(std::span<const int32_t>(prompt).last(tail));
      while (!end.empty() && std::isspace(static_cast<unsigned char>(end.back()))) end.pop_back();
      output_options.starts_in_reasoning = end.ends_with("<think>");
    }
    zaya::ChatOutputParser parser(output_options);
    std::vector<zaya::ChatEvent> events;
    auto results = generator.run({zaya::GenerationRequest{0, {}, logits, config}}, [&](const zaya::TokenEvent& e) {
      events.clear();
      parser.feed(e.text, events);
      if (e.finish != zaya::FinishReason::none) parser.finish(events);
      for (const auto& ev : events) {
        if (ev.kind == zaya::ChatEventKind::reasoning_delta && !hide_reasoning) fmt::print("{}{}{}", dim, ev.text, reset);
        else if (ev.kind == zaya::ChatEventKind::content_delta) fmt::print("{}", ev.text);
        else if (ev.kind == zaya::ChatEventKind::tool_call) fmt::print("\n[tool call: {}]\n", ev.tool_call.name);
      }
      std::fflush(stdout);
      return !g_interrupted.load();
    });
    g_active_context.store(nullptr);
    const auto& r = results[0];
    if (r.finish == zaya::FinishReason::cancelled) fmt::print(stderr, "\n[stopped]");
    fmt::print("\n");
    messages.as_array().push_back(zaya::Value::object({{"role", "assistant"}, {"content", zaya::parse_chat_output(r.text, output_options).content}}));
  }
  return 0;
}

std::set<std::string> flags() {
  auto f = zaya::cli::sampling_flags();
  f.insert({"hide-reasoning", "no-think"});
  return f;
}

}  // namespace

ZAYA_CLI_COMMAND("chat",
                 std::string("chat --model DIR [--system TEXT] [--hide-reasoning] [--no-think] [--max-tokens N] [--context N] ") +
                     zaya::cli::kKvCacheUsage + " " +
                     zaya::cli::kSamplingUsage,
                 flags(), run_chat);
