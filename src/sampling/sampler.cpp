// src/sampling/sampler.cpp - the sampling chain documented in zaya/sampler.h.
#include <zaya/error.h>
#include <zaya/sampler.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace zaya {

// ---- counter-based randomness -------------------------------------------------------------------

namespace {

constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ull;
// Domain separator so that random_bits(seed, n) never equals derive_seed(seed, {n}).
constexpr uint64_t kDrawDomain = 0xd1b54a32d192ed03ull;

// One absorbing step of a keyed hash: bijective in `value` for a fixed `state`, and the state
// is re-mixed first so that related states (seed, seed + 1) give unrelated streams.
constexpr uint64_t absorb(uint64_t state, uint64_t value) noexcept {
  return mix64(mix64(state + kGolden) ^ value);
}

}  // namespace

uint64_t derive_seed(uint64_t seed, std::span<const uint64_t> path) noexcept {
  uint64_t state = seed;
  // Absorbing the length as well keeps {a} and {a, 0}-style paths apart even in principle.
  for (uint64_t part : path) state = absorb(state, part);
  return path.empty() ? seed : absorb(state, path.size());
}

uint64_t derive_seed(uint64_t seed, std::initializer_list<uint64_t> path) noexcept {
  return derive_seed(seed, std::span<const uint64_t>(path.begin(), path.size()));
}

uint64_t random_bits(uint64_t seed, uint64_t step) noexcept {
  return mix64(absorb(seed ^ kDrawDomain, step) + kGolden);
}

double random_uniform(uint64_t seed, uint64_t step) noexcept {
  return static_cast<double>(random_bits(seed, step) >> 11) * 0x1.0p-53;
}

// ---- parameters -------------------------------------------------------------------------------

SamplingParams SamplingParams::defaults() { return SamplingParams{}; }

SamplingParams SamplingParams::greedy_defaults() {
  SamplingParams params;
  params.greedy = true;
  params.temperature = 0.0f;
  return params;
}

SamplingParams SamplingParams::llama_cpp_defaults() {
  SamplingParams params;
  params.temperature = 0.8f;
  params.top_k = 40;
  params.top_p = 0.95f;
  params.min_p = 0.05f;
  params.penalty_last_n = 64;
  params.temperature_placement = TemperaturePlacement::after_filters;
  return params;
}

void SamplingParams::validate() const {
  if (!std::isfinite(temperature) || temperature < 0.0f)
    fail(ErrorCode::invalid_argument, "sampling: temperature must be a finite number >= 0 (got {})",
         temperature);
  if (top_k < 0) fail(ErrorCode::invalid_argument, "sampling: top_k must be >= 0 (got {})", top_k);
  if (!(top_p > 0.0f && top_p <= 1.0f))
    fail(ErrorCode::invalid_argument, "sampling: top_p must be in (0, 1] (got {})", top_p);
  if (!(min_p >= 0.0f && min_p <= 1.0f))
    fail(ErrorCode::invalid_argument, "sampling: min_p must be in [0, 1] (got {})", min_p);
  if (!std::isfinite(repetition_penalty) || repetition_penalty <= 0.0f)
    fail(ErrorCode::invalid_argument,
         "sampling: repetition_penalty must be a finite number > 0 (got {})", repetition_penalty);
  if (!std::isfinite(presence_penalty))
    fail(ErrorCode::invalid_argument, "sampling: presence_penalty must be finite (got {})",
         presence_penalty);
  if (!std::isfinite(frequency_penalty))
    fail(ErrorCode::invalid_argument, "sampling: frequency_penalty must be finite (got {})",
         frequency_penalty);
  if (penalty_last_n < 0)
    fail(ErrorCode::invalid_argument, "sampling: penalty_last_n must be >= 0 (got {})",
         penalty_last_n);
  if (temperature_placement != TemperaturePlacement::before_filters &&
      temperature_placement != TemperaturePlacement::after_filters)
    fail(ErrorCode::invalid_argument, "sampling: temperature_placement has unknown value {}",
         static_cast<int>(temperature_placement));
  for (size_t i = 0; i < logit_bias.size(); ++i) {
    const auto& [id, bias] = logit_bias[i];
    if (id < 0)
      fail(ErrorCode::invalid_argument, "sampling: logit_bias[{}] has negative token id {}", i,
           id);
    // -inf is a ban; +inf or NaN would make the distribution undefined.
    if (std::isnan(bias) || bias == std::numeric_limits<float>::infinity())
      fail(ErrorCode::invalid_argument,
           "sampling: logit_bias[{}] (token {}) must be finite or -inf (got {})", i, id, bias);
  }
  for (size_t i = 0; i < banned_tokens.size(); ++i) {
    if (banned_tokens[i] < 0)
      fail(ErrorCode::invalid_argument, "sampling: banned_tokens[{}] is a negative token id {}",
           i, banned_tokens[i]);
  }
}

void SamplingParams::validate(size_t vocab_size) const {
  validate();
  for (size_t i = 0; i < logit_bias.size(); ++i) {
    if (static_cast<size_t>(logit_bias[i].first) >= vocab_size)
      fail(ErrorCode::invalid_argument,
           "sampling: logit_bias[{}] token id {} is outside the vocabulary (size {})", i,
           logit_bias[i].first, vocab_size);
  }
  for (size_t i = 0; i < banned_tokens.size(); ++i) {
    if (static_cast<size_t>(banned_tokens[i]) >= vocab_size)
      fail(ErrorCode::invalid_argument,
           "sampling: banned_tokens[{}] token id {} is outside the vocabulary (size {})", i,
           banned_tokens[i], vocab_size);
  }
}

// ---- the sampler ------------------------------------------------------------------------------

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr float kMaxFinite = std::numeric_limits<float>::max();
// exp(-87) is about FLT_MIN: a candidate this far below the top token (in the scale that
// matters) has a weight a float cannot distinguish from zero next to the top token's 1.
constexpr double kNegligibleLogWeight = -87.0;

// True for NaN and +inf: logits a healthy model never produces. -inf is a legitimate mask.
inline bool is_broken_logit(float value) { return !(value <= kMaxFinite); }

[[noreturn]] void fail_broken_logit(std::span<const float> logits, size_t allowed_vocab) {
  for (size_t id = 0; id < allowed_vocab; ++id) {
    if (is_broken_logit(logits[id]))
      fail(ErrorCode::invalid_argument, "sampling: logits[{}] is {} (model output is broken)",
           id, std::isnan(logits[id]) ? "NaN" : "+inf");
  }
  fail(ErrorCode::internal, "sampling: a broken logit was detected but could not be located");
}

[[noreturn]] void fail_all_masked(size_t allowed_vocab) {
  fail(ErrorCode::invalid_argument,
       "sampling: every token of the allowed vocabulary ({} ids) is masked (-inf logits, bans "
       "or -inf biases); nothing can be sampled",
       allowed_vocab);
}

float checked_logit(std::span<const float> logits, int32_t id) {
  float value = logits[static_cast<size_t>(id)];
  if (is_broken_logit(value))
    fail(ErrorCode::invalid_argument, "sampling: logits[{}] is {} (model output is broken)", id,
         std::isnan(value) ? "NaN" : "+inf");
  return value;
}

// exp of a log-weight <= 0. Far below exp's float range the result is 0 anyway; clamping first
// keeps the double -> float conversion in range for extreme temperatures.
inline float weight_from_log(double log_weight) {
  return std::exp(static_cast<float>(std::max(log_weight, -200.0)));
}

// Keeps adjusted logits finite or -inf: a huge bias or negative penalty must not create +inf.
inline float clamp_adjusted(float value) { return std::min(value, kMaxFinite); }

}  // namespace

Sampler::Sampler(SamplingParams params) : params_(std::move(params)) {
  params_.validate();

  bias_by_id_ = params_.logit_bias;
  std::sort(bias_by_id_.begin(), bias_by_id_.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  // Duplicate ids add up (so callers can merge several bias maps by concatenation).
  size_t unique_count = 0;
  for (size_t i = 0; i < bias_by_id_.size(); ++i) {
    if (unique_count > 0 && bias_by_id_[unique_count - 1].first == bias_by_id_[i].first) {
      bias_by_id_[unique_count - 1].second += bias_by_id_[i].second;
    } else {
      bias_by_id_[unique_count++] = bias_by_id_[i];
    }
  }
  bias_by_id_.resize(unique_count);

  banned_sorted_ = params_.banned_tokens;
  std::sort(banned_sorted_.begin(), banned_sorted_.end());
  banned_sorted_.erase(std::unique(banned_sorted_.begin(), banned_sorted_.end()),
                       banned_sorted_.end());

  penalties_active_ = params_.penalty_last_n > 0 &&
                      (params_.repetition_penalty != 1.0f || params_.presence_penalty != 0.0f ||
                       params_.frequency_penalty != 0.0f);
}

void Sampler::check_ids_against_vocab(size_t allowed_vocab) {
  if (ids_checked_for_vocab_ == allowed_vocab) return;
  params_.validate(allowed_vocab);
  ids_checked_for_vocab_ = allowed_vocab;
}

void Sampler::build_adjustments(std::span<const float> logits, std::span<const int32_t> history,
                                size_t allowed_vocab) {
  penalised_.clear();
  if (penalties_active_ && !history.empty()) {
    size_t window_size = std::min(history.size(), static_cast<size_t>(params_.penalty_last_n));
    window_.assign(history.end() - static_cast<std::ptrdiff_t>(window_size), history.end());
    std::sort(window_.begin(), window_.end());
    for (size_t run_start = 0; run_start < window_.size();) {
      int32_t id = window_[run_start];
      size_t run_end = run_start + 1;
      while (run_end < window_.size() && window_[run_end] == id) ++run_end;
      size_t count = run_end - run_start;
      run_start = run_end;
      if (id < 0 || static_cast<size_t>(id) >= logits.size())
        fail(ErrorCode::invalid_argument,
             "sampling: history contains token id {} outside the logits row (size {})", id,
             logits.size());
      if (static_cast<size_t>(id) >= allowed_vocab) continue;  // can never be drawn anyway
      float logit = checked_logit(logits, id);
      if (params_.repetition_penalty != 1.0f) {
        logit = logit > 0.0f ? logit / params_.repetition_penalty
                             : logit * params_.repetition_penalty;
      }
      logit -= static_cast<float>(count) * params_.frequency_penalty + params_.presence_penalty;
      penalised_.push_back({id, clamp_adjusted(logit)});
    }
  }

  // Three-way merge of the sorted penalised, biased and banned ids into one sorted list.
  adjusted_.clear();
  size_t p = 0, b = 0, n = 0;
  while (p < penalised_.size() || b < bias_by_id_.size() || n < banned_sorted_.size()) {
    int32_t id = std::numeric_limits<int32_t>::max();
    if (p < penalised_.size()) id = std::min(id, penalised_[p].id);
    if (b < bias_by_id_.size()) id = std::min(id, bias_by_id_[b].first);
    if (n < banned_sorted_.size()) id = std::min(id, banned_sorted_[n]);
    float logit;
    if (p < penalised_.size() && penalised_[p].id == id) {
      logit = penalised_[p++].logit;
    } else {
      logit = checked_logit(logits, id);
    }
    if (b < bias_by_id_.size() && bias_by_id_[b].first == id) {
      logit = clamp_adjusted(logit + bias_by_id_[b++].second);
    }
    if (n < banned_sorted_.size() && banned_sorted_[n] == id) {
      logit = kNegInf;
      ++n;
    }
    adjusted_.push_back({id, logit});
  }
}

Sampler::Maximum Sampler::arg_max(std::span<const float> logits, size_t allowed_vocab) const {
  const float* row = logits.data();
  float best = kNegInf;
  size_t best_id = allowed_vocab;  // "none"
  bool broken = false;
  size_t id = 0;
  // Plain rows between adjusted ids: strict '>' keeps the lowest id on ties, and NaN never wins.
  auto scan_until = [&](size_t end) {
    for (; id < end; ++id) {
      float value = row[id];
      broken |= is_broken_logit(value);
      if (value > best) {
        best = value;
        best_id = id;
      }
    }
  };
  for (const AdjustedLogit& adjusted : adjusted_) {
    scan_until(static_cast<size_t>(adjusted.id));
    if (adjusted.logit > best) {
      best = adjusted.logit;
      best_id = static_cast<size_t>(adjusted.id);
    }
    id = static_cast<size_t>(adjusted.id) + 1;
  }
  scan_until(allowed_vocab);
  if (broken) fail_broken_logit(logits, allowed_vocab);
  if (best_id == allowed_vocab) fail_all_masked(allowed_vocab);
  return {static_cast<int32_t>(best_id), best};
}

namespace {

// Strict total order "more likely first": larger logit, then lower id. Using the id as a
// tie-break makes top-k / top-p keep the same set whatever the order candidates arrive in.
struct MoreLikely {
  template <typename C>
  bool operator()(const C& a, const C& b) const {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  }
};

// Calls visit(logit, id) for every allowed id in increasing id order, with the adjusted value
// where the chain changed it, without copying the row.
template <typename Adjusted, typename Visit>
void for_each_logit(const float* row, size_t allowed_vocab, const std::vector<Adjusted>& adjusted,
                    Visit&& visit) {
  size_t id = 0;
  for (const Adjusted& change : adjusted) {
    for (const size_t end = static_cast<size_t>(change.id); id < end; ++id) visit(row[id], id);
    visit(change.logit, id);
    ++id;
  }
  for (; id < allowed_vocab; ++id) visit(row[id], id);
}

}  // namespace

void Sampler::collect_candidates(std::span<const float> logits, size_t allowed_vocab,
                                 float threshold, size_t top_k) {
  const bool bounded = top_k > 0 && top_k < allowed_vocab;
  // Reserving the most that can be kept once means later calls never reallocate.
  const size_t most = bounded ? top_k : allowed_vocab;
  if (candidates_.capacity() < most) candidates_.reserve(most);
  candidates_.clear();

  if (!bounded) {
    for_each_logit(logits.data(), allowed_vocab, adjusted_, [&](float logit, size_t id) {
      if (logit >= threshold && logit > kNegInf)
        candidates_.push_back({logit, static_cast<int32_t>(id), 0.0f});
    });
    return;
  }

  // Top-k during the scan: a heap of the k most likely so far whose front is the least likely
  // of them. Most ids fail the first comparison, so this costs about one pass over the row.
  float worst_kept = kNegInf;
  for_each_logit(logits.data(), allowed_vocab, adjusted_, [&](float logit, size_t id) {
    if (!(logit >= threshold) || logit == kNegInf) return;
    if (candidates_.size() < top_k) {
      candidates_.push_back({logit, static_cast<int32_t>(id), 0.0f});
      std::push_heap(candidates_.begin(), candidates_.end(), MoreLikely{});
      worst_kept = candidates_.front().logit;
      return;
    }
    // Ids arrive in increasing order, so an equal logit loses the id tie-break.
    if (logit <= worst_kept) return;
    std::pop_heap(candidates_.begin(), candidates_.end(), MoreLikely{});
    candidates_.back() = {logit, static_cast<int32_t>(id), 0.0f};
    std::push_heap(candidates_.begin(), candidates_.end(), MoreLikely{});
    worst_kept = candidates_.front().logit;
  });
}

void Sampler::keep_nucleus(double mass_target, double total_mass, size_t total_count) {
  // Weights are filled in; the nucleus is the smallest most-likely set reaching mass_target.
  //
  // Cheap cut first: a candidate j is outside the nucleus when everything at least as unlikely
  // as j weighs less than total - target, and that holds if total_count * w_j < total - target.
  // Halving the bound keeps the cut clear of rounding.
  const double outside_bound =
      0.5 * (total_mass - mass_target) / static_cast<double>(std::max<size_t>(total_count, 1));
  std::erase_if(candidates_, [&](const Candidate& c) { return c.weight < outside_bound; });

  double remaining_total = 0.0;
  for (const Candidate& candidate : candidates_) remaining_total += candidate.weight;
  if (remaining_total < mass_target) return;  // all that is left is inside (min-p cut deeper)

  // Quickselect on mass: split the range at its median (nth_element), keep the more likely half
  // whole if it does not reach the target, and recurse into the half holding the boundary.
  // Expected linear time, unlike sorting the (possibly huge) nucleus.
  double target = mass_target;
  size_t begin = 0, end = candidates_.size();
  while (end - begin > 1) {
    const size_t middle = begin + (end - begin) / 2;
    auto first = candidates_.begin();
    std::nth_element(first + static_cast<std::ptrdiff_t>(begin),
                     first + static_cast<std::ptrdiff_t>(middle),
                     first + static_cast<std::ptrdiff_t>(end), MoreLikely{});
    double upper_mass = 0.0;
    for (size_t i = begin; i < middle; ++i) upper_mass += candidates_[i].weight;
    if (upper_mass >= target) {
      end = middle;
    } else {
      target -= upper_mass;
      begin = middle;
    }
  }
  candidates_.resize(begin + 1);  // [0, begin) lies wholly inside; `begin` crosses the target
}

SampledToken Sampler::draw(uint64_t step, double max_logit, double draw_scale,
                           bool weights_ready) {
  double total = 0.0;
  for (Candidate& candidate : candidates_) {
    if (!weights_ready)
      candidate.weight = weight_from_log((candidate.logit - max_logit) * draw_scale);
    total += candidate.weight;
  }
  // total >= 1: the top token always survives every filter and has weight exp(0) = 1.
  const double target = random_uniform(params_.seed, step) * total;
  double cumulative = 0.0;
  const Candidate* chosen = nullptr;
  for (const Candidate& candidate : candidates_) {
    if (candidate.weight <= 0.0f) continue;
    chosen = &candidate;
    cumulative += candidate.weight;
    if (target < cumulative) break;
  }
  if (chosen == nullptr) fail(ErrorCode::internal, "sampling: no candidate with positive weight");
  return {chosen->id, static_cast<float>(chosen->weight / total)};
}

SampledToken Sampler::sample(std::span<const float> logits, std::span<const int32_t> history,
                             uint64_t step, size_t allowed_vocab) {
  if (logits.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
    fail(ErrorCode::invalid_argument, "sampling: logits row of {} entries is too large",
         logits.size());
  if (allowed_vocab == 0 || allowed_vocab > logits.size())
    fail(ErrorCode::invalid_argument,
         "sampling: allowed_vocab must be in [1, {}] (the logits row size), got {}",
         logits.size(), allowed_vocab);
  check_ids_against_vocab(allowed_vocab);
  build_adjustments(logits, history, allowed_vocab);

  // One pass finds the maximum (and rejects NaN / +inf); for greedy that is the answer.
  const Maximum best = arg_max(logits, allowed_vocab);
  if (params_.is_greedy()) return {best.id, 1.0f};
  const double max_logit = best.logit;

  const double inverse_temperature = 1.0 / static_cast<double>(params_.temperature);
  const bool tempered_filters =
      params_.temperature_placement == TemperaturePlacement::before_filters;
  const double filter_scale = tempered_filters ? inverse_temperature : 1.0;
  const double draw_scale = inverse_temperature;

  // Candidates negligible in both the filter and the draw scale can be dropped up front.
  const double smallest_scale = std::min(filter_scale, draw_scale);
  const float threshold = static_cast<float>(std::max(
      max_logit + kNegligibleLogWeight / smallest_scale, -static_cast<double>(kMaxFinite)));
  collect_candidates(logits, allowed_vocab, threshold, static_cast<size_t>(params_.top_k));

  const bool use_top_p = params_.top_p < 1.0f;
  const bool use_min_p = params_.min_p > 0.0f;
  bool weights_ready = false;
  if (use_top_p || use_min_p) {
    double filter_mass = 0.0;
    const size_t filter_count = candidates_.size();
    for (Candidate& candidate : candidates_) {
      candidate.weight = weight_from_log((candidate.logit - max_logit) * filter_scale);
      filter_mass += candidate.weight;
    }
    if (use_min_p) {
      // The top token has weight 1, so "p >= min_p * p_max" is "weight >= min_p".
      const float min_weight = params_.min_p;
      std::erase_if(candidates_, [&](const Candidate& c) { return c.weight < min_weight; });
    }
    // The nucleus mass is measured against the top-k survivors' total (before min-p), so
    // top-p and min-p act as the intersection of two independent cuts.
    if (use_top_p)
      keep_nucleus(static_cast<double>(params_.top_p) * filter_mass, filter_mass, filter_count);
    weights_ready = filter_scale == draw_scale;
  }
  return draw(step, max_logit, draw_scale, weights_ready);
}

}  // namespace zaya
