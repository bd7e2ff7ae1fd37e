// zaya/sampler.h - turning one row of logits into one token id.
//
// A Sampler applies a fixed chain of steps to a vocab-sized row of logits and draws a token:
//
//   1. penalties     over the last `penalty_last_n` ids of the sequence's history (the caller
//                    passes prompt + generated so far, or only what it wants penalised):
//                      repetition (CTRL / llama.cpp / HF): a seen token's logit l becomes
//                        l / repetition_penalty if l > 0, else l * repetition_penalty;
//                      then frequency and presence (OpenAI):
//                        l -= count * frequency_penalty + (count > 0 ? presence_penalty : 0).
//   2. logit bias    l += bias[id]  (after the penalties, so a bias of -inf or -100 always wins;
//                    a bias of -inf bans the token). Duplicate ids in `logit_bias` add up.
//   3. masking       ids >= allowed_vocab (the tokenizer's vocabulary; the model's row is padded
//                    beyond it) and `banned_tokens` can never be drawn, whatever their logits.
//   4. greedy        if greedy, temperature == 0 or top_k == 1: the arg-max of the adjusted
//                    logits (lowest id on ties). No randomness, probability reported as 1.
//   5. top-k         keep the k largest (ties broken towards the lower id); 0 = off.
//   6. top-p         keep the smallest set of most-likely tokens whose probability mass (among
//                    the top-k survivors) reaches top_p; the token that crosses it is kept
//                    (HF and llama.cpp semantics). 1 = off.
//   7. min-p         keep tokens whose probability is >= min_p * (probability of the top token).
//                    0 = off. (Applied to the top-p survivors; both are prefixes of the sorted
//                    order, so this is their intersection.)
//   8. draw          categorical draw from the survivors, renormalised, at the temperature.
//
// Where the temperature acts is a parameter (`temperature_placement`):
//   * before_filters (default; Hugging Face transformers and vLLM): logits are divided by the
//     temperature first, so top-p and min-p see the tempered distribution.
//   * after_filters (llama.cpp's default chain penalties -> top-k -> top-p -> min-p ->
//     temperature -> draw): top-p and min-p see the untempered distribution; only the final draw
//     is tempered.
// Top-k and greedy do not depend on the placement (temperature preserves order).
//
// Logits rows: -inf means "masked" and is fine. NaN or +inf inside the allowed vocabulary means
// the model (or the caller) is broken: sample() raises ErrorCode::invalid_argument naming the id
// rather than silently drawing around it. Values beyond allowed_vocab are never read.
// If every allowed token ends up masked, sample() raises invalid_argument too.
//
// Determinism: a draw uses exactly one uniform number, random_uniform(seed, step), a pure
// function of the sequence's seed and the draw counter `step` the caller passes (normally the
// number of tokens generated so far). Nothing depends on the batch a sequence runs in, the
// thread count, or other Sampler objects, so the same seed reproduces the same tokens. Callers
// that fan one request out into many streams (e.g. RSA rounds and slots) derive one seed per
// stream with derive_seed(seed, {round, slot}).
//
// Precision: candidates whose weight relative to the top token is below e^-87 (it would
// underflow a float) are treated as exactly zero, in both the filter and the draw.
//
// Memory: a Sampler keeps its work buffers between calls (about 12 bytes per vocabulary entry
// once a non-greedy draw has run), so steady-state sampling does not allocate. A Sampler is not
// thread-safe; use one per sequence (or per worker thread with the same parameters).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <span>
#include <utility>
#include <vector>

namespace zaya {

// ---- counter-based randomness -------------------------------------------------------------------

// The splitmix64 finaliser: a bijective 64-bit mix with full avalanche.
constexpr uint64_t mix64(uint64_t value) noexcept {
  value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ull;
  value = (value ^ (value >> 27)) * 0x94d049bb133111ebull;
  return value ^ (value >> 31);
}

// A seed for a sub-stream identified by `path`, e.g. derive_seed(request_seed, {round, slot}).
// Different paths (including different orders and lengths) give unrelated seeds; an empty path
// returns `seed` unchanged.
uint64_t derive_seed(uint64_t seed, std::initializer_list<uint64_t> path) noexcept;
uint64_t derive_seed(uint64_t seed, std::span<const uint64_t> path) noexcept;

// 64 random bits for draw number `step` of the stream `seed` (pure function).
uint64_t random_bits(uint64_t seed, uint64_t step) noexcept;

// A uniform double in [0, 1) with 53 random bits for draw number `step` of the stream `seed`.
double random_uniform(uint64_t seed, uint64_t step) noexcept;

// ---- parameters -------------------------------------------------------------------------------

enum class TemperaturePlacement : int {
  before_filters = 0,  // HF / vLLM: temperature, then top-k, top-p, min-p, draw
  after_filters = 1,   // llama.cpp: top-k, top-p, min-p, then temperature, draw
};

struct SamplingParams {
  // penalty_last_n value meaning "the whole history the caller passes" (HF's repetition penalty
  // covers prompt + output with no window).
  static constexpr int32_t whole_history = std::numeric_limits<int32_t>::max();
  static constexpr uint64_t default_seed = 0x5a41594131ull;  // "ZAYA1"

  float temperature = 1.0f;         // >= 0; 0 means greedy
  int32_t top_k = 0;                // >= 0; 0 = off
  float top_p = 1.0f;               // in (0, 1]; 1 = off
  float min_p = 0.0f;               // in [0, 1]; 0 = off
  float repetition_penalty = 1.0f;  // > 0; 1 = off; > 1 discourages repeats
  float presence_penalty = 0.0f;    // finite; 0 = off
  float frequency_penalty = 0.0f;   // finite; 0 = off
  int32_t penalty_last_n = 64;      // >= 0; window of history the penalties look at; 0 = off
  bool greedy = false;              // arg-max regardless of temperature
  TemperaturePlacement temperature_placement = TemperaturePlacement::before_filters;
  uint64_t seed = default_seed;
  std::vector<std::pair<int32_t, float>> logit_bias;  // (id, bias); bias finite or -inf
  std::vector<int32_t> banned_tokens;                 // ids that can never be drawn

  // Sampling from the model's own distribution: temperature 1, no filters, no penalties.
  static SamplingParams defaults();
  // Deterministic arg-max decoding.
  static SamplingParams greedy_defaults();
  // llama.cpp's common defaults (temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, temperature
  // after the filters).
  static SamplingParams llama_cpp_defaults();

  // True when sample() takes the arg-max path (no random draw).
  bool is_greedy() const noexcept { return greedy || temperature == 0.0f || top_k == 1; }

  // Throws zaya::Error(invalid_argument) naming the first bad field. The one-argument form also
  // checks that logit_bias / banned_tokens ids are < vocab_size.
  void validate() const;
  void validate(size_t vocab_size) const;
};

// ---- the sampler ------------------------------------------------------------------------------

struct SampledToken {
  int32_t token = -1;
  // Probability of `token` in the final (filtered, renormalised, tempered) distribution it was
  // drawn from; 1 for greedy. Not the model's raw probability (that is a logprobs feature).
  float probability = 0.0f;
};

class Sampler {
 public:
  // Validates `params` (throws invalid_argument on a bad field).
  explicit Sampler(SamplingParams params);

  // Samples one token from `logits` (the model's full, possibly padded, row).
  //   history:       the sequence's token ids so far; the penalties use its last
  //                  penalty_last_n entries. Ids must be in [0, logits.size()).
  //   step:          draw counter of this sequence (tokens generated so far); with the seed it
  //                  fully determines the random draw.
  //   allowed_vocab: ids >= this are never drawn; 0 < allowed_vocab <= logits.size().
  SampledToken sample(std::span<const float> logits, std::span<const int32_t> history,
                      uint64_t step, size_t allowed_vocab);

  // Convenience: allowed_vocab = logits.size().
  SampledToken sample(std::span<const float> logits, std::span<const int32_t> history,
                      uint64_t step) {
    return sample(logits, history, step, logits.size());
  }

  const SamplingParams& params() const noexcept { return params_; }

 private:
  // A logit the chain changed (penalised, biased or banned), kept sparse and sorted by id so
  // the full-row passes can skip over them without copying the row.
  struct AdjustedLogit {
    int32_t id;
    float logit;
  };
  struct Maximum {
    int32_t id;
    float logit;
  };
  struct Candidate {
    float logit;
    int32_t id;
    float weight;  // exp((logit - max) * scale), filled by the filter/draw stages
  };

  void check_ids_against_vocab(size_t allowed_vocab);
  void build_adjustments(std::span<const float> logits, std::span<const int32_t> history,
                         size_t allowed_vocab);
  Maximum arg_max(std::span<const float> logits, size_t allowed_vocab) const;
  void collect_candidates(std::span<const float> logits, size_t allowed_vocab, float threshold,
                          size_t top_k);
  void keep_nucleus(double mass_target, double total_mass, size_t total_count);
  SampledToken draw(uint64_t step, double max_logit, double draw_scale, bool weights_ready);

  SamplingParams params_;
  std::vector<std::pair<int32_t, float>> bias_by_id_;  // sorted by id, duplicates summed
  std::vector<int32_t> banned_sorted_;                 // sorted, unique
  size_t ids_checked_for_vocab_ = 0;                   // allowed_vocab the ids were checked for
  bool penalties_active_ = false;

  // Work buffers reused across calls.
  std::vector<int32_t> window_;
  std::vector<AdjustedLogit> penalised_;
  std::vector<AdjustedLogit> adjusted_;
  std::vector<Candidate> candidates_;
};

}  // namespace zaya
