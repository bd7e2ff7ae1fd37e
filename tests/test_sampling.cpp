// tests/test_sampling.cpp - the sampler chain and its counter-based RNG.
#include <doctest/doctest.h>

#include <zaya/error.h>
#include <zaya/sampler.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <new>
#include <numeric>
#include <set>
#include <string>
#include <vector>

// ---- allocation counting: the steady state of sample() must not touch the heap ---------------
namespace {
std::atomic<size_t> g_allocations{0};
}  // namespace

// GCC pairs the inlined malloc/free of these replacements with new/delete expressions and warns
// about a mismatch that cannot happen: every operator new here is matched by this file's delete.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

using namespace zaya;

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Deterministic pseudo-random logits (test data only; independent of the library's RNG).
std::vector<float> random_logits(size_t size, uint64_t seed, float spread = 4.0f) {
  std::vector<float> logits(size);
  uint64_t state = seed;
  for (float& value : logits) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    double unit = static_cast<double>(state >> 11) * 0x1.0p-53;
    value = static_cast<float>((unit * 2.0 - 1.0) * spread);
  }
  return logits;
}

size_t reference_argmax(const std::vector<float>& logits, size_t allowed) {
  size_t best = 0;
  for (size_t i = 1; i < allowed; ++i)
    if (logits[i] > logits[best]) best = i;
  return best;
}

std::vector<double> softmax(const std::vector<float>& logits, double temperature = 1.0) {
  double max = *std::max_element(logits.begin(), logits.end());
  std::vector<double> probs(logits.size());
  double total = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    probs[i] = logits[i] == kNegInf ? 0.0 : std::exp((logits[i] - max) / temperature);
    total += probs[i];
  }
  for (double& p : probs) p /= total;
  return probs;
}

// Draws `draws` tokens (steps 0..draws-1) and counts them.
std::vector<size_t> histogram(Sampler& sampler, const std::vector<float>& logits, size_t draws,
                              size_t allowed = 0) {
  std::vector<size_t> counts(logits.size(), 0);
  for (size_t step = 0; step < draws; ++step) {
    SampledToken token = sampler.sample(logits, {}, step, allowed == 0 ? logits.size() : allowed);
    counts.at(static_cast<size_t>(token.token))++;
  }
  return counts;
}

// Pearson chi-square over the support of `expected` (probabilities summing to 1); tokens with
// expected probability 0 must never be drawn at all.
void check_distribution(const std::vector<size_t>& counts, const std::vector<double>& expected,
                        size_t draws) {
  REQUIRE(counts.size() == expected.size());
  double chi_square = 0;
  size_t degrees = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (expected[i] == 0.0) {
      INFO("token ", i, " is outside the support but was drawn");
      CHECK(counts[i] == 0);
      continue;
    }
    double e = expected[i] * static_cast<double>(draws);
    double d = static_cast<double>(counts[i]) - e;
    chi_square += d * d / e;
    ++degrees;
  }
  degrees = degrees > 0 ? degrees - 1 : 0;
  // Roughly the 1e-6 upper tail for these small degrees of freedom: loose enough never to fail
  // on a correct sampler with this fixed seed, tight enough to catch a wrong distribution.
  double bound = static_cast<double>(degrees) + 7.0 * std::sqrt(2.0 * static_cast<double>(degrees)) + 12.0;
  INFO("chi-square ", chi_square, " with ", degrees, " degrees of freedom, bound ", bound);
  CHECK(chi_square < bound);
}

std::vector<double> renormalised(std::vector<double> probs, const std::set<size_t>& support) {
  double total = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    if (!support.count(i)) probs[i] = 0;
    total += probs[i];
  }
  for (double& p : probs) p /= total;
  return probs;
}

// The logit the chain gives `target` after penalties and bias, recovered exactly from the
// reported probability on a two-token row {target, reference with logit 0}.
double adjusted_logit(SamplingParams params, float target_logit, std::vector<int32_t> history,
                      int32_t target = 0, size_t vocab = 4) {
  params.temperature = 1.0f;
  params.greedy = false;
  Sampler sampler(std::move(params));
  std::vector<float> logits(vocab, kNegInf);
  const int32_t reference = static_cast<int32_t>(vocab - 1);
  logits[static_cast<size_t>(target)] = target_logit;
  logits[static_cast<size_t>(reference)] = 0.0f;
  SampledToken drawn = sampler.sample(logits, history, 0);
  double p_target = drawn.token == target ? drawn.probability : 1.0 - drawn.probability;
  return std::log(p_target / (1.0 - p_target));
}

void check_invalid(const SamplingParams& params, const std::string& field) {
  INFO("field ", field);
  try {
    params.validate();
    FAIL("validate() accepted an invalid ", field);
  } catch (const Error& error) {
    CHECK(error.code() == ErrorCode::invalid_argument);
    CHECK(std::string(error.what()).find(field) != std::string::npos);
  }
  CHECK_THROWS_AS(Sampler{params}, Error);
}

}  // namespace

// ---- randomness ---------------------------------------------------------------------------------

TEST_CASE("random_uniform is a pure function of (seed, step) in [0, 1)") {
  for (uint64_t step = 0; step < 1000; ++step) {
    double u = random_uniform(42, step);
    CHECK(u >= 0.0);
    CHECK(u < 1.0);
    CHECK(u == random_uniform(42, step));
  }
  CHECK(random_uniform(42, 0) != random_uniform(42, 1));
  CHECK(random_uniform(42, 0) != random_uniform(43, 0));
}

TEST_CASE("random_uniform is uniform across steps and across neighbouring seeds") {
  constexpr size_t kBins = 32, kDraws = 320000;
  std::vector<size_t> by_step(kBins, 0), by_seed(kBins, 0);
  for (uint64_t i = 0; i < kDraws; ++i) {
    by_step[static_cast<size_t>(random_uniform(7, i) * kBins)]++;
    by_seed[static_cast<size_t>(random_uniform(i, 0) * kBins)]++;  // seeds 0, 1, 2, ...
  }
  std::vector<double> flat(kBins, 1.0 / kBins);
  check_distribution(by_step, flat, kDraws);
  check_distribution(by_seed, flat, kDraws);

  // Consecutive draws of one stream and same-step draws of adjacent seeds are uncorrelated.
  double sum_xy = 0, sum_xz = 0;
  constexpr size_t kPairs = 100000;
  for (uint64_t i = 0; i < kPairs; ++i) {
    double x = random_uniform(99, i) - 0.5;
    sum_xy += x * (random_uniform(99, i + 1) - 0.5);
    sum_xz += x * (random_uniform(100, i) - 0.5);
  }
  // Correlation = sum / (n / 12); its standard error is about 1/sqrt(n) = 0.003.
  CHECK(std::abs(sum_xy / (kPairs / 12.0)) < 0.02);
  CHECK(std::abs(sum_xz / (kPairs / 12.0)) < 0.02);
}

TEST_CASE("derive_seed separates paths") {
  const uint64_t seed = 1234;
  CHECK(derive_seed(seed, {}) == seed);
  CHECK(derive_seed(seed, {1, 2}) == derive_seed(seed, {1, 2}));
  std::set<uint64_t> seen = {
      seed,
      derive_seed(seed, {0}),
      derive_seed(seed, {1}),
      derive_seed(seed, {1, 2}),
      derive_seed(seed, {2, 1}),
      derive_seed(seed, {1, 0}),
      derive_seed(seed, {1, 2, 0}),
      derive_seed(seed + 1, {1, 2}),
      derive_seed(derive_seed(seed, {1}), {2}),
  };
  CHECK(seen.size() == 9);
  const uint64_t path[] = {3, 4};
  CHECK(derive_seed(seed, std::span<const uint64_t>(path)) == derive_seed(seed, {3, 4}));
  // A derived stream's draws differ from the parent's.
  CHECK(random_bits(derive_seed(seed, {0}), 0) != random_bits(seed, 0));
}

// ---- validation ---------------------------------------------------------------------------------

TEST_CASE("invalid parameters are rejected naming the field") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  auto with = [](auto change) {
    SamplingParams params;
    change(params);
    return params;
  };
  check_invalid(with([](SamplingParams& p) { p.temperature = -0.5f; }), "temperature");
  check_invalid(with([&](SamplingParams& p) { p.temperature = nan; }), "temperature");
  check_invalid(with([&](SamplingParams& p) { p.temperature = inf; }), "temperature");
  check_invalid(with([](SamplingParams& p) { p.top_k = -1; }), "top_k");
  check_invalid(with([](SamplingParams& p) { p.top_p = 0.0f; }), "top_p");
  check_invalid(with([](SamplingParams& p) { p.top_p = 1.01f; }), "top_p");
  check_invalid(with([&](SamplingParams& p) { p.top_p = nan; }), "top_p");
  check_invalid(with([](SamplingParams& p) { p.min_p = -0.01f; }), "min_p");
  check_invalid(with([](SamplingParams& p) { p.min_p = 1.5f; }), "min_p");
  check_invalid(with([&](SamplingParams& p) { p.min_p = nan; }), "min_p");
  check_invalid(with([](SamplingParams& p) { p.repetition_penalty = 0.0f; }), "repetition_penalty");
  check_invalid(with([](SamplingParams& p) { p.repetition_penalty = -1.0f; }), "repetition_penalty");
  check_invalid(with([&](SamplingParams& p) { p.repetition_penalty = nan; }), "repetition_penalty");
  check_invalid(with([&](SamplingParams& p) { p.presence_penalty = nan; }), "presence_penalty");
  check_invalid(with([&](SamplingParams& p) { p.presence_penalty = inf; }), "presence_penalty");
  check_invalid(with([&](SamplingParams& p) { p.frequency_penalty = nan; }), "frequency_penalty");
  check_invalid(with([](SamplingParams& p) { p.penalty_last_n = -1; }), "penalty_last_n");
  check_invalid(with([](SamplingParams& p) { p.logit_bias = {{5, 1.0f}, {-2, 1.0f}}; }),
                "logit_bias[1]");
  check_invalid(with([&](SamplingParams& p) { p.logit_bias = {{5, nan}}; }), "logit_bias[0]");
  check_invalid(with([&](SamplingParams& p) { p.logit_bias = {{5, inf}}; }), "logit_bias[0]");
  check_invalid(with([](SamplingParams& p) { p.banned_tokens = {3, -1}; }), "banned_tokens[1]");
  check_invalid(with([](SamplingParams& p) {
                  p.temperature_placement = static_cast<TemperaturePlacement>(7);
                }),
                "temperature_placement");

  // Valid edge values.
  SamplingParams edges;
  edges.temperature = 0.0f;
  edges.top_p = 1.0f;
  edges.min_p = 1.0f;
  edges.penalty_last_n = 0;
  edges.presence_penalty = -2.0f;
  edges.logit_bias = {{0, -inf}};
  CHECK_NOTHROW(edges.validate());
  CHECK_NOTHROW(SamplingParams::defaults().validate());
  CHECK_NOTHROW(SamplingParams::greedy_defaults().validate());
  CHECK_NOTHROW(SamplingParams::llama_cpp_defaults().validate());
}

TEST_CASE("token ids are checked against the vocabulary") {
  SamplingParams params;
  params.logit_bias = {{9, 1.0f}};
  CHECK_NOTHROW(params.validate(10));
  CHECK_THROWS_AS(params.validate(9), Error);
  params.logit_bias.clear();
  params.banned_tokens = {12};
  CHECK_THROWS_AS(params.validate(12), Error);

  // sample() checks them against allowed_vocab.
  SamplingParams biased;
  biased.logit_bias = {{6, 1.0f}};
  Sampler sampler(biased);
  std::vector<float> logits(8, 0.0f);
  CHECK_NOTHROW(sampler.sample(logits, {}, 0, 8));
  try {
    sampler.sample(logits, {}, 0, 6);
    FAIL("bias on a padding id was accepted");
  } catch (const Error& error) {
    CHECK(error.code() == ErrorCode::invalid_argument);
    CHECK(std::string(error.what()).find("logit_bias[0]") != std::string::npos);
  }
}

TEST_CASE("bad calls are rejected") {
  Sampler sampler(SamplingParams::defaults());
  std::vector<float> logits(8, 0.0f);
  CHECK_THROWS_AS(sampler.sample(logits, {}, 0, 0), Error);
  CHECK_THROWS_AS(sampler.sample(logits, {}, 0, 9), Error);
  CHECK_THROWS_AS(sampler.sample(std::span<const float>{}, {}, 0), Error);

  SamplingParams penalised;
  penalised.repetition_penalty = 1.3f;
  Sampler with_penalty(penalised);
  std::vector<int32_t> bad_history = {1, 8};
  CHECK_THROWS_AS(with_penalty.sample(logits, bad_history, 0), Error);
  std::vector<int32_t> negative_history = {-1};
  CHECK_THROWS_AS(with_penalty.sample(logits, negative_history, 0), Error);
  // Padding ids in the history are legal (they cannot be drawn, so there is nothing to penalise).
  std::vector<int32_t> padding_history = {7, 7};
  CHECK_NOTHROW(with_penalty.sample(logits, padding_history, 0, 6));
}

// ---- broken and masked rows ---------------------------------------------------------------------

TEST_CASE("NaN or +inf logits are an error naming the id; -inf is a mask") {
  for (bool greedy : {true, false}) {
    SamplingParams params = greedy ? SamplingParams::greedy_defaults() : SamplingParams::defaults();
    Sampler sampler(params);
    std::vector<float> logits = random_logits(100, 3);
    logits[37] = std::numeric_limits<float>::quiet_NaN();
    try {
      sampler.sample(logits, {}, 0);
      FAIL("NaN accepted");
    } catch (const Error& error) {
      CHECK(error.code() == ErrorCode::invalid_argument);
      CHECK(std::string(error.what()).find("logits[37]") != std::string::npos);
      CHECK(std::string(error.what()).find("NaN") != std::string::npos);
    }
    logits[37] = std::numeric_limits<float>::infinity();
    CHECK_THROWS_WITH_AS(sampler.sample(logits, {}, 0), doctest::Contains("logits[37] is +inf"),
                         Error);
    // A broken value beyond allowed_vocab (padding) is never read.
    CHECK_NOTHROW(sampler.sample(logits, {}, 0, 37));
    // A broken value on a biased id is caught too (it is read outside the main scan).
    SamplingParams biased = params;
    biased.logit_bias = {{37, 1.0f}};
    Sampler biased_sampler(biased);
    CHECK_THROWS_AS(biased_sampler.sample(logits, {}, 0), Error);
    // -inf is fine.
    logits[37] = kNegInf;
    CHECK_NOTHROW(sampler.sample(logits, {}, 0));
  }
}

TEST_CASE("an all-masked row is a clear error") {
  std::vector<float> logits(16, kNegInf);
  logits[15] = 5.0f;  // only a padding id is live
  for (bool greedy : {true, false}) {
    Sampler sampler(greedy ? SamplingParams::greedy_defaults() : SamplingParams::defaults());
    CHECK_THROWS_WITH_AS(sampler.sample(logits, {}, 0, 15), doctest::Contains("masked"), Error);
  }
  std::vector<float> live(4, 1.0f);
  SamplingParams all_banned;
  all_banned.banned_tokens = {0, 1, 2, 3};
  Sampler banned(all_banned);
  CHECK_THROWS_WITH_AS(banned.sample(live, {}, 0), doctest::Contains("masked"), Error);
  SamplingParams minus_inf_bias;
  minus_inf_bias.logit_bias = {{0, kNegInf}, {1, kNegInf}, {2, kNegInf}, {3, kNegInf}};
  Sampler biased(minus_inf_bias);
  CHECK_THROWS_AS(biased.sample(live, {}, 0), Error);
}

// ---- greedy -------------------------------------------------------------------------------------

TEST_CASE("greedy is the arg-max, lowest id on ties") {
  Sampler greedy(SamplingParams::greedy_defaults());
  SamplingParams zero_temperature;
  zero_temperature.temperature = 0.0f;
  Sampler cold(zero_temperature);
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    std::vector<float> logits = random_logits(5000, seed);
    int32_t expected = static_cast<int32_t>(reference_argmax(logits, logits.size()));
    SampledToken token = greedy.sample(logits, {}, seed);
    CHECK(token.token == expected);
    CHECK(token.probability == 1.0f);
    CHECK(cold.sample(logits, {}, seed).token == expected);
  }
  std::vector<float> ties = {1.0f, 3.0f, 2.0f, 3.0f, 3.0f};
  CHECK(greedy.sample(ties, {}, 0).token == 1);
  std::vector<float> masked_front = {kNegInf, kNegInf, -5.0f, -7.0f};
  CHECK(greedy.sample(masked_front, {}, 0).token == 2);
}

TEST_CASE("top_k = 1 equals greedy for any seed and temperature") {
  std::vector<float> logits = random_logits(3000, 11, 1.0f);
  int32_t expected = static_cast<int32_t>(reference_argmax(logits, logits.size()));
  for (uint64_t seed = 0; seed < 50; ++seed) {
    SamplingParams params;
    params.top_k = 1;
    params.temperature = 0.5f + static_cast<float>(seed) * 0.1f;
    params.seed = seed * 7919;
    Sampler sampler(params);
    CHECK(sampler.sample(logits, {}, seed).token == expected);
  }
}

// ---- masking ------------------------------------------------------------------------------------

TEST_CASE("padding ids and banned ids are never drawn, even with huge logits") {
  const size_t allowed = 100;
  std::vector<float> logits = random_logits(128, 5, 1.0f);
  for (size_t id = allowed; id < logits.size(); ++id) logits[id] = 1e30f;
  logits[allowed - 1] = 1e30f;  // the last real id is live and dominant...
  SamplingParams params;
  params.banned_tokens = {static_cast<int32_t>(allowed - 1), 3};  // ...but banned
  logits[3] = 1e30f;
  params.temperature = 5.0f;
  Sampler sampler(params);
  std::vector<size_t> counts = histogram(sampler, logits, 20000, allowed);
  for (size_t id = allowed; id < logits.size(); ++id) CHECK(counts[id] == 0);
  CHECK(counts[allowed - 1] == 0);
  CHECK(counts[3] == 0);
  size_t distinct = 0;
  for (size_t id = 0; id < allowed; ++id) distinct += counts[id] > 0;
  CHECK(distinct > 80);  // the rest of the vocabulary is still sampled

  SamplingParams greedy = SamplingParams::greedy_defaults();
  greedy.banned_tokens = params.banned_tokens;
  Sampler greedy_sampler(greedy);
  std::vector<float> expected_row(logits.begin(), logits.begin() + allowed);
  expected_row[allowed - 1] = kNegInf;
  expected_row[3] = kNegInf;
  CHECK(greedy_sampler.sample(logits, {}, 0, allowed).token ==
        static_cast<int32_t>(reference_argmax(expected_row, allowed)));
}

// ---- penalties and bias -------------------------------------------------------------------------

TEST_CASE("repetition penalty divides positive and multiplies negative logits of seen tokens") {
  SamplingParams params;
  params.repetition_penalty = 2.0f;
  CHECK(adjusted_logit(params, 3.0f, {0}) == doctest::Approx(1.5).epsilon(1e-4));
  CHECK(adjusted_logit(params, -1.0f, {0}) == doctest::Approx(-2.0).epsilon(1e-4));
  CHECK(adjusted_logit(params, 3.0f, {0, 0, 0}) == doctest::Approx(1.5).epsilon(1e-4));  // once
  CHECK(adjusted_logit(params, 3.0f, {1, 2}) == doctest::Approx(3.0).epsilon(1e-4));  // unseen
  CHECK(adjusted_logit(params, 0.0f, {0}) == doctest::Approx(0.0).epsilon(1e-4));
}

TEST_CASE("frequency and presence penalties subtract count * f + p") {
  SamplingParams frequency;
  frequency.frequency_penalty = 0.25f;
  CHECK(adjusted_logit(frequency, 2.0f, {0, 1, 0, 0}) == doctest::Approx(1.25).epsilon(1e-4));
  SamplingParams presence;
  presence.presence_penalty = 0.5f;
  CHECK(adjusted_logit(presence, 2.0f, {0, 1, 0, 0}) == doctest::Approx(1.5).epsilon(1e-4));
  CHECK(adjusted_logit(presence, 2.0f, {1, 2}) == doctest::Approx(2.0).epsilon(1e-4));
  SamplingParams negative;  // OpenAI allows negative values: encourage repeats
  negative.presence_penalty = -1.0f;
  CHECK(adjusted_logit(negative, 2.0f, {0}) == doctest::Approx(3.0).epsilon(1e-4));

  SamplingParams all;
  all.repetition_penalty = 1.5f;
  all.frequency_penalty = 0.1f;
  all.presence_penalty = 0.2f;
  // 3 / 1.5 - 2 * 0.1 - 0.2
  CHECK(adjusted_logit(all, 3.0f, {0, 2, 0}) == doctest::Approx(1.6).epsilon(1e-4));
  // -1 * 1.5 - 0.1 - 0.2
  CHECK(adjusted_logit(all, -1.0f, {0}) == doctest::Approx(-1.8).epsilon(1e-4));
}

TEST_CASE("penalties only look at the last penalty_last_n tokens") {
  SamplingParams params;
  params.frequency_penalty = 1.0f;
  params.penalty_last_n = 3;
  CHECK(adjusted_logit(params, 2.0f, {0, 0, 1, 1, 2}) == doctest::Approx(2.0).epsilon(1e-4));
  CHECK(adjusted_logit(params, 2.0f, {0, 0, 1, 0, 2}) == doctest::Approx(1.0).epsilon(1e-4));
  CHECK(adjusted_logit(params, 2.0f, {1, 0, 0}) == doctest::Approx(0.0).epsilon(1e-4));
  params.penalty_last_n = SamplingParams::whole_history;
  CHECK(adjusted_logit(params, 2.0f, {0, 0, 1, 1, 2}) == doctest::Approx(0.0).epsilon(1e-4));
  params.penalty_last_n = 0;  // off
  CHECK(adjusted_logit(params, 2.0f, {0, 0, 0}) == doctest::Approx(2.0).epsilon(1e-4));
}

TEST_CASE("logit bias is added after the penalties; duplicates add up") {
  SamplingParams params;
  params.logit_bias = {{0, 1.0f}};
  CHECK(adjusted_logit(params, 2.0f, {}) == doctest::Approx(3.0).epsilon(1e-4));
  params.repetition_penalty = 2.0f;
  // (3 / 2) + 1, not (3 + 1) / 2
  CHECK(adjusted_logit(params, 3.0f, {0}) == doctest::Approx(2.5).epsilon(1e-4));
  params.logit_bias = {{0, 1.0f}, {2, 5.0f}, {0, -0.25f}};
  CHECK(adjusted_logit(params, 3.0f, {}) == doctest::Approx(3.75).epsilon(1e-4));
  // A bias changes greedy decisions too.
  SamplingParams greedy = SamplingParams::greedy_defaults();
  greedy.logit_bias = {{2, 0.75f}};
  Sampler sampler(greedy);
  std::vector<float> logits = {1.0f, 2.0f, 1.5f};
  CHECK(sampler.sample(logits, {}, 0).token == 2);
  greedy.logit_bias = {{2, 0.25f}};
  Sampler weaker(greedy);
  CHECK(weaker.sample(logits, {}, 0).token == 1);
}

TEST_CASE("penalties steer greedy decoding away from repeats") {
  SamplingParams params = SamplingParams::greedy_defaults();
  params.repetition_penalty = 1.5f;
  Sampler sampler(params);
  std::vector<float> logits = {2.0f, 1.6f, 0.5f};
  CHECK(sampler.sample(logits, {}, 0).token == 0);
  std::vector<int32_t> history = {0};
  CHECK(sampler.sample(logits, history, 1).token == 1);  // 2 / 1.5 = 1.33 < 1.6
}

// ---- filters and the draw -----------------------------------------------------------------------

TEST_CASE("plain sampling follows softmax(logits / temperature)") {
  std::vector<float> logits = {1.0f, 0.5f, 0.0f, -0.5f, -1.0f, 2.0f, kNegInf, 0.25f};
  for (float temperature : {1.0f, 0.5f, 2.0f}) {
    SamplingParams params;
    params.temperature = temperature;
    Sampler sampler(params);
    constexpr size_t kDraws = 40000;
    check_distribution(histogram(sampler, logits, kDraws), softmax(logits, temperature), kDraws);
  }
}

TEST_CASE("reported probability is the renormalised probability of the drawn token") {
  std::vector<float> logits = {1.0f, 0.5f, 0.0f, -0.5f, -1.0f, 2.0f};
  SamplingParams params;
  params.top_k = 3;
  Sampler sampler(params);
  std::vector<double> expected = renormalised(softmax(logits), {5, 0, 1});
  for (uint64_t step = 0; step < 50; ++step) {
    SampledToken token = sampler.sample(logits, {}, step);
    CHECK(token.probability == doctest::Approx(expected[static_cast<size_t>(token.token)]).epsilon(1e-5));
  }
}

TEST_CASE("top-k keeps exactly the k most likely tokens") {
  std::vector<float> logits = {0.1f, 2.0f, -1.0f, 1.5f, 0.7f, 1.9f, -3.0f, 0.0f, 1.0f, 0.9f};
  SamplingParams params;
  params.top_k = 4;
  Sampler sampler(params);
  constexpr size_t kDraws = 40000;
  check_distribution(histogram(sampler, logits, kDraws),
                     renormalised(softmax(logits), {1, 5, 3, 8}), kDraws);
  // k larger than the live vocabulary keeps everything.
  params.top_k = 1000;
  Sampler wide(params);
  check_distribution(histogram(wide, logits, kDraws), softmax(logits), kDraws);
}

TEST_CASE("top-k ties at the boundary keep the lower ids") {
  std::vector<float> logits = {1.0f, 5.0f, 1.0f, 1.0f, 0.0f};
  SamplingParams params;
  params.top_k = 2;
  Sampler sampler(params);
  constexpr size_t kDraws = 20000;
  check_distribution(histogram(sampler, logits, kDraws), renormalised(softmax(logits), {1, 0}),
                     kDraws);
}

TEST_CASE("top-p keeps exactly the nucleus") {
  // Probabilities 0.4, 0.25, 0.15, 0.1, 0.05, 0.05.
  std::vector<double> probs = {0.4, 0.25, 0.15, 0.1, 0.05, 0.05};
  std::vector<float> logits;
  for (double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  constexpr size_t kDraws = 40000;
  struct Case {
    float top_p;
    std::set<size_t> nucleus;
  };
  for (const Case& c : {Case{0.7f, {0, 1, 2}}, Case{0.6f, {0, 1}}, Case{0.3f, {0}},
                        Case{0.97f, {0, 1, 2, 3, 4, 5}}, Case{0.85f, {0, 1, 2, 3}}}) {
    INFO("top_p ", c.top_p);
    SamplingParams params;
    params.top_p = c.top_p;
    Sampler sampler(params);
    check_distribution(histogram(sampler, logits, kDraws), renormalised(softmax(logits), c.nucleus),
                       kDraws);
  }
}

TEST_CASE("top-p on a full-size vocabulary matches a reference nucleus") {
  // 262,272 ids like the real model; the sampler sorts only a prefix, the reference sorts all.
  const size_t vocab = 262272;
  std::vector<float> logits = random_logits(vocab, 77, 9.0f);
  for (float top_p : {0.5f, 0.9f, 0.99f}) {
    INFO("top_p ", top_p);
    std::vector<double> probs = softmax(logits);
    std::vector<size_t> order(vocab);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    double mass = 0;
    std::set<size_t> nucleus;
    for (size_t id : order) {
      nucleus.insert(id);
      mass += probs[id];
      if (mass >= top_p) break;
    }
    SamplingParams params;
    params.top_p = top_p;
    Sampler sampler(params);
    for (uint64_t step = 0; step < 200; ++step) {
      SampledToken token = sampler.sample(logits, {}, step);
      size_t id = static_cast<size_t>(token.token);
      REQUIRE(nucleus.count(id) == 1);
      // The reported probability pins the nucleus mass the sampler renormalised by.
      CHECK(token.probability == doctest::Approx(probs[id] / mass).epsilon(1e-3));
    }
  }
}

TEST_CASE("top-k and top-p break ties towards the lower ids on large vocabularies") {
  // 5000 equal logits: every selection is decided by the id tie-break alone.
  std::vector<float> flat(5000, 0.25f);
  flat[4999] = kNegInf;
  SamplingParams top_k;
  top_k.top_k = 10;
  Sampler k_sampler(top_k);
  SamplingParams top_p;
  top_p.top_p = 0.0601f;  // 300 of 4999 tokens hold 0.06001; 301 are needed
  Sampler p_sampler(top_p);
  std::set<int32_t> k_seen, p_seen;
  for (uint64_t step = 0; step < 3000; ++step) {
    SampledToken k_token = k_sampler.sample(flat, {}, step);
    CHECK(k_token.token < 10);
    CHECK(k_token.probability == doctest::Approx(0.1));
    k_seen.insert(k_token.token);
    SampledToken p_token = p_sampler.sample(flat, {}, step);
    CHECK(p_token.token <= 300);
    CHECK(p_token.probability == doctest::Approx(1.0 / 301));
    p_seen.insert(p_token.token);
  }
  CHECK(k_seen.size() == 10);
  CHECK(p_seen.size() > 280);
  CHECK(p_seen.count(300) == 1);
}

TEST_CASE("min-p keeps tokens with probability >= min_p * max probability") {
  std::vector<double> probs = {0.4, 0.25, 0.15, 0.1, 0.05, 0.05};
  std::vector<float> logits;
  for (double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  constexpr size_t kDraws = 40000;
  struct Case {
    float min_p;
    std::set<size_t> kept;
  };
  // Thresholds relative to 0.4: 0.3 -> 0.12 keeps {0,1,2}; 0.5 -> 0.2 keeps {0,1}; 0.2 -> 0.08.
  for (const Case& c : {Case{0.3f, {0, 1, 2}}, Case{0.5f, {0, 1}}, Case{0.2f, {0, 1, 2, 3}},
                        Case{1.0f, {0}}}) {
    INFO("min_p ", c.min_p);
    SamplingParams params;
    params.min_p = c.min_p;
    Sampler sampler(params);
    check_distribution(histogram(sampler, logits, kDraws), renormalised(softmax(logits), c.kept),
                       kDraws);
  }
}

TEST_CASE("top-k, top-p and min-p compose as documented") {
  std::vector<double> probs = {0.3, 0.2, 0.15, 0.12, 0.1, 0.08, 0.05};
  std::vector<float> logits;
  for (double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  constexpr size_t kDraws = 40000;
  SamplingParams params;
  params.top_k = 5;    // {0..4}, mass 0.87
  params.top_p = 0.7f;  // within top-k: 0.3/.87=.345, +.2/.87=.575, +.15/.87=.747 -> {0,1,2}
  params.min_p = 0.45f;  // >= 0.135: {0,1,2} -> intersection {0,1,2}
  Sampler sampler(params);
  check_distribution(histogram(sampler, logits, kDraws), renormalised(softmax(logits), {0, 1, 2}),
                     kDraws);
  params.min_p = 0.6f;  // >= 0.18: {0,1}
  Sampler stricter(params);
  check_distribution(histogram(stricter, logits, kDraws), renormalised(softmax(logits), {0, 1}),
                     kDraws);
}

TEST_CASE("temperature placement: HF tempers before the filters, llama.cpp after") {
  // Logits 2, 1, 0, -1 at temperature 2:
  //   untempered probs  .644 .237 .087 .032  -> top_p 0.8 keeps {0, 1}
  //   tempered probs    .455 .276 .167 .102  -> top_p 0.8 keeps {0, 1, 2}
  std::vector<float> logits = {2.0f, 1.0f, 0.0f, -1.0f};
  constexpr size_t kDraws = 40000;
  SamplingParams params;
  params.temperature = 2.0f;
  params.top_p = 0.8f;
  params.temperature_placement = TemperaturePlacement::before_filters;
  Sampler hf(params);
  check_distribution(histogram(hf, logits, kDraws), renormalised(softmax(logits, 2.0), {0, 1, 2}),
                     kDraws);
  params.temperature_placement = TemperaturePlacement::after_filters;
  Sampler llama(params);
  // Filtered on the untempered distribution, drawn from the tempered one.
  check_distribution(histogram(llama, logits, kDraws), renormalised(softmax(logits, 2.0), {0, 1}),
                     kDraws);

  // Same for min-p: untempered ratios .37 .14 .05, tempered .61 .37 .22; min_p 0.3.
  SamplingParams min_p;
  min_p.temperature = 2.0f;
  min_p.min_p = 0.3f;
  Sampler hf_min_p(min_p);
  check_distribution(histogram(hf_min_p, logits, kDraws),
                     renormalised(softmax(logits, 2.0), {0, 1, 2}), kDraws);
  min_p.temperature_placement = TemperaturePlacement::after_filters;
  Sampler llama_min_p(min_p);
  check_distribution(histogram(llama_min_p, logits, kDraws),
                     renormalised(softmax(logits, 2.0), {0, 1}), kDraws);
}

TEST_CASE("tiny and huge temperatures stay well defined") {
  std::vector<float> logits = {1.0f, 1.001f, -2.0f};
  SamplingParams cold;
  cold.temperature = 1e-30f;
  Sampler cold_sampler(cold);
  for (uint64_t step = 0; step < 100; ++step) CHECK(cold_sampler.sample(logits, {}, step).token == 1);
  SamplingParams hot;
  hot.temperature = 1e30f;
  Sampler hot_sampler(hot);
  constexpr size_t kDraws = 30000;
  check_distribution(histogram(hot_sampler, logits, kDraws), {1.0 / 3, 1.0 / 3, 1.0 / 3}, kDraws);

  // The extremes of the valid range, in both placements.
  for (TemperaturePlacement placement :
       {TemperaturePlacement::before_filters, TemperaturePlacement::after_filters}) {
    SamplingParams extreme;
    extreme.temperature_placement = placement;
    extreme.top_p = 0.9f;
    extreme.temperature = std::numeric_limits<float>::max();
    Sampler hottest(extreme);
    std::set<int32_t> seen;
    for (uint64_t step = 0; step < 200; ++step) seen.insert(hottest.sample(logits, {}, step).token);
    CHECK(seen.size() >= 2);
    extreme.temperature = std::numeric_limits<float>::denorm_min();
    Sampler coldest(extreme);
    for (uint64_t step = 0; step < 50; ++step) CHECK(coldest.sample(logits, {}, step).token == 1);
  }
}

// ---- determinism --------------------------------------------------------------------------------

TEST_CASE("the same seed and step give the same token, whatever else runs in between") {
  std::vector<float> logits = random_logits(2000, 21, 2.0f);
  SamplingParams params;
  params.top_p = 0.9f;
  params.seed = 2024;
  params.repetition_penalty = 1.2f;

  // Alone.
  Sampler alone(params);
  std::vector<int32_t> history_alone, tokens_alone;
  for (uint64_t step = 0; step < 64; ++step) {
    int32_t token = alone.sample(logits, history_alone, step).token;
    history_alone.push_back(token);
    tokens_alone.push_back(token);
  }

  // Interleaved with other sequences (other seeds, other parameters) in a "batch", in reverse
  // slot order, with a fresh Sampler object per step.
  std::vector<int32_t> history, tokens;
  std::vector<std::vector<int32_t>> other_histories(3);
  for (uint64_t step = 0; step < 64; ++step) {
    for (size_t other = 0; other < 3; ++other) {
      SamplingParams other_params;
      other_params.seed = derive_seed(99, {other});
      other_params.top_k = 5 + static_cast<int32_t>(other);
      Sampler other_sampler(other_params);
      other_histories[other].push_back(
          other_sampler.sample(logits, other_histories[other], step * 3 + other).token);
    }
    Sampler fresh(params);
    int32_t token = fresh.sample(logits, history, step).token;
    history.push_back(token);
    tokens.push_back(token);
  }
  CHECK(tokens == tokens_alone);

  // A different seed gives a different sequence.
  params.seed = 2025;
  Sampler other_seed(params);
  std::vector<int32_t> other_history, other_tokens;
  for (uint64_t step = 0; step < 64; ++step) {
    int32_t token = other_seed.sample(logits, other_history, step).token;
    other_history.push_back(token);
    other_tokens.push_back(token);
  }
  CHECK(other_tokens != tokens_alone);
}

// ---- steady-state behaviour ---------------------------------------------------------------------

TEST_CASE("steady-state sampling does not allocate") {
  const size_t vocab = 262272, allowed = 262144;
  std::vector<float> logits = random_logits(vocab, 9, 8.0f);
  std::vector<int32_t> history;
  for (int32_t i = 0; i < 200; ++i) history.push_back((i * 7919) % 262144);

  SamplingParams greedy = SamplingParams::greedy_defaults();
  greedy.repetition_penalty = 1.1f;
  SamplingParams full = SamplingParams::llama_cpp_defaults();
  full.repetition_penalty = 1.1f;
  full.frequency_penalty = 0.2f;
  full.logit_bias = {{5, 2.0f}, {100, -1.0f}};
  full.banned_tokens = {0, 7};
  SamplingParams nucleus;
  nucleus.top_p = 0.95f;
  nucleus.temperature = 0.7f;

  for (const SamplingParams& params : {greedy, full, nucleus}) {
    Sampler sampler(params);
    sampler.sample(logits, history, 0, allowed);  // warm-up sizes the buffers
    size_t before = g_allocations.load();
    for (uint64_t step = 1; step < 6; ++step) sampler.sample(logits, history, step, allowed);
    const size_t allocations = g_allocations.load() - before;
    CHECK(allocations == 0);
  }
}

TEST_CASE("sampling a full-size vocabulary is fast") {
  const size_t vocab = 262272, allowed = 262144;
  std::vector<float> logits = random_logits(vocab, 10, 10.0f);
  std::vector<int32_t> history(64, 17);
  struct Named {
    const char* name;
    SamplingParams params;
  };
  SamplingParams top_k;
  top_k.top_k = 40;
  SamplingParams top_p;
  top_p.top_p = 0.95f;
  for (const Named& named : {Named{"greedy", SamplingParams::greedy_defaults()},
                             Named{"top-k 40", top_k}, Named{"top-p 0.95", top_p},
                             Named{"llama.cpp defaults", SamplingParams::llama_cpp_defaults()},
                             Named{"plain", SamplingParams::defaults()}}) {
    Sampler sampler(named.params);
    sampler.sample(logits, history, 0, allowed);
    constexpr int kCalls = 20;
    auto start = std::chrono::steady_clock::now();
    for (int i = 1; i <= kCalls; ++i) sampler.sample(logits, history, static_cast<uint64_t>(i), allowed);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / kCalls;
    MESSAGE(std::string(named.name), ": ", ms, " ms per token over ", allowed, " ids");
    CHECK(ms < 50.0);  // generous: only catches accidental quadratic or full-sort behaviour
  }
}
