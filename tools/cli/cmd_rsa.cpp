// zaya rsa --model DIR (--prompt TEXT | --ids 2,17,5) [--preset NAME] [--n N --c C --t T --beta B --tau K]
//          [--seed S] [--json] [--quiet] ...
//   Markovian RSA (docs/RSA.md): prints the voted answer and the winning candidate's answer text,
//   or with --json one object (answer, votes, stages, decode_tokens, prefill_tokens, stopped_by,
//   seconds). Progress goes to stderr unless --quiet; Ctrl-C stops the run and keeps the best
//   answer so far.
//
// zaya rsa-bench --model DIR [--sizes 1,4,16] [--prompt-tokens P] [--tokens K] [--threads N] [--kv-cache f16] [--head-shortlist K] [--json]
//   Aggregate decode tokens/s of one RSA stage of N sequences decoding together (what batching
//   the population buys). scripts/bench-rsa.sh runs it.
#include "cli.h"
#include "ids.h"
#include "model_args.h"
#include "sampling_args.h"

#include <zaya/model_tokenizer.h>
#include <zaya/json_writer.h>
#include <zaya/model.h>
#include <zaya/rsa.h>
#include <zaya/tokenizer.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <map>
#include <thread>
#include <unistd.h>

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_rsa_sigint(int) { g_interrupted.store(true); }

// "4096", "512K", "8M", "16G" (powers of 1024) -> bytes.
uint64_t parse_bytes(const std::string& name, const std::string& text) {
  if (text.empty()) zaya::fail(zaya::ErrorCode::invalid_argument, "option --{}: empty", name);
  uint64_t scale = 1;
  std::string digits = text;
  switch (text.back()) {
    case 'k': case 'K': scale = uint64_t(1) << 10; digits.pop_back(); break;
    case 'm': case 'M': scale = uint64_t(1) << 20; digits.pop_back(); break;
    case 'g': case 'G': scale = uint64_t(1) << 30; digits.pop_back(); break;
    default: break;
  }
  const long long v = zaya::cli::Args::parse_int(name, digits, 0, (1ll << 62) / static_cast<long long>(scale));
  return static_cast<uint64_t>(v) * scale;
}

std::vector<int> parse_sizes(const std::string& text) {
  std::vector<int> sizes;
  for (int32_t id : zaya::cli::parse_ids(text)) {
    if (id < 1 || id > 4096) zaya::fail(zaya::ErrorCode::invalid_argument, "--sizes: {} is outside [1, 4096]", id);
    sizes.push_back(id);
  }
  return sizes;
}

std::shared_ptr<const zaya::Tokenizer> load_tokenizer_if_any(const std::string& dir) {
  if (!zaya::model_has_tokenizer(dir)) return nullptr;
  return std::make_shared<const zaya::Tokenizer>(zaya::load_model_tokenizer(dir));
}

int run_rsa(zaya::cli::Args& args) {
  using namespace zaya::rsa;
  const std::string dir = args.require("model");
  auto prompt = args.get("prompt");
  auto ids_text = args.get("ids");
  if ((prompt ? 1 : 0) + (ids_text ? 1 : 0) != 1) zaya::fail(zaya::ErrorCode::invalid_argument, "give exactly one of --prompt or --ids");

  RsaConfig cfg = RsaConfig::preset(args.get_or("preset", "recommended"));
  cfg.n = static_cast<int>(args.get_int("n", cfg.n, 1, 65536));
  const bool c_given = args.get("c").has_value();
  cfg.c = static_cast<int>(args.get_int("c", cfg.c, 1, 65536));
  if (!c_given) cfg.c = std::min(cfg.c, cfg.n);  // the preset's C cannot exceed a smaller population
  cfg.t = static_cast<int>(args.get_int("t", cfg.t, 0, 100000));
  const bool beta_given = args.get("beta").has_value();
  cfg.beta = args.get_int("beta", cfg.beta, 1, 1 << 30);
  const bool tau_given = args.get("tau").has_value();
  cfg.tau = args.get_int("tau", cfg.tau, 1, 1 << 30);
  if (beta_given && !tau_given) cfg.tau = std::min(cfg.tau, cfg.beta);  // the preset's tail cannot exceed a smaller beta
  cfg.sampling = zaya::cli::parse_sampling(args);
  cfg.seed = cfg.sampling.seed;
  if (auto n = args.get("final-n")) {
    cfg.final_stage.enabled = true;
    cfg.final_stage.n = static_cast<int>(zaya::cli::Args::parse_int("final-n", *n, 1, 65536));
  }
  cfg.final_stage.beta = args.get_int("final-beta", cfg.final_stage.beta, 1, 1 << 30);
  cfg.final_stage.sampling.temperature = static_cast<float>(args.get_double("final-temperature", cfg.final_stage.sampling.temperature));
  cfg.final_stage.sampling.top_p = static_cast<float>(args.get_double("final-top-p", cfg.final_stage.sampling.top_p));
  cfg.final_stage.sampling.top_k = static_cast<int32_t>(args.get_int("final-top-k", cfg.final_stage.sampling.top_k, 0, INT32_MAX));
  if (auto tail = args.get("tail")) cfg.tail_source = parse_tail_source(*tail);
  cfg.mark_truncated_tails = args.flag("mark-truncated");
  cfg.budgets.decode_tokens = args.get_int("max-decode-tokens", 0, 0, INT64_MAX);
  cfg.budgets.prefill_tokens = args.get_int("max-prefill-tokens", 0, 0, INT64_MAX);
  cfg.budgets.seconds = args.get_double("max-seconds", 0);
  if (auto mem = args.get("memory")) cfg.memory_budget_bytes = parse_bytes("memory", *mem);
  cfg.max_batch = static_cast<int>(args.get_int("max-batch", 0, 0, 65536));
  const bool as_json = args.flag("json");
  const bool quiet = args.flag("quiet");
  const bool with_text = args.flag("text");
  const bool think = args.flag("think");
  const bool no_think = args.flag("no-think");
  zaya::ModelOptions model_options;
  model_options.backend = args.get_or("backend", "auto");
  model_options.head_shortlist = zaya::cli::parse_head_shortlist(args);
  ModelEngineOptions engine_options;
  engine_options.threads = static_cast<int>(args.get_int("threads", 0, 0, 1024));
  engine_options.kv_cache_type = zaya::cli::parse_kv_cache(args);
  if (think && no_think) zaya::fail(zaya::ErrorCode::invalid_argument, "--think and --no-think exclude each other");
  if (think) engine_options.enable_thinking = true;
  if (no_think) engine_options.enable_thinking = false;
  args.finish();
  cfg.progress_every = quiet ? 0 : 16;
  cfg.keep_outputs = with_text;  // only --text prints earlier stages' outputs
  cfg.validate();

  auto model = zaya::Model::load(dir, model_options);
  auto tokenizer = load_tokenizer_if_any(dir);
  if (prompt && !tokenizer) zaya::fail(zaya::ErrorCode::unsupported, "{} has no tokenizer.json: use --ids (and --t 0)", dir);
  Question question;
  if (prompt) {
    question.text = *prompt;
  } else {
    question.prompt_ids = zaya::cli::parse_ids(*ids_text);
    if (tokenizer) question.text = tokenizer->decode(question.prompt_ids, true);
  }
  ModelEngine engine(model, tokenizer, engine_options);
  Orchestrator orchestrator(engine, cfg);

  // Ctrl-C: the handler only sets a flag; this thread turns it into cancel().
  g_interrupted.store(false);
  struct sigaction sa {}, previous {};
  sa.sa_handler = on_rsa_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &previous);
  std::atomic<bool> finished{false};
  std::thread watcher([&] {
    while (!finished.load()) {
      if (g_interrupted.exchange(false)) orchestrator.cancel();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });

  const bool tty = isatty(fileno(stderr));
  auto on_progress = [&](const Progress& p) {
    if (quiet) return;
    switch (p.kind) {
      case ProgressKind::stage_started:
        fmt::print(stderr, "rsa: stage {}/{}{}: {} candidates\n", p.round + 1, p.stages, p.final_stage ? " (final)" : "", p.stage_size);
        break;
      case ProgressKind::candidate_progress:
        if (tty)
          fmt::print(stderr, "\rrsa: stage {}/{}: {} tokens, {:.1f} tok/s   ", p.round + 1, p.stages, p.stage_decode_tokens,
                     p.tokens_per_second);
        break;
      case ProgressKind::candidate_finished:
        break;
      case ProgressKind::stage_finished:
        fmt::print(stderr, "{}rsa: stage {}/{} done: {} tokens, {:.1f} tok/s, {} total\n", tty ? "\r" : "", p.round + 1, p.stages,
                   p.stage_decode_tokens, p.tokens_per_second, p.total_decode_tokens);
        break;
    }
  };
  RsaResult result;
  try {
    result = orchestrator.run(question, on_progress);
  } catch (...) {
    finished.store(true);
    watcher.join();
    sigaction(SIGINT, &previous, nullptr);
    throw;
  }
  finished.store(true);
  watcher.join();
  sigaction(SIGINT, &previous, nullptr);

  if (as_json) {
    fmt::print("{}\n", to_json(result, with_text));
  } else {
    if (!result.best_text.empty()) fmt::print("{}\n", result.best_text);
    const int voters = result.votes.empty() ? 0 : result.votes.front().count;
    int population = 0;
    if (result.answer_round >= 0) population = static_cast<int>(result.stages[static_cast<size_t>(result.answer_round)].candidates.size());
    fmt::print(stderr, "rsa: answer {} ({} of {} votes, round {}); stopped by {}{}; {} decode + {} prefill tokens in {:.2f} s\n",
               result.answer.empty() ? "(none)" : result.answer, voters, population, result.answer_round,
               stopped_by_name(result.stopped_by), result.stop_detail.empty() ? "" : " (" + result.stop_detail + ")",
               result.decode_tokens, result.prefill_tokens, result.seconds);
    fmt::print("answer: {}\n", result.answer);
  }
  return 0;
}

// ---- rsa-bench ---------------------------------------------------------------------------------

int run_rsa_bench(zaya::cli::Args& args) {
  using namespace zaya::rsa;
  const std::string dir = args.require("model");
  const std::vector<int> sizes = parse_sizes(args.get_or("sizes", "1,4,16"));
  const int64_t prompt_tokens = args.get_int("prompt-tokens", 64, 1, 1 << 20);
  const int64_t tokens = args.get_int("tokens", 32, 2, 1 << 20);
  const int repeat = static_cast<int>(args.get_int("repeat", 1, 1, 100));
  const bool as_json = args.flag("json");
  zaya::ModelOptions model_options;
  model_options.backend = args.get_or("backend", "auto");
  model_options.head_shortlist = zaya::cli::parse_head_shortlist(args);
  ModelEngineOptions engine_options;
  engine_options.threads = static_cast<int>(args.get_int("threads", 0, 0, 1024));
  engine_options.kv_cache_type = zaya::cli::parse_kv_cache(args);
  args.finish();

  auto model = zaya::Model::load(dir, model_options);
  const auto& c = model->config();
  ModelEngine engine(model, nullptr, engine_options);
  // A fixed synthetic question; EOS is banned so that every sequence decodes exactly `tokens`.
  std::vector<int32_t> question;
  for (int64_t i = 0; i < prompt_tokens; ++i) question.push_back(static_cast<int32_t>(3 + (i * 7919) % std::max<int64_t>(c.vocab - 3, 1)));
  zaya::SamplingParams sampling = zaya::SamplingParams::defaults();
  for (int64_t id : c.eos_ids) sampling.banned_tokens.push_back(static_cast<int32_t>(id));

  auto stage = [&](int n, int64_t max_tokens, double& seconds, int64_t& rows) {
    std::vector<StageJob> jobs(static_cast<size_t>(n));
    for (int j = 0; j < n; ++j) {
      jobs[static_cast<size_t>(j)].slot = j;
      jobs[static_cast<size_t>(j)].from_question = true;
      jobs[static_cast<size_t>(j)].max_tokens = max_tokens;
      jobs[static_cast<size_t>(j)].sampling = sampling;
      jobs[static_cast<size_t>(j)].sampling.seed = zaya::derive_seed(1, {0, static_cast<uint64_t>(j)});
    }
    StageRun run = engine.generate_stage(question, std::move(jobs), StageOptions{}, [](size_t, int32_t) { return true; }, nullptr);
    seconds = run.decode_seconds;
    rows = 0;  // tokens fed through the decode loop: every generated token but each sequence's last
    for (const auto& r : run.results) rows += std::max<int64_t>(static_cast<int64_t>(r.tokens.size()) - 1, 0);
  };
  {
    double s = 0;
    int64_t r = 0;
    stage(1, 2, s, r);  // warm-up: touch the weights once
  }
  if (!as_json)
    fmt::print("rsa-bench: {} ({} blocks, hidden {}, {} experts, vocab {}), backend {}, prompt {} tokens, {} tokens per sequence\n",
               dir, c.blocks, c.hidden, c.experts, c.vocab, model->info().backend, prompt_tokens, tokens);
  std::string json = "{\"model\":" + zaya::json::quote(dir) + fmt::format(",\"prompt_tokens\":{},\"tokens\":{},\"results\":[", prompt_tokens, tokens);
  double base = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const int n = sizes[i];
    double best = 0;
    int64_t rows = 0;
    double seconds = 0;
    for (int k = 0; k < repeat; ++k) {
      double s = 0;
      int64_t r = 0;
      stage(n, tokens, s, r);
      const double rate = s > 0 ? static_cast<double>(r) / s : 0;
      if (rate > best) {
        best = rate;
        rows = r;
        seconds = s;
      }
    }
    if (i == 0) base = best;
    const double per_sequence = best / n;
    const double speedup = base > 0 ? best / base : 0;
    if (as_json) {
      json += fmt::format("{}{{\"n\":{},\"decode_tokens\":{},\"decode_seconds\":{:.6f},\"tokens_per_second\":{:.3f},"
                          "\"tokens_per_second_per_sequence\":{:.3f},\"speedup\":{:.3f}}}",
                          i ? "," : "", n, rows, seconds, best, per_sequence, speedup);
    } else {
      fmt::print("  N={:<4d} decode {:>9.2f} tok/s aggregate  {:>8.2f} tok/s per sequence  x{:.2f} vs N={}  ({} tokens in {:.3f} s)\n",
                 n, best, per_sequence, speedup, sizes[0], rows, seconds);
    }
  }
  if (as_json) fmt::print("{}]}}\n", json);
  return 0;
}

std::set<std::string> rsa_flags() {
  auto f = zaya::cli::sampling_flags();
  f.insert({"json", "quiet", "text", "think", "no-think", "mark-truncated"});
  return f;
}

}  // namespace

ZAYA_CLI_COMMAND("rsa",
                 std::string("rsa --model DIR (--prompt TEXT | --ids 2,17,5) [--preset single|light|recommended|high|extra-high] "
                             "[--n N --c C --t T --beta B --tau K] [--seed S] [--final-n N --final-beta B "
                             "--final-temperature T --final-top-p P --final-top-k K] [--tail reasoning|answer|full] "
                             "[--max-decode-tokens N --max-prefill-tokens N --max-seconds S] [--memory BYTES[K|M|G]] "
                             "[--max-batch N] [--threads N] [--kv-cache f32|f16] [--head-shortlist K] [--think|--no-think] [--json [--text]] [--quiet] ") +
                     zaya::cli::kSamplingUsage + "   Markovian RSA test-time compute",
                 rsa_flags(), run_rsa);

ZAYA_CLI_COMMAND("rsa-bench",
                 "rsa-bench --model DIR [--sizes 1,4,16] [--prompt-tokens P] [--tokens K] [--repeat R] [--threads N] [--kv-cache f32|f16] [--head-shortlist K] [--json]"
                 "   decode tokens/s of one RSA stage of N sequences",
                 {"json"}, run_rsa_bench);
