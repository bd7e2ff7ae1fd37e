// zaya bench --model PATH [--threads N] [--prompt-tokens P] [--gen-tokens G] [--batch B[,B...]] [--json]
//            [--kv-cache f32|f16]
//
// Measures, in one run: the machine's read bandwidth (the decode roofline), model load time,
// prefill throughput (P tokens, one sequence), and batched decode throughput (B sequences that
// share the P-token prompt, G steps each), with the weight bytes each decoded token really
// streamed and the fraction of the bandwidth roofline that achieves.
#include "cli.h"
#include "model_args.h"

#include "cpu/bandwidth.h"
#include "cpu/cpu_backend.h"
#include "cpu/kernels.h"

#include <zaya/context.h>
#include <zaya/json_writer.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <sys/resource.h>

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double peak_rss_mb() {
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

std::vector<int64_t> parse_batches(const std::string& text) {
  std::vector<int64_t> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    const std::string item = text.substr(pos, comma - pos);
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1 || v > 4096)
      zaya::fail(zaya::ErrorCode::invalid_argument, "--batch: '{}' is not a batch size in 1..4096 (e.g. 1,4,16)", item);
    out.push_back(v);
    pos = comma + 1;
  }
  return out;
}

struct DecodeResult {
  int64_t batch = 0;
  double tok_s = 0, bytes_per_token = 0, achieved_gbs = 0, roofline = 0;
};

int run_bench(zaya::cli::Args& args) {
  const std::string dir = args.require("model");
  const int threads = static_cast<int>(args.get_int("threads", 0, 0, 1024));
  const int64_t prompt = args.get_int("prompt-tokens", 512, 1, 1 << 20);
  const int64_t gen = args.get_int("gen-tokens", 64, 1, 1 << 20);
  const std::vector<int64_t> batches = parse_batches(args.get_or("batch", "1"));
  const bool as_json = args.flag("json");
  const bool skip_probe = args.flag("no-bandwidth");
  zaya::ModelOptions options = zaya::cli::parse_model_options(args);
  const zaya::DType kv_cache = zaya::cli::parse_kv_cache(args);
  args.finish();
  const int64_t max_batch = *std::max_element(batches.begin(), batches.end());

  zaya::cpu::BandwidthResult bw;
  if (!skip_probe) bw = zaya::cpu::measure_read_bandwidth(threads);

  auto t0 = Clock::now();
  auto model = zaya::Model::load(dir, options);
  const double load_seconds = since(t0);
  const auto& cfg = model->config();
  zaya::Context ctx(model, {.max_sequences = static_cast<int>(max_batch), .max_context = prompt + gen + 1,
                            .threads = threads, .truncate_window = 0, .kv_cache_type = kv_cache});

  // Deterministic pseudo-random prompt (ids away from the padding rows).
  std::vector<int32_t> ids(static_cast<size_t>(prompt));
  uint64_t state = 12345;
  for (auto& id : ids) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    id = static_cast<int32_t>((state >> 33) % static_cast<uint64_t>(std::min<int64_t>(cfg.vocab, 200000)));
  }

  t0 = Clock::now();
  const auto logits = ctx.prefill(0, ids);
  const double prefill_seconds = since(t0);
  const double prefill_tok_s = static_cast<double>(prompt) / prefill_seconds;
  const int32_t first = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  const std::vector<uint8_t> prompt_state = ctx.save_state(0);

  // The same prefill with BF16 dot products (activations rounded to bf16; opt-in in the engine,
  // ZAYA_CPU_BF16_PREFILL=1, as it is not bit-compatible with decode), when the CPU has them and
  // the model has BF16 matrices.
  double prefill_bf16dp_tok_s = 0;
  if (zaya::cpu::kernels().matmul_bf16_dp && model->info().stored_dtypes.find("BF16") != std::string::npos &&
      model->backend().name() == "cpu" && prompt >= 32) {
    const size_t saved = zaya::cpu::bf16_prefill_min_rows();
    zaya::cpu::set_bf16_prefill_min_rows(32);
    ctx.clear(0);
    t0 = Clock::now();
    (void)ctx.prefill(0, ids);
    prefill_bf16dp_tok_s = static_cast<double>(prompt) / since(t0);
    zaya::cpu::set_bf16_prefill_min_rows(saved);
  }

  // Decode at each batch size: B sequences continue the same prompt, each greedily from its own
  // logits (started on different tokens so they diverge and route to different experts).
  std::vector<DecodeResult> results;
  for (const int64_t batch : batches) {
    for (int32_t s = 0; s < batch; ++s) ctx.load_state(s, prompt_state);
    std::vector<int32_t> next(static_cast<size_t>(batch));
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
    const double seconds = since(t0);
    DecodeResult r;
    r.batch = batch;
    const double decoded = static_cast<double>(gen * batch);
    r.tok_s = decoded / seconds;
    r.bytes_per_token = static_cast<double>(weight_bytes) / decoded;
    r.achieved_gbs = static_cast<double>(weight_bytes) / seconds / 1e9;  // bytes the steps streamed per second
    r.roofline = bw.median_gbs > 0 ? r.achieved_gbs / bw.median_gbs : 0.0;
    results.push_back(r);
  }
  const auto info = model->info();

  if (as_json) {  // one object per batch size
    for (const auto& r : results)
      fmt::print("{{\"model\":{},\"dtype\":{},\"threads\":{},\"prompt_tokens\":{},\"gen_tokens\":{},\"batch\":{},"
                 "\"prefill_tok_s\":{:.3f},\"decode_tok_s\":{:.3f},\"bytes_per_token\":{:.0f},\"achieved_gbs\":{:.3f},"
                 "\"bandwidth_gbs\":{:.3f},\"roofline_fraction\":{:.4f},\"peak_rss_mb\":{:.1f},\"load_seconds\":{:.3f},"
                 "\"weights_bytes\":{},\"prefill_bf16dp_tok_s\":{:.3f},\"kernels\":{},\"kv_cache\":\"{}\",\"head_shortlist\":{},"
                 "\"head_shortlist_bytes\":{},\"bandwidth_streams\":{},\"load\":\"{}\"}}\n",
                 zaya::json::quote(dir), zaya::json::quote(info.stored_dtypes), ctx.options().threads == 0 ? -1 : ctx.options().threads,
                 prompt, gen, r.batch, prefill_tok_s, r.tok_s, r.bytes_per_token, r.achieved_gbs, bw.median_gbs, r.roofline,
                 peak_rss_mb(), load_seconds, info.stored_bytes, prefill_bf16dp_tok_s, zaya::json::quote(info.backend),
                 zaya::cli::kv_cache_name(kv_cache), model->options().head_shortlist, info.head_shortlist_bytes,
                 bw.streams, options.storage == zaya::WeightStorage::copied || !options.quantize.empty() ? "copy" : "mmap");
    return 0;
  }
  fmt::print("model             {} ({}, {}, {} KV cache{})\n", dir, info.stored_dtypes, info.backend, zaya::cli::kv_cache_name(kv_cache),
             model->options().head_shortlist ? fmt::format(", LM head shortlist of {}", model->options().head_shortlist) : std::string());
  fmt::print("read bandwidth    {:.2f} GB/s median ({:.2f} best) over {} passes of {} MiB, {} threads, {} stream{} each\n",
             bw.median_gbs, bw.best_gbs, bw.passes, bw.bytes_per_pass >> 20, bw.threads, bw.streams, bw.streams == 1 ? "" : "s");
  fmt::print("load              {:.3f} s ({:.2f} GB of weights{})\n", load_seconds, static_cast<double>(info.stored_bytes) / 1e9,
             info.head_shortlist_bytes ? fmt::format(" + {:.2f} GB shortlist copy", static_cast<double>(info.head_shortlist_bytes) / 1e9)
                                       : std::string());
  fmt::print("prefill           {} tokens in {:.3f} s = {:.1f} tok/s\n", prompt, prefill_seconds, prefill_tok_s);
  if (prefill_bf16dp_tok_s > 0)
    fmt::print("prefill bf16-dot  {:.1f} tok/s (activations rounded to bf16; ZAYA_CPU_BF16_PREFILL=1)\n", prefill_bf16dp_tok_s);
  for (const auto& r : results)
    fmt::print("decode batch {:<4} {:8.2f} tok/s aggregate, {:7.1f} MB weights/token, {:6.2f} GB/s = {:5.1f}% of the read roofline\n",
               r.batch, r.tok_s, r.bytes_per_token / 1e6, r.achieved_gbs, 100 * r.roofline);
  fmt::print("peak RSS          {:.0f} MB\n", peak_rss_mb());
  if (const std::string hint = zaya::cli::mapped_layout_hint(*model, dir); !hint.empty())
    fmt::print("note              {}\n", hint);
  return 0;
}

}  // namespace

ZAYA_CLI_COMMAND("bench",
                 "bench --model DIR [--threads N] [--prompt-tokens P] [--gen-tokens G] [--batch B[,B...]] [--json] [--no-bandwidth] [--load copy] [--quantize SPEC] [--kv-cache f32|f16]",
                 {"json", "no-bandwidth"}, run_bench);
