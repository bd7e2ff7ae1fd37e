// zaya bench --model PATH [--threads N] [--prompt-tokens P] [--gen-tokens G] [--batch B] [--json]
//
// Measures, in one run: the machine's read bandwidth (the decode roofline), model load time,
// prefill throughput (P tokens, one sequence), and batched decode throughput (B sequences that
// share the P-token prompt, G steps each), with the weight bytes each decoded token really
// streamed and the fraction of the bandwidth roofline that achieves.
#include "cli.h"
#include "model_args.h"

#include "cpu/bandwidth.h"

#include <zaya/context.h>
#include <zaya/json_writer.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <sys/resource.h>

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double peak_rss_mb() {
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

int run_bench(zaya::cli::Args& args) {
  const std::string dir = args.require("model");
  const int threads = static_cast<int>(args.get_int("threads", 0, 0, 1024));
  const int64_t prompt = args.get_int("prompt-tokens", 512, 1, 1 << 20);
  const int64_t gen = args.get_int("gen-tokens", 64, 1, 1 << 20);
  const int64_t batch = args.get_int("batch", 1, 1, 4096);
  const bool as_json = args.flag("json");
  const bool skip_probe = args.flag("no-bandwidth");
  zaya::ModelOptions options = zaya::cli::parse_model_options(args);
  args.finish();

  zaya::cpu::BandwidthResult bw;
  if (!skip_probe) bw = zaya::cpu::measure_read_bandwidth(threads);

  auto t0 = Clock::now();
  auto model = zaya::Model::load(dir, options);
  const double load_seconds = since(t0);
  const auto& cfg = model->config();
  zaya::Context ctx(model, {.max_sequences = static_cast<int>(batch), .max_context = prompt + gen + 1,
                            .threads = threads, .truncate_window = 0});

  // Deterministic pseudo-random prompt (ids away from the padding rows).
  std::vector<int32_t> ids(static_cast<size_t>(prompt));
  uint64_t state = 12345;
  for (auto& id : ids) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    id = static_cast<int32_t>((state >> 33) % static_cast<uint64_t>(std::min<int64_t>(cfg.vocab, 200000)));
  }

  t0 = Clock::now();
  auto logits = ctx.prefill(0, ids);
  const double prefill_seconds = since(t0);
  for (int32_t s = 1; s < batch; ++s) ctx.fork(0, s);

  // Decode: each sequence continues greedily from its own logits.
  std::vector<int32_t> next(static_cast<size_t>(batch));
  const int32_t first = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  for (int32_t s = 0; s < batch; ++s) next[static_cast<size_t>(s)] = (first + s) % static_cast<int32_t>(cfg.vocab);
  uint64_t weight_bytes = 0;
  t0 = Clock::now();
  for (int64_t step = 0; step < gen; ++step) {
    std::vector<zaya::BatchToken> tokens;
    for (int32_t s = 0; s < batch; ++s) tokens.push_back({s, next[static_cast<size_t>(s)], true});
    ctx.decode(tokens);
    weight_bytes += ctx.last_decode_weight_bytes();
    for (int32_t s = 0; s < batch; ++s) {
      auto row = ctx.logits(static_cast<size_t>(s));
      next[static_cast<size_t>(s)] = static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
    }
  }
  const double decode_seconds = since(t0);
  const double decoded = static_cast<double>(gen * batch);
  const double decode_tok_s = decoded / decode_seconds;
  const double prefill_tok_s = static_cast<double>(prompt) / prefill_seconds;
  const double bytes_per_token = static_cast<double>(weight_bytes) / decoded;
  const double achieved_gbs = bytes_per_token * decode_tok_s / 1e9;
  const double roofline = bw.median_gbs > 0 ? achieved_gbs / bw.median_gbs : 0.0;
  const auto info = model->info();

  if (as_json) {
    fmt::print("{{\"model\":{},\"dtype\":{},\"threads\":{},\"prompt_tokens\":{},\"gen_tokens\":{},\"batch\":{},"
               "\"prefill_tok_s\":{:.3f},\"decode_tok_s\":{:.3f},\"bytes_per_token\":{:.0f},\"achieved_gbs\":{:.3f},"
               "\"bandwidth_gbs\":{:.3f},\"roofline_fraction\":{:.4f},\"peak_rss_mb\":{:.1f},\"load_seconds\":{:.3f},"
               "\"kernels\":{}}}\n",
               zaya::json::quote(dir), zaya::json::quote(info.stored_dtypes), ctx.options().threads == 0 ? -1 : ctx.options().threads,
               prompt, gen, batch, prefill_tok_s, decode_tok_s, bytes_per_token, achieved_gbs, bw.median_gbs, roofline,
               peak_rss_mb(), load_seconds, zaya::json::quote(info.backend));
    return 0;
  }
  fmt::print("model             {} ({}, {})\n", dir, info.stored_dtypes, info.backend);
  fmt::print("read bandwidth    {:.2f} GB/s median ({:.2f} best) over {} passes of {} MiB, {} threads\n", bw.median_gbs,
             bw.best_gbs, bw.passes, bw.bytes_per_pass >> 20, bw.threads);
  fmt::print("load              {:.3f} s\n", load_seconds);
  fmt::print("prefill           {} tokens in {:.3f} s = {:.1f} tok/s\n", prompt, prefill_seconds, prefill_tok_s);
  fmt::print("decode            batch {} x {} steps in {:.3f} s = {:.2f} tok/s aggregate\n", batch, gen, decode_seconds,
             decode_tok_s);
  fmt::print("weights/token     {:.1f} MB  -> {:.2f} GB/s achieved = {:.1f}% of the read roofline\n", bytes_per_token / 1e6,
             achieved_gbs, 100 * roofline);
  fmt::print("peak RSS          {:.0f} MB\n", peak_rss_mb());
  return 0;
}

}  // namespace

ZAYA_CLI_COMMAND("bench",
                 "bench --model DIR [--threads N] [--prompt-tokens P] [--gen-tokens G] [--batch B] [--json] [--no-bandwidth]",
                 {"json", "no-bandwidth"}, run_bench);
