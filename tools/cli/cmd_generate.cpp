// zaya generate --model DIR --ids 2,17,5 --max-tokens N --greedy [--json]
// Greedy continuation from token ids. (Text prompts and sampling: see the tokenizer layer.)
#include "cli.h"
#include "ids.h"

#include <zaya/context.h>

#include <fmt/format.h>

#include <algorithm>

namespace {

int run_generate(zaya::cli::Args& args) {
  const std::string dir = args.require("model");
  const auto ids = zaya::cli::parse_ids(args.require("ids"));
  const int64_t max_tokens = args.get_int("max-tokens", 16, 0, 1 << 24);
  const bool greedy = args.flag("greedy");
  const bool as_json = args.flag("json");
  const bool stop_at_eos = !args.flag("ignore-eos");
  zaya::ModelOptions options;
  options.backend = args.get_or("backend", "auto");
  const int threads = static_cast<int>(args.get_int("threads", 0, 0, 1024));
  args.finish();
  if (!greedy) zaya::fail(zaya::ErrorCode::unsupported, "only --greedy decoding is available from ids in this build");
  auto model = zaya::Model::load(dir, options);
  const auto& eos = model->config().eos_ids;
  zaya::Context ctx(model, {.max_sequences = 1,
                            .max_context = static_cast<int64_t>(ids.size()) + std::max<int64_t>(max_tokens, 1),
                            .threads = threads});
  std::vector<int32_t> generated;
  if (max_tokens > 0) {
    auto logits = ctx.prefill(0, ids);
    for (int64_t step = 0; step < max_tokens; ++step) {
      const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      generated.push_back(next);
      if (stop_at_eos && std::find(eos.begin(), eos.end(), next) != eos.end()) break;
      if (step + 1 == max_tokens) break;
      logits = ctx.prefill(0, std::span<const int32_t>(&next, 1));
    }
  }
  if (as_json) {
    std::string out = "{\"ids\":[";
    for (size_t i = 0; i < generated.size(); ++i) out += fmt::format("{}{}", i ? "," : "", generated[i]);
    fmt::print("{}]}}\n", out);
  } else {
    for (size_t i = 0; i < generated.size(); ++i) fmt::print("{}{}", i ? " " : "", generated[i]);
    fmt::print("\n");
  }
  return 0;
}

}  // namespace

ZAYA_CLI_COMMAND("generate", "generate --model DIR --ids 2,17,5 --max-tokens N --greedy [--json] [--ignore-eos]",
                 {"greedy", "json", "ignore-eos"}, run_generate);
