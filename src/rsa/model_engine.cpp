// src/rsa/model_engine.cpp - the real RSA engine: a stage is one zaya::Context holding one
// sequence per candidate (plus the prefilled question in round 0), decoded in lock step by
// zaya::Generator, in waves when the caller's memory budget cannot hold every cache at once.
#include <zaya/chat_format.h>
#include <zaya/context.h>
#include <zaya/error.h>
#include <zaya/generator.h>
#include <zaya/model.h>
#include <zaya/rsa.h>
#include <zaya/tokenizer.h>
#include <zaya/value.h>

#include <algorithm>

namespace zaya::rsa {

int plan_wave_size(size_t jobs, uint64_t per_sequence_bytes, uint64_t reserved_bytes, uint64_t budget, int max_batch) {
  if (jobs == 0) return 0;
  uint64_t wave = jobs;
  if (max_batch > 0) wave = std::min<uint64_t>(wave, static_cast<uint64_t>(max_batch));
  if (budget > 0) {
    const uint64_t fit = budget > reserved_bytes && per_sequence_bytes > 0 ? (budget - reserved_bytes) / per_sequence_bytes
                                                                            : (per_sequence_bytes == 0 ? wave : 0);
    if (fit < 1)
      fail(ErrorCode::out_of_memory,
           "rsa: the memory budget of {} bytes cannot hold one sequence ({} bytes, plus {} bytes for the shared question)",
           budget, per_sequence_bytes, reserved_bytes);
    wave = std::min(wave, fit);
  }
  return static_cast<int>(std::min<uint64_t>(wave, 65535));
}

ModelEngine::ModelEngine(std::shared_ptr<const Model> model, std::shared_ptr<const Tokenizer> tokenizer,
                         ModelEngineOptions options)
    : model_(std::move(model)), tokenizer_(std::move(tokenizer)), options_(options) {
  if (!model_) fail(ErrorCode::invalid_argument, "rsa: model is null");
  const ModelConfig& c = model_->config();
  std::vector<int32_t> special;
  for (int64_t id : c.eos_ids) special.push_back(static_cast<int32_t>(id));
  if (c.bos_id >= 0) special.push_back(static_cast<int32_t>(c.bos_id));
  if (c.pad_id >= 0) special.push_back(static_cast<int32_t>(c.pad_id));
  if (tokenizer_) {
    if (!tokenizer_->chat_template().empty()) formatter_ = std::make_unique<ChatFormatter>(*tokenizer_);
    markers_.open = tokenizer_->token_to_id("<think>");
    markers_.close = tokenizer_->token_to_id("</think>");
    const size_t vocab = tokenizer_->vocab_size();
    for (size_t id = 0; id < vocab; ++id)
      if (tokenizer_->is_special(static_cast<int32_t>(id))) special.push_back(static_cast<int32_t>(id));
    for (const auto* token : {&tokenizer_->bos_token(), &tokenizer_->eos_token(), &tokenizer_->pad_token()})
      if (*token && (*token)->id) special.push_back(*(*token)->id);
  }
  if (markers_.open) special.push_back(*markers_.open);
  if (markers_.close) special.push_back(*markers_.close);
  std::sort(special.begin(), special.end());
  special.erase(std::unique(special.begin(), special.end()), special.end());
  special_ids_ = std::move(special);

  // Per-token cache cost: K and V rows of kv_dim elements (f32 or f16) in every block. The fixed
  // state of a sequence (CCA conv + delayed value; no truncation ring here) is measured on an
  // empty one (which also validates the cache type).
  const uint64_t element = options_.kv_cache_type == DType::f16 ? 2 : 4;
  kv_bytes_per_token_ = 2ull * static_cast<uint64_t>(c.kv_dim()) * element * static_cast<uint64_t>(c.blocks);
  Context probe(model_, {.max_sequences = 1, .max_context = 1, .threads = 1, .truncate_window = 0,
                         .kv_cache_type = options_.kv_cache_type});
  fixed_bytes_per_sequence_ = probe.state_bytes(0);
}

ModelEngine::~ModelEngine() = default;

std::vector<int32_t> ModelEngine::render_user_prompt(std::string_view text) {
  if (!tokenizer_) fail(ErrorCode::unsupported, "rsa: text prompts need a tokenizer (this model has none; give prompt ids)");
  if (!formatter_) fail(ErrorCode::unsupported, "rsa: the tokenizer has no chat template to render prompts with");
  ChatRequest request;
  request.messages = Value::array({Value::object({{"role", Value("user")}, {"content", Value(text)}})});
  request.add_generation_prompt = true;
  if (options_.enable_thinking) request.extra["enable_thinking"] = Value(*options_.enable_thinking);
  return formatter_->encode(request);
}

std::string ModelEngine::detokenize(std::span<const int32_t> ids) const {
  if (!tokenizer_) return {};
  return tokenizer_->decode(ids, false);
}

bool ModelEngine::is_special(int32_t id) const { return std::binary_search(special_ids_.begin(), special_ids_.end(), id); }

void ModelEngine::interrupt() noexcept {
  std::lock_guard lock(active_mutex_);
  if (active_) active_->cancel();
}

StageRun ModelEngine::generate_stage(std::span<const int32_t> question, std::vector<StageJob> jobs,
                                     const StageOptions& stage_options, const StageTokenFn& on_token,
                                     const std::atomic<bool>* stop) {
  StageRun run;
  run.results.resize(jobs.size());
  if (jobs.empty()) return run;
  for (auto& r : run.results) r.finish = FinishReason::cancelled;

  bool any_question = false;
  size_t max_prompt = 0;
  int64_t max_new = 0;
  for (const auto& job : jobs) {
    if (job.from_question) {
      if (question.empty()) fail(ErrorCode::invalid_argument, "rsa: a round-0 job needs the question prompt");
      any_question = true;
      max_prompt = std::max(max_prompt, question.size());
    } else {
      if (job.prompt.empty()) fail(ErrorCode::invalid_argument, "rsa: job {} has an empty prompt", job.slot);
      max_prompt = std::max(max_prompt, job.prompt.size());
    }
    if (job.max_tokens < 0) fail(ErrorCode::invalid_argument, "rsa: job {} has max_tokens {}", job.slot, job.max_tokens);
    max_new = std::max(max_new, job.max_tokens);
  }
  const int64_t max_len = static_cast<int64_t>(max_prompt) + std::max<int64_t>(max_new, 1);
  // Caches hold whole key blocks of positions (zaya/backend.h).
  auto positions = [](uint64_t tokens) { return (tokens + kv_key_block - 1) / kv_key_block * kv_key_block; };
  const uint64_t per_sequence = fixed_bytes_per_sequence_ + positions(static_cast<uint64_t>(max_len)) * kv_bytes_per_token_;
  const uint64_t reserved = any_question ? fixed_bytes_per_sequence_ + positions(question.size()) * kv_bytes_per_token_ : 0;
  const int wave = plan_wave_size(jobs.size(), per_sequence, reserved, stage_options.memory_budget_bytes,
                                  stage_options.max_batch);
  run.wave_size = wave;

  // KV capacity grows by doubling but never beyond max_context, so max_context = the longest
  // prompt + budget bounds every sequence's cache by `per_sequence`.
  const int32_t holder = wave;  // the prefilled question (round 0)
  Context ctx(model_, {.max_sequences = wave + (any_question ? 1 : 0),
                       .max_context = max_len,
                       .threads = options_.threads,
                       .truncate_window = 0,
                       .kv_cache_type = options_.kv_cache_type});
  struct ActiveGuard {
    ModelEngine& engine;
    ~ActiveGuard() {
      std::lock_guard lock(engine.active_mutex_);
      engine.active_ = nullptr;
    }
  };
  auto start_wave = [&]() {  // registers the context for interrupt(); false when already stopped
    std::lock_guard lock(active_mutex_);
    if (stop && stop->load()) return false;
    active_ = &ctx;
    return true;
  };
  ActiveGuard guard{*this};

  Generator generator(ctx, tokenizer_.get(), GeneratorOptions{options_.max_batch_tokens, 0});
  std::shared_ptr<const std::vector<float>> question_logits;
  if (any_question) {
    if (!start_wave()) return run;
    try {
      question_logits = std::make_shared<const std::vector<float>>(ctx.prefill(holder, question));
    } catch (const Error& e) {
      if (e.code() != ErrorCode::cancelled) throw;
      return run;
    }
    run.prefill_tokens += static_cast<int64_t>(question.size());
  }

  for (size_t w0 = 0; w0 < jobs.size(); w0 += static_cast<size_t>(wave)) {
    if (!start_wave()) break;
    const size_t w1 = std::min(jobs.size(), w0 + static_cast<size_t>(wave));
    std::vector<GenerationRequest> requests;
    for (size_t k = w0; k < w1; ++k) {
      StageJob& job = jobs[k];
      const int32_t seq = static_cast<int32_t>(k - w0);
      ctx.clear(seq);
      GenerationRequest r;
      r.sequence = seq;
      if (job.from_question) {
        ctx.fork(holder, seq);
        r.start_logits = question_logits;
      } else {
        r.prompt = std::move(job.prompt);
      }
      r.config.max_tokens = job.max_tokens;
      r.config.sampling = job.sampling;
      r.config.stop_at_eos = true;
      requests.push_back(std::move(r));
    }
    std::vector<bool> rejected(w1 - w0, false);
    auto callback = [&](const TokenEvent& e) {
      if (e.token < 0) return true;  // an end event without a new token
      const bool keep = on_token(w0 + e.index, e.token);
      if (!keep) rejected[e.index] = true;
      return keep;
    };
    std::vector<GenerationResult> results;
    try {
      results = generator.run(std::move(requests), callback);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::cancelled) throw;  // cancelled while prefilling: no tokens yet
      break;
    }
    run.prefill_tokens += generator.prefill_tokens();
    run.decode_seconds += generator.decode_seconds();
    ++run.waves;
    for (size_t k = w0; k < w1; ++k) {
      GenerationResult& g = results[k - w0];
      StageJobResult& out = run.results[k];
      out.tokens = std::move(g.tokens);
      out.finish = g.finish;
      if (rejected[k - w0]) {  // the refused token is always the request's last
        if (!out.tokens.empty()) out.tokens.pop_back();
        out.finish = FinishReason::cancelled;
      }
      ctx.clear(static_cast<int32_t>(k - w0));  // free the cache for the next wave
    }
  }
  return run;
}

}  // namespace zaya::rsa
