// src/rsa/config.cpp - Markovian RSA parameters: presets, validation, the aggregation prompt
// templates and the seeded subset sampler.
#include <zaya/error.h>
#include <zaya/rsa.h>

#include <cmath>
#include <limits>

namespace zaya::rsa {

// ---- names -------------------------------------------------------------------------------------

const char* tail_source_name(TailSource source) noexcept {
  switch (source) {
    case TailSource::reasoning: return "reasoning";
    case TailSource::answer_else_reasoning: return "answer";
    case TailSource::full_text: return "full";
  }
  return "unknown";
}

TailSource parse_tail_source(std::string_view name) {
  if (name == "reasoning") return TailSource::reasoning;
  if (name == "answer" || name == "pacore" || name == "answer_else_reasoning") return TailSource::answer_else_reasoning;
  if (name == "full" || name == "full_text") return TailSource::full_text;
  fail(ErrorCode::invalid_argument, "rsa: unknown tail source '{}' (reasoning, answer, full)", name);
}

const char* stopped_by_name(StoppedBy reason) noexcept {
  switch (reason) {
    case StoppedBy::done: return "done";
    case StoppedBy::budget: return "budget";
    case StoppedBy::cancel: return "cancel";
  }
  return "unknown";
}

// ---- prompt templates --------------------------------------------------------------------------
//
// The wording is zaya's own. The structure follows the published RSA / Markovian RSA prompts
// (see docs/RSA.md): an instruction paragraph, the problem, numbered candidate blocks, and a
// closing request for one improved solution with the final answer in \boxed{}. The box is
// written empty so that a model echoing the instruction does not cast a vote.

PromptTemplates PromptTemplates::defaults() {
  PromptTemplates t;
  t.aggregate =
      "Below is a problem followed by {count} earlier attempts at solving it. Each attempt may contain "
      "mistakes or stop before the end. Read them critically: keep the reasoning that holds up, repair or "
      "drop the parts that do not, and where the attempts disagree, work out which line of argument is "
      "correct. If every attempt is wrong, solve the problem with a fresh approach. Do not copy out the "
      "problem or the attempts again.\n"
      "\n"
      "Problem:\n"
      "{problem}\n"
      "\n"
      "Earlier attempts (possibly wrong or incomplete):\n"
      "{candidates}\n"
      "\n"
      "Write one complete solution that improves on these attempts, reason it through clearly, and put the "
      "final answer in \\boxed{}.";
  t.aggregate_block = "---- Attempt {index} ----\n{text}";
  t.refine =
      "Below is a problem followed by an earlier attempt at solving it, which may be unfinished or wrong. "
      "Pick up that attempt and refine it; if its approach is mistaken, set it aside and solve the problem "
      "another way.\n"
      "\n"
      "Problem:\n"
      "{problem}\n"
      "\n"
      "Earlier attempt (possibly wrong or incomplete):\n"
      "{candidates}\n"
      "\n"
      "Using the problem and the attempt above, write your own complete solution and put the final answer "
      "in \\boxed{}.";
  t.refine_block = "---- Attempt ----\n{text}";
  t.block_separator = "\n\n";
  return t;
}

void PromptTemplates::validate() const {
  auto need = [](const std::string& text, std::string_view placeholder, const char* what) {
    if (text.find(placeholder) == std::string::npos)
      fail(ErrorCode::invalid_argument, "rsa: the {} template has no {} placeholder", what, placeholder);
  };
  need(aggregate, "{problem}", "aggregate");
  need(aggregate, "{candidates}", "aggregate");
  need(refine, "{problem}", "refine");
  need(refine, "{candidates}", "refine");
  need(aggregate_block, "{text}", "aggregate_block");
  need(refine_block, "{text}", "refine_block");
}

namespace {

// Single-pass substitution of `{name}` placeholders; unknown braces are copied as they are.
std::string substitute(std::string_view text, std::initializer_list<std::pair<std::string_view, std::string_view>> values) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '{') {
      const size_t close = text.find('}', i + 1);
      if (close != std::string_view::npos) {
        const std::string_view name = text.substr(i + 1, close - i - 1);
        bool replaced = false;
        for (const auto& [key, value] : values) {
          if (key == name) {
            out += value;
            replaced = true;
            break;
          }
        }
        if (replaced) {
          i = close + 1;
          continue;
        }
      }
    }
    out.push_back(text[i++]);
  }
  return out;
}

}  // namespace

std::string render_aggregation_text(const PromptTemplates& templates, std::string_view problem,
                                    std::span<const std::string> tails) {
  if (tails.empty()) fail(ErrorCode::invalid_argument, "rsa: an aggregation prompt needs at least one tail");
  const bool refine = tails.size() == 1;
  const std::string& block = refine ? templates.refine_block : templates.aggregate_block;
  std::string candidates;
  for (size_t i = 0; i < tails.size(); ++i) {
    if (i) candidates += templates.block_separator;
    const std::string index = std::to_string(i + 1);
    candidates += substitute(block, {{"index", index}, {"text", tails[i]}});
  }
  const std::string count = std::to_string(tails.size());
  return substitute(refine ? templates.refine : templates.aggregate,
                    {{"problem", problem}, {"candidates", candidates}, {"count", count}});
}

// ---- configuration -----------------------------------------------------------------------------

SamplingParams FinalStage::defaults_sampling() {
  SamplingParams s = SamplingParams::defaults();
  s.temperature = 0.6f;
  s.top_p = 0.95f;
  s.top_k = 40;
  return s;
}

std::vector<std::string> RsaConfig::preset_names() { return {"single", "light", "recommended", "high", "extra-high"}; }

RsaConfig RsaConfig::preset(std::string_view name) {
  RsaConfig c;
  auto set = [&](int rounds, int population, int subset, int64_t window, int64_t tail) {
    c.t = rounds;
    c.n = population;
    c.c = subset;
    c.beta = window;
    c.tau = tail;
  };
  if (name == "single") set(0, 1, 1, 16384, 4096);
  else if (name == "light") set(2, 16, 4, 8192, 4096);
  else if (name == "recommended") set(2, 16, 4, 16384, 4096);
  else if (name == "high") set(8, 16, 4, 16384, 4096);
  else if (name == "extra-high") set(8, 32, 4, 32768, 4096);
  else fail(ErrorCode::invalid_argument, "rsa: unknown preset '{}' (single, light, recommended, high, extra-high)", name);
  return c;
}

void RsaConfig::validate() const {
  constexpr int kMaxPopulation = 65536;
  constexpr int64_t kMaxTokens = int64_t{1} << 30;
  if (n < 1 || n > kMaxPopulation) fail(ErrorCode::invalid_argument, "rsa: n = {} (population must be 1..{})", n, kMaxPopulation);
  if (c < 1) fail(ErrorCode::invalid_argument, "rsa: c = {} (tails per prompt must be >= 1)", c);
  if (c > n) fail(ErrorCode::invalid_argument, "rsa: c = {} is larger than the population n = {}", c, n);
  if (t < 0 || t > 100000) fail(ErrorCode::invalid_argument, "rsa: t = {} (aggregation rounds must be 0..100000)", t);
  if (beta < 1 || beta > kMaxTokens) fail(ErrorCode::invalid_argument, "rsa: beta = {} (decode budget must be 1..{})", beta, kMaxTokens);
  if (tau < 1) fail(ErrorCode::invalid_argument, "rsa: tau = {} (tail length must be >= 1)", tau);
  if (tau > beta) fail(ErrorCode::invalid_argument, "rsa: tau = {} is larger than beta = {}", tau, beta);
  sampling.validate();
  for (const auto& [round, params] : round_sampling) {
    if (round < 0 || round > t) fail(ErrorCode::invalid_argument, "rsa: round_sampling for round {} (rounds are 0..{})", round, t);
    params.validate();
  }
  if (final_stage.enabled) {
    if (final_stage.n < 1 || final_stage.n > kMaxPopulation)
      fail(ErrorCode::invalid_argument, "rsa: final_stage.n = {} (must be 1..{})", final_stage.n, kMaxPopulation);
    if (final_stage.beta < 1 || final_stage.beta > kMaxTokens)
      fail(ErrorCode::invalid_argument, "rsa: final_stage.beta = {} (must be 1..{})", final_stage.beta, kMaxTokens);
    final_stage.sampling.validate();
  }
  if (budgets.decode_tokens < 0) fail(ErrorCode::invalid_argument, "rsa: budgets.decode_tokens = {} (must be >= 0)", budgets.decode_tokens);
  if (budgets.prefill_tokens < 0) fail(ErrorCode::invalid_argument, "rsa: budgets.prefill_tokens = {} (must be >= 0)", budgets.prefill_tokens);
  if (!(budgets.seconds >= 0) || !std::isfinite(budgets.seconds))
    fail(ErrorCode::invalid_argument, "rsa: budgets.seconds = {} (must be finite and >= 0)", budgets.seconds);
  if (max_batch < 0) fail(ErrorCode::invalid_argument, "rsa: max_batch = {} (must be >= 0)", max_batch);
  if (progress_every < 0) fail(ErrorCode::invalid_argument, "rsa: progress_every = {} (must be >= 0)", progress_every);
  prompts.validate();
}

SamplingParams RsaConfig::candidate_sampling(int round, int slot) const {
  SamplingParams s = sampling;
  if (is_final_stage(round)) s = final_stage.sampling;
  else if (auto it = round_sampling.find(round); it != round_sampling.end()) s = it->second;
  s.seed = derive_seed(seed, {static_cast<uint64_t>(round), static_cast<uint64_t>(slot)});
  return s;
}

// ---- subsets -----------------------------------------------------------------------------------

namespace {

constexpr uint64_t kSubsetStream = 0x73756273ull;  // "subs": the subset draw of (round, slot)

// Uniform integer in [0, bound) from the counter-based stream, by rejection (no modulo bias).
uint64_t uniform_below(uint64_t seed, uint64_t& counter, uint64_t bound) {
  const uint64_t reject_below = (0 - bound) % bound;  // 2^64 mod bound
  for (;;) {
    const uint64_t x = random_bits(seed, counter++);
    if (x >= reject_below) return x % bound;
  }
}

}  // namespace

std::vector<int> sample_subset(uint64_t seed, int round, int slot, int n, int c) {
  if (n < 1 || c < 1 || c > n) fail(ErrorCode::invalid_argument, "rsa: cannot draw {} distinct candidates of {}", c, n);
  const uint64_t stream = derive_seed(seed, {static_cast<uint64_t>(round), static_cast<uint64_t>(slot), kSubsetStream});
  // Partial Fisher-Yates over 0..n-1: the first c entries are a uniform draw without
  // replacement, in draw order (as Python's random.sample).
  std::vector<int> pool(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) pool[static_cast<size_t>(i)] = i;
  uint64_t counter = 0;
  for (int k = 0; k < c; ++k) {
    const uint64_t j = static_cast<uint64_t>(k) + uniform_below(stream, counter, static_cast<uint64_t>(n - k));
    std::swap(pool[static_cast<size_t>(k)], pool[static_cast<size_t>(j)]);
  }
  pool.resize(static_cast<size_t>(c));
  return pool;
}

}  // namespace zaya::rsa
