// zaya/rsa.h - Markovian Recursive Self-Aggregation (Markovian RSA), the test-time-compute
// orchestrator ZAYA1 was co-trained with (ZAYA1-8B technical report, section VI).
//
// Algorithm (docs/RSA.md has the full description):
//
//   round 0      N rollouts from the question (prefilled once, forked to every sequence)
//   round t>=1   each of N new candidates gets C distinct tails drawn uniformly from round t-1
//                (C = 1: candidate j continues from candidate j's own tail), put in an
//                aggregation prompt rendered through the model's chat template
//   tail         the last tau generated tokens of a candidate (its reasoning by default)
//   answer       majority vote over the normalised last \boxed{...} of the final population
//
// T counts aggregation rounds, so a run has T+1 generation stages and T = 0 is parallel
// sampling. Only round t-1 is ever used to build round t (the "Markovian" part): the prompt of a
// candidate is bounded by |question| + C*tau + template, however long anyone reasoned.
//
// All candidates of a stage decode together as one batch of sequences in one context (one pass
// over the expert weights per step serves the whole population). When the caller's memory
// budget cannot hold every cache of a stage, the stage runs in waves.
//
// Determinism: every random choice derives from (seed, round, slot) through derive_seed(), so
// the same seed gives the same run whatever the batch size, wave size or thread count (given a
// model whose logits do not depend on the batch, as the CPU backend's). A decode budget that
// runs out in the middle of a stage cuts candidates at points that depend on the schedule.
//
// Layering: the orchestration (Orchestrator) runs against the abstract Engine below; ModelEngine
// is the real one over zaya::Context + Generator + Tokenizer + ChatTemplate. Tests drive the
// orchestrator with a scripted stand-in engine.
#pragma once

#include <zaya/dtype.h>
#include <zaya/generator.h>
#include <zaya/sampler.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace zaya {

class Model;
class Tokenizer;
class ChatFormatter;
class Context;

namespace rsa {

// ---- configuration -----------------------------------------------------------------------------

// What part of a candidate is carried forward as its tail.
enum class TailSource : int {
  reasoning = 0,              // the report's definition: the thinking segment (the whole output if
                              // the model did not think)
  answer_else_reasoning = 1,  // PaCoRe variant: a finished candidate's answer section, else its reasoning
  full_text = 2,              // reasoning and answer
};
const char* tail_source_name(TailSource source) noexcept;
// "reasoning", "answer" / "pacore" / "answer_else_reasoning", "full" / "full_text".
TailSource parse_tail_source(std::string_view name);

// The aggregation prompt, as template strings with placeholders. A placeholder is `{name}` for
// one of the names listed; any other text (including braces such as `\boxed{}`) is copied as it
// is. Substitution is a single pass: text substituted in is never scanned again.
//
//   aggregate        C >= 2. {problem} the question, {candidates} the joined blocks, {count} C.
//   aggregate_block  one candidate of `aggregate`. {index} 1..C, {text} its tail.
//   refine           C == 1. Same placeholders as `aggregate`.
//   refine_block     the single block of `refine`. {index} (always 1), {text}.
//   block_separator  between blocks.
struct PromptTemplates {
  std::string aggregate;
  std::string aggregate_block;
  std::string refine;
  std::string refine_block;
  std::string block_separator = "\n\n";

  static PromptTemplates defaults();
  // Throws invalid_argument if a template lacks {problem} / {candidates} or a block lacks {text}.
  void validate() const;
};

// Renders the user text of an aggregation prompt (before the chat template).
std::string render_aggregation_text(const PromptTemplates& templates, std::string_view problem,
                                    std::span<const std::string> tails);

// The optional final stage (Zyphra's proxy: one final aggregation at temperature 0.6, top-p 0.95,
// top-k 40 with a longer budget). When enabled it replaces round T: round T then has `n`
// candidates, generated with `sampling` and budget `beta` (with T = 0, round 0 is the final stage).
struct FinalStage {
  bool enabled = false;
  int n = 1;
  int64_t beta = 40960;
  SamplingParams sampling = defaults_sampling();
  static SamplingParams defaults_sampling();  // temperature 0.6, top-p 0.95, top-k 40
};

// Run-wide limits; 0 means no limit. The run stops cleanly when one is reached (see StoppedBy).
struct Budgets {
  int64_t decode_tokens = 0;   // generated tokens over all stages (the report's D)
  int64_t prefill_tokens = 0;  // prompt tokens prefilled; a stage that would exceed it is not started
  double seconds = 0;          // wall-clock time of the run
};

struct RsaConfig {
  int n = 16;           // population per round
  int c = 4;            // tails per aggregation prompt, 1 <= c <= n
  int t = 2;            // aggregation rounds (T+1 generation stages)
  int64_t beta = 16384; // decode budget per candidate
  int64_t tau = 4096;   // tail length in tokens, tau <= beta
  // Sampling of every round (its seed is ignored: each candidate gets derive_seed(seed, {round,
  // slot})). Default: temperature 1, top-p 1 (the report's test-time-compute setting).
  SamplingParams sampling = SamplingParams::defaults();
  std::map<int, SamplingParams> round_sampling;  // per-round overrides, keyed by round 0..T
  FinalStage final_stage;
  TailSource tail_source = TailSource::reasoning;
  bool mark_truncated_tails = false;       // prefix a cut tail with truncation_marker
  std::string truncation_marker = "[...] ";
  PromptTemplates prompts = PromptTemplates::defaults();
  uint64_t seed = SamplingParams::default_seed;
  Budgets budgets;
  // Bytes the caches of one stage may take (KV + CCA state of every sequence decoding at once);
  // the stage runs in waves when N sequences do not fit. 0 = no limit.
  uint64_t memory_budget_bytes = 0;
  int max_batch = 0;         // at most this many sequences decode together; 0 = the whole stage
  int progress_every = 64;   // candidate_progress event every this many tokens of a candidate; 0 = never
  // false: once a stage's tails are in the next stage's prompts, drop its candidates' ids, text
  // and reasoning (counts, tails, answers and answer sections stay). Bounds the memory of long runs.
  bool keep_outputs = true;

  // "single" (T=0, N=1), "light" (T=2,N=16,C=4,beta=8K,tau=4K), "recommended"
  // (T=2,N=16,C=4,beta=16K,tau=4K), "high" (T=8,N=16,C=4,beta=16K,tau=4K), "extra-high"
  // (T=8,N=32,C=4,beta=32K,tau=4K). Throws invalid_argument for another name.
  static RsaConfig preset(std::string_view name);
  static std::vector<std::string> preset_names();

  // Throws zaya::Error(invalid_argument) naming the first bad field.
  void validate() const;

  int stages() const noexcept { return t + 1; }
  bool is_final_stage(int round) const noexcept { return final_stage.enabled && round == t; }
  int stage_size(int round) const noexcept { return is_final_stage(round) ? final_stage.n : n; }
  int64_t stage_beta(int round) const noexcept { return is_final_stage(round) ? final_stage.beta : beta; }
  // The stage's sampling parameters with the seed of (round, slot) filled in.
  SamplingParams candidate_sampling(int round, int slot) const;
};

// The subset of candidate indices for (round, slot): `c` distinct values of [0, n) drawn
// uniformly without replacement (in draw order), a pure function of its arguments.
std::vector<int> sample_subset(uint64_t seed, int round, int slot, int n, int c);

// ---- answers -----------------------------------------------------------------------------------

// The content of the last balanced, non-empty \boxed{...} (or \fbox{...}, or `\boxed 42`) in
// `text`, with nested braces; an unbalanced or empty last box falls back to the one before it.
// nullopt when there is none.
std::optional<std::string> extract_boxed(std::string_view text);

// Light normalisation so equal answers compare equal: trims, strips `$`, `\left`/`\right`, `\!`,
// `\,`, `\;`, `\displaystyle`, `^\circ`, `\%`, spaces and a trailing period; unwraps \text{},
// \textbf{}, \mathrm{}, \mathbf{}; \dfrac / \tfrac -> \frac; removes one pair of outer braces;
// canonical integers (042 -> 42, -0 -> 0, 1,000 -> 1000) and decimals (2.50 -> 2.5, 3.0 -> 3).
std::string normalize_answer(std::string_view answer);

// One answer of a vote.
struct Vote {
  std::string answer;       // normalised
  int count = 0;            // candidates giving it
  int finished = 0;         // of which finished naturally (stop token or stop string)
  int first_index = 0;      // lowest candidate index giving it
};

// Majority vote over normalised answers; empty answers do not vote. Ranking (the tie rule):
// more votes first; on equal votes, more naturally finished candidates; then the answer whose
// first candidate has the lowest index. Returns the votes in rank order (winner first).
struct VoteInput {
  std::string answer;  // normalised, may be empty
  bool finished = false;
};
std::vector<Vote> majority_vote(std::span<const VoteInput> candidates);

// ---- results -----------------------------------------------------------------------------------

enum class StoppedBy : int { done = 0, budget = 1, cancel = 2 };
const char* stopped_by_name(StoppedBy reason) noexcept;

struct CandidateResult {
  int index = 0;
  std::vector<int> sources;         // indices into the previous round's population (empty in round 0)
  int64_t generated = 0;            // generated tokens (a final stop token included)
  std::vector<int32_t> tokens;      // the generated ids (empty for dropped stages, see keep_outputs)
  std::string text;                 // decoded output (a final stop token excluded)
  std::string reasoning;            // thinking segment, trimmed
  std::string content;              // answer segment, trimmed
  bool reasoning_finished = false;  // </think> was generated
  FinishReason finish = FinishReason::none;
  int64_t prompt_tokens = 0;        // tokens of its prompt (round 0: the shared question)
  std::string tail;                 // the tail carried forward (text)
  int64_t tail_tokens = 0;          // its length in tokens (<= tau)
  std::string raw_answer;           // content of the last \boxed{}
  std::string answer;               // normalised (empty: no answer)

  int64_t generated_tokens() const noexcept { return generated; }
  bool finished_naturally() const noexcept {
    return finish == FinishReason::stop_token || finish == FinishReason::stop_string;
  }
};

struct StageResult {
  int round = 0;
  bool final_stage = false;
  bool complete = false;            // every candidate ran to its own end (not cut by cancel/budget)
  std::vector<CandidateResult> candidates;
  int64_t decode_tokens = 0;        // generated tokens of this stage
  int64_t prefill_tokens = 0;       // prompt tokens prefilled (round 0: the question once)
  double seconds = 0;
  double decode_seconds = 0;        // time in the lock-step decode loops
  int waves = 0;
  int wave_size = 0;                // sequences decoding together
};

struct RsaResult {
  std::string answer;               // the winning normalised answer ("" if no candidate has one)
  std::vector<Vote> votes;          // rank order
  int answer_round = -1;            // the stage whose population was voted over
  int best_candidate = -1;          // its representative candidate (in that stage)
  std::string best_text;            // that candidate's answer section (its whole text if none)
  std::vector<StageResult> stages;
  int64_t decode_tokens = 0;
  int64_t prefill_tokens = 0;
  double seconds = 0;
  StoppedBy stopped_by = StoppedBy::done;
  std::string stop_detail;          // which budget, or empty
};

// One JSON object: answer, votes, stages (round, candidates: generated_tokens, tail_tokens,
// answer, sources, finish), decode_tokens, prefill_tokens, stopped_by, seconds, ...
std::string to_json(const RsaResult& result, bool include_text = false);

// ---- progress ----------------------------------------------------------------------------------

enum class ProgressKind : int {
  stage_started = 0,
  candidate_progress = 1,   // throttled by RsaConfig::progress_every
  candidate_finished = 2,
  stage_finished = 3,
};

struct Progress {
  ProgressKind kind = ProgressKind::stage_started;
  int round = 0;
  int stages = 0;                   // T + 1
  int stage_size = 0;
  bool final_stage = false;
  int candidate = -1;               // for candidate events
  int64_t candidate_tokens = 0;     // tokens of that candidate so far
  int64_t stage_decode_tokens = 0;  // generated in this stage so far
  int64_t total_decode_tokens = 0;  // generated in the run so far
  double tokens_per_second = 0;     // aggregate over this stage so far
  std::string_view answer;          // candidate_finished: its normalised answer
};
using ProgressCallback = std::function<void(const Progress&)>;

// ---- the engine interface ----------------------------------------------------------------------

// One candidate to generate in a stage.
struct StageJob {
  int slot = 0;
  bool from_question = false;       // round 0: continue right after the question prompt
  std::vector<int32_t> prompt;      // otherwise the whole prompt
  int64_t max_tokens = 0;
  SamplingParams sampling;          // seed already derived
};

struct StageJobResult {
  std::vector<int32_t> tokens;
  FinishReason finish = FinishReason::none;
};

// Limits of one stage, from RsaConfig.
struct StageOptions {
  uint64_t memory_budget_bytes = 0;  // caches of the sequences decoding at once; 0 = no limit
  int max_batch = 0;                 // sequences decoding at once; 0 = all jobs
};

struct StageRun {
  std::vector<StageJobResult> results;  // one per job, same order
  int64_t prefill_tokens = 0;
  double decode_seconds = 0;
  int waves = 0;
  int wave_size = 0;
};

// Called for every generated token of job `job`. Returning false discards that token and ends
// the job (finish = cancelled).
using StageTokenFn = std::function<bool(size_t job, int32_t token)>;

struct ThinkMarkers {
  std::optional<int32_t> open;   // <think>
  std::optional<int32_t> close;  // </think>
};

class Engine {
 public:
  virtual ~Engine() = default;
  // The user turn `text` rendered through the chat template with the generation prompt, as ids.
  virtual std::vector<int32_t> render_user_prompt(std::string_view text) = 0;
  virtual std::string detokenize(std::span<const int32_t> ids) const = 0;
  // Tokens never carried in a tail (EOS, role markers, think delimiters, ...).
  virtual bool is_special(int32_t id) const = 0;
  virtual ThinkMarkers think_markers() const = 0;
  // Generates every job; all jobs decode together (in waves if `options` require). `question`
  // is the round-0 prompt, used by from_question jobs. `stop` (may be null) is checked before
  // each wave: jobs not started end as cancelled with no tokens. interrupt() breaks a running
  // forward pass.
  virtual StageRun generate_stage(std::span<const int32_t> question, std::vector<StageJob> jobs,
                                  const StageOptions& options, const StageTokenFn& on_token,
                                  const std::atomic<bool>* stop) = 0;
  // From any thread: make the running generate_stage return soon (jobs end as cancelled).
  virtual void interrupt() noexcept {}
};

// How the generated ids of one candidate split into reasoning and answer, in token positions.
struct OutputSplit {
  size_t reasoning_begin = 0, reasoning_end = 0;  // [begin, end)
  size_t content_begin = 0, content_end = 0;
  bool reasoning_started = false;
  bool reasoning_finished = false;
};
// `starts_in_reasoning`: the prompt already opened <think>. Without think markers everything is
// content. A final stop token (finish == stop_token) is excluded from both ranges by the caller
// passing the tokens without it.
OutputSplit split_output(std::span<const int32_t> tokens, const ThinkMarkers& markers, bool starts_in_reasoning,
                         const std::function<bool(int32_t)>& is_whitespace_token);

// ---- the orchestrator --------------------------------------------------------------------------

struct Question {
  std::string text;                 // the problem, as put into aggregation prompts
  std::vector<int32_t> prompt_ids;  // optional: the round-0 prompt verbatim (else text through the template)
};

class Orchestrator {
 public:
  Orchestrator(Engine& engine, RsaConfig config);  // validates the config

  // Runs the whole algorithm. Throws zaya::Error for invalid input and engine failures; a
  // budget or cancel() ends the run normally with the best answer available: a vote over the
  // last complete stage, else over the naturally finished candidates of the interrupted one.
  RsaResult run(const Question& question, const ProgressCallback& progress = {});

  // From any thread, any time (also before run): stop as soon as possible.
  void cancel() noexcept;

  const RsaConfig& config() const noexcept { return config_; }

 private:
  bool request_stop(StoppedBy reason, std::string detail) noexcept;

  Engine& engine_;
  RsaConfig config_;
  std::atomic<bool> stop_{false};
  std::mutex stop_mutex_;
  StoppedBy stop_reason_ = StoppedBy::done;
  std::string stop_detail_;
};

// ---- the real engine ---------------------------------------------------------------------------

struct ModelEngineOptions {
  int threads = 0;                  // Context threads; 0 = one per hardware thread
  DType kv_cache_type = DType::f32;  // ContextOptions::kv_cache_type of the stage contexts (f32 or f16)
  size_t max_batch_tokens = 512;    // prefill chunk size across sequences
  std::optional<bool> enable_thinking;  // passed to the chat template when set
};

// Sequences that fit a memory budget: floor((budget - reserved) / per_sequence), at least 1
// (else out_of_memory), at most `jobs` and `max_batch` (when > 0). budget 0 = no limit.
int plan_wave_size(size_t jobs, uint64_t per_sequence_bytes, uint64_t reserved_bytes, uint64_t budget,
                   int max_batch);

// The real engine: zaya::Context + Generator over a loaded model, text through the Tokenizer and
// its chat template. `tokenizer` may be null (ids only: round 0 from Question::prompt_ids, no
// aggregation rounds).
class ModelEngine : public Engine {
 public:
  ModelEngine(std::shared_ptr<const Model> model, std::shared_ptr<const Tokenizer> tokenizer,
              ModelEngineOptions options = {});
  ~ModelEngine() override;

  std::vector<int32_t> render_user_prompt(std::string_view text) override;
  std::string detokenize(std::span<const int32_t> ids) const override;
  bool is_special(int32_t id) const override;
  ThinkMarkers think_markers() const override { return markers_; }
  StageRun generate_stage(std::span<const int32_t> question, std::vector<StageJob> jobs,
                          const StageOptions& options, const StageTokenFn& on_token,
                          const std::atomic<bool>* stop) override;
  void interrupt() noexcept override;

  // Bytes of caches per token of one sequence (2 * kv_dim * 4 bytes * blocks) and the fixed state
  // of one sequence (CCA conv + delayed value), as the stage planner uses them.
  uint64_t kv_bytes_per_token() const noexcept { return kv_bytes_per_token_; }
  uint64_t fixed_bytes_per_sequence() const noexcept { return fixed_bytes_per_sequence_; }

  ModelEngineOptions& options() noexcept { return options_; }

 private:
  std::shared_ptr<const Model> model_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  std::unique_ptr<ChatFormatter> formatter_;  // null without a chat template
  ModelEngineOptions options_;
  ThinkMarkers markers_;
  std::vector<int32_t> special_ids_;  // sorted
  uint64_t kv_bytes_per_token_ = 0, fixed_bytes_per_sequence_ = 0;
  std::mutex active_mutex_;
  Context* active_ = nullptr;  // the context of the running wave (guarded by active_mutex_)
};

// Convenience: loads nothing, runs everything. Equivalent to Orchestrator(engine, config).run().
RsaResult run(Engine& engine, const RsaConfig& config, const Question& question,
              const ProgressCallback& progress = {});

}  // namespace rsa
}  // namespace zaya
