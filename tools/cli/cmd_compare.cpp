// zaya compare --model DIR [--quantize SPEC | --other PATH] [--kv-cache f16] [--head-shortlist K] [--prompts N] [--tokens T] [--json]
//
// The quality report of a weight format: runs a fixed prompt set through the reference model (as
// stored, e.g. BF16) and through the candidate (the same checkpoint quantized on load with
// --quantize, or another file such as a GGUF written by `zaya quantize`), teacher-forced, and
// compares the logits at every position (with --kv-cache f16 the candidate also runs on an f16
// KV cache; alone, that is the whole difference): top-1 agreement, mean relative logit error
// ||a - b|| / ||a||, and mean KL(p_ref || p_candidate). The reference runs first and is
// released before the candidate loads, so peak memory is one model plus the logits.
#include "cli.h"
#include "model_args.h"

#include <zaya/model_tokenizer.h>
#include <zaya/context.h>
#include <zaya/json_writer.h>
#include <zaya/tokenizer.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

namespace {

// Fixed texts: prose, code, numbers, other scripts (tokenized when the model has a tokenizer).
const char* const kPrompts[] = {
    "The capital of France is Paris, and the river that runs through it is the Seine.",
    "def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
    "Mia has 47 shells. She finds 38 more. She sells 3 boxes of 12 shells. How many shells does Mia have now?",
    "Die Katze sitzt auf der Matte, während draußen der Regen gegen das Fenster schlägt.",
    "東京は日本の首都であり、世界で最も人口の多い都市圏の一つです。",
    "In 1969, Apollo 11 landed on the Moon; Neil Armstrong stepped out at 02:56 UTC on July 21.",
    "SELECT name, COUNT(*) FROM orders WHERE total > 100 GROUP BY name ORDER BY 2 DESC;",
    "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer",
};

std::vector<std::vector<int32_t>> make_prompts(const std::string& dir, int count, int tokens, int64_t vocab) {
  std::vector<std::vector<int32_t>> prompts;
  std::optional<zaya::Tokenizer> tok;
  if (zaya::model_has_tokenizer(dir)) tok = zaya::load_model_tokenizer(dir);
  uint64_t state = 99991;
  for (int p = 0; p < count; ++p) {
    std::vector<int32_t> ids;
    if (tok) {
      const size_t n_texts = sizeof(kPrompts) / sizeof(kPrompts[0]);
      std::string text;
      for (size_t k = 0; ids.size() < static_cast<size_t>(tokens) && k < 8; ++k) {
        text += kPrompts[(static_cast<size_t>(p) + k) % n_texts];
        text += "\n";
        ids = tok->encode(text);
      }
    }
    while (ids.size() < static_cast<size_t>(tokens)) {  // pseudo-random ids (no tokenizer, or short)
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      ids.push_back(static_cast<int32_t>((state >> 33) % static_cast<uint64_t>(std::min<int64_t>(vocab, 200000))));
    }
    ids.resize(static_cast<size_t>(tokens));
    prompts.push_back(std::move(ids));
  }
  return prompts;
}

// Logits at every position of every prompt, [prompt][position][vocab] flattened.
std::vector<float> run_all(const std::shared_ptr<const zaya::Model>& model, const std::vector<std::vector<int32_t>>& prompts,
                           int threads, zaya::DType kv_cache) {
  const size_t V = static_cast<size_t>(model->config().vocab);
  const size_t T = prompts.front().size();
  zaya::Context ctx(model, {.max_sequences = 1, .max_context = static_cast<int64_t>(T), .threads = threads, .truncate_window = 0,
                            .kv_cache_type = kv_cache});
  std::vector<float> all;
  all.reserve(prompts.size() * T * V);
  for (const auto& ids : prompts) {
    ctx.clear(0);
    std::vector<zaya::BatchToken> batch;
    for (int32_t id : ids) batch.push_back({0, id, true});
    ctx.decode(batch);
    for (size_t i = 0; i < T; ++i) {
      auto row = ctx.logits(i);
      all.insert(all.end(), row.begin(), row.end());
    }
  }
  return all;
}

int run_compare(zaya::cli::Args& args) {
  const std::string dir = args.require("model");
  const auto other = args.get("other");
  const auto spec = args.get("quantize");
  const int count = static_cast<int>(args.get_int("prompts", 8, 1, 1000));
  const int tokens = static_cast<int>(args.get_int("tokens", 32, 2, 1 << 16));
  const int threads = static_cast<int>(args.get_int("threads", 0, 0, 1024));
  const bool as_json = args.flag("json");
  zaya::ModelOptions reference_options;
  reference_options.backend = args.get_or("backend", "cpu");
  const zaya::DType kv_cache = zaya::cli::parse_kv_cache(args);
  const size_t head_shortlist = zaya::cli::parse_head_shortlist(args);
  args.finish();
  if ((other && spec) || (!other && !spec && kv_cache == zaya::DType::f32 && head_shortlist == 0))
    zaya::fail(zaya::ErrorCode::invalid_argument,
               "compare: give one of --quantize SPEC or --other PATH, or --kv-cache f16, or --head-shortlist K");

  std::vector<std::vector<int32_t>> prompts;
  std::vector<float> reference;
  std::string reference_format;
  int64_t reference_vocab = 0;
  {
    auto model = zaya::Model::load(dir, reference_options);
    prompts = make_prompts(dir, count, tokens, model->config().vocab);
    reference = run_all(model, prompts, threads, zaya::DType::f32);
    reference_format = model->info().stored_dtypes;
    reference_vocab = model->config().vocab;
  }
  zaya::ModelOptions candidate_options = reference_options;
  std::string candidate_path = dir;
  if (spec) candidate_options.quantize = zaya::QuantizationPlan::parse(*spec);
  if (other) candidate_path = *other;
  candidate_options.head_shortlist = head_shortlist;
  auto candidate = zaya::Model::load(candidate_path, candidate_options);
  if (candidate->config().vocab != reference_vocab)
    zaya::fail(zaya::ErrorCode::invalid_argument, "compare: {} has another vocabulary size than {}", candidate_path, dir);
  const std::vector<float> test = run_all(candidate, prompts, threads, kv_cache);
  const std::string candidate_format = candidate->info().stored_dtypes;

  const size_t V = static_cast<size_t>(candidate->config().vocab);
  const size_t rows = reference.size() / V;
  size_t agree = 0;
  double rel_sum = 0, rel_max = 0, kl_sum = 0;
  for (size_t r = 0; r < rows; ++r) {
    const float* a = reference.data() + r * V;
    const float* b = test.data() + r * V;
    agree += (std::max_element(a, a + V) - a) == (std::max_element(b, b + V) - b);
    double diff = 0, norm = 0;
    const double ma = *std::max_element(a, a + V), mb = *std::max_element(b, b + V);
    double za = 0, zb = 0;
    for (size_t j = 0; j < V; ++j) {
      diff += (double(a[j]) - b[j]) * (double(a[j]) - b[j]);
      norm += double(a[j]) * a[j];
      za += std::exp(a[j] - ma);
      zb += std::exp(b[j] - mb);
    }
    double kl = 0;
    for (size_t j = 0; j < V; ++j) {
      const double la = a[j] - ma - std::log(za), lb = b[j] - mb - std::log(zb);
      kl += std::exp(la) * (la - lb);
    }
    const double rel = std::sqrt(diff / std::max(norm, 1e-30));
    rel_sum += rel;
    rel_max = std::max(rel_max, rel);
    kl_sum += std::max(0.0, kl);
  }
  const double top1 = static_cast<double>(agree) / static_cast<double>(rows);
  if (as_json) {
    fmt::print("{{\"reference\":{},\"reference_format\":{},\"candidate\":{},\"candidate_format\":{},\"quantize\":{},"
               "\"positions\":{},\"top1_agreement\":{:.4f},\"mean_relative_error\":{:.6f},\"max_relative_error\":{:.6f},"
               "\"mean_kl\":{:.6f},\"kv_cache\":\"{}\",\"head_shortlist\":{}}}\n",
               zaya::json::quote(dir), zaya::json::quote(reference_format), zaya::json::quote(candidate_path),
               zaya::json::quote(candidate_format), zaya::json::quote(candidate_options.quantize.to_string()), rows, top1,
               rel_sum / static_cast<double>(rows), rel_max, kl_sum / static_cast<double>(rows), zaya::cli::kv_cache_name(kv_cache),
               head_shortlist);
    return 0;
  }
  fmt::print("reference         {} ({})\n", dir, reference_format);
  fmt::print("candidate         {} ({}{}{}{})\n", candidate_path, candidate_format,
             spec ? ", quantized on load: " + candidate_options.quantize.to_string() : "",
             kv_cache == zaya::DType::f16 ? ", f16 KV cache" : "",
             head_shortlist ? fmt::format(", LM head shortlist of {}", head_shortlist) : std::string());
  fmt::print("positions         {} ({} prompts x {} tokens)\n", rows, prompts.size(), tokens);
  fmt::print("top-1 agreement   {:.2f}%\n", 100 * top1);
  fmt::print("relative error    mean {:.4f}, max {:.4f}   (||a - b|| / ||a|| over the vocabulary)\n",
             rel_sum / static_cast<double>(rows), rel_max);
  fmt::print("KL(ref || cand)   mean {:.5f} nats\n", kl_sum / static_cast<double>(rows));
  return 0;
}

}  // namespace

ZAYA_CLI_COMMAND("compare",
                 "compare --model DIR [--quantize SPEC | --other PATH] [--kv-cache f16] [--head-shortlist K] [--prompts N] [--tokens T] [--json]   quality of a weight format, KV cache type or LM-head shortlist",
                 {"json"}, run_compare);
