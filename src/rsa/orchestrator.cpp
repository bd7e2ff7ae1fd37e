// src/rsa/orchestrator.cpp - the Markovian RSA loop over an abstract Engine: build each stage's
// jobs (question rollouts, then aggregation prompts over C tails of the previous round), run the
// stage as one batch, cut tails, extract answers, enforce budgets, vote.
#include <zaya/error.h>
#include <zaya/rsa.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <thread>

namespace zaya::rsa {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string trimmed(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

bool only_whitespace(std::string_view s) { return std::all_of(s.begin(), s.end(), [](char c) { return is_space(c); }); }

// Drops what precedes the first complete UTF-8 character of a cut tail: continuation bytes and
// U+FFFD replacement characters produced by decoding half a character.
std::string_view skip_broken_start(std::string_view s) {
  for (;;) {
    if (!s.empty() && (static_cast<unsigned char>(s[0]) & 0xC0) == 0x80) {
      s.remove_prefix(1);
    } else if (s.substr(0, 3) == "\xEF\xBF\xBD") {
      s.remove_prefix(3);
    } else {
      return s;
    }
  }
}

// Runs `stop` after `seconds` unless finished first.
class Watchdog {
 public:
  Watchdog(double seconds, std::function<void()> stop) {
    if (seconds <= 0) return;
    thread_ = std::thread([this, seconds, stop = std::move(stop)] {
      std::unique_lock lock(mutex_);
      const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
      if (!cv_.wait_until(lock, deadline, [this] { return done_; })) stop();
    });
  }
  ~Watchdog() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace

Orchestrator::Orchestrator(Engine& engine, RsaConfig config) : engine_(engine), config_(std::move(config)) {
  config_.validate();
}

bool Orchestrator::request_stop(StoppedBy reason, std::string detail) noexcept {
  std::lock_guard lock(stop_mutex_);
  if (stop_reason_ != StoppedBy::done) return false;  // the first reason wins
  stop_reason_ = reason;
  try {
    stop_detail_ = std::move(detail);
  } catch (...) {
  }
  stop_.store(true);
  return true;
}

void Orchestrator::cancel() noexcept {
  if (request_stop(StoppedBy::cancel, "")) engine_.interrupt();
}

RsaResult Orchestrator::run(const Question& question, const ProgressCallback& progress) {
  {
    // A budget stop belongs to the previous run; a cancel() not yet consumed applies to this one.
    std::lock_guard lock(stop_mutex_);
    if (stop_reason_ == StoppedBy::budget) {
      stop_reason_ = StoppedBy::done;
      stop_detail_.clear();
      stop_.store(false);
    }
  }
  const RsaConfig& cfg = config_;
  const auto run_start = Clock::now();
  RsaResult result;

  if (question.text.empty() && question.prompt_ids.empty())
    fail(ErrorCode::invalid_argument, "rsa: the question is empty (give its text or its prompt ids)");

  Watchdog watchdog(cfg.budgets.seconds, [this] {
    if (request_stop(StoppedBy::budget, "seconds")) engine_.interrupt();
  });

  const ThinkMarkers markers = engine_.think_markers();
  auto is_whitespace_token = [this](int32_t id) {
    const std::string text = engine_.detokenize(std::span<const int32_t>(&id, 1));
    return !text.empty() && only_whitespace(text);
  };
  // Whether a prompt leaves the model inside <think> (the template opened it).
  auto opens_reasoning = [&](std::span<const int32_t> prompt) {
    if (!markers.open) return false;
    for (size_t i = prompt.size(); i-- > 0;) {
      if (prompt[i] == *markers.open) return true;
      if (!is_whitespace_token(prompt[i])) return false;
    }
    return false;
  };
  auto drop_special = [this](std::span<const int32_t> ids) {
    std::vector<int32_t> kept;
    kept.reserve(ids.size());
    for (int32_t id : ids)
      if (!engine_.is_special(id)) kept.push_back(id);
    return kept;
  };
  auto section_text = [&](std::span<const int32_t> ids) { return trimmed(engine_.detokenize(drop_special(ids))); };

  const std::vector<int32_t> question_prompt =
      question.prompt_ids.empty() ? engine_.render_user_prompt(question.text) : question.prompt_ids;
  if (question_prompt.empty()) fail(ErrorCode::invalid_argument, "rsa: the question prompt has no tokens");
  const std::string problem = question.text.empty() ? engine_.detokenize(question.prompt_ids) : question.text;
  const bool question_opens_reasoning = opens_reasoning(question_prompt);

  int64_t total_decode = 0, total_prefill = 0;
  int last_complete = -1;

  for (int round = 0; round <= cfg.t; ++round) {
    if (stop_.load()) break;
    if (cfg.budgets.decode_tokens > 0 && total_decode >= cfg.budgets.decode_tokens) {
      request_stop(StoppedBy::budget, "decode_tokens");
      break;
    }
    const int size = cfg.stage_size(round);
    const auto stage_start = Clock::now();

    StageResult stage;
    stage.round = round;
    stage.final_stage = cfg.is_final_stage(round);
    stage.candidates.resize(static_cast<size_t>(size));
    std::vector<StageJob> jobs(static_cast<size_t>(size));
    std::vector<bool> starts_in_reasoning(static_cast<size_t>(size), question_opens_reasoning);
    int64_t planned_prefill = 0;

    if (round == 0) {
      planned_prefill = static_cast<int64_t>(question_prompt.size());
      for (int slot = 0; slot < size; ++slot) {
        jobs[static_cast<size_t>(slot)].from_question = true;
        stage.candidates[static_cast<size_t>(slot)].prompt_tokens = static_cast<int64_t>(question_prompt.size());
      }
    } else {
      const std::vector<CandidateResult>& previous = result.stages.back().candidates;
      const int prev_n = static_cast<int>(previous.size());
      for (int slot = 0; slot < size; ++slot) {
        CandidateResult& cand = stage.candidates[static_cast<size_t>(slot)];
        if (cfg.c == 1) cand.sources = {slot % prev_n};
        else cand.sources = sample_subset(cfg.seed, round, slot, prev_n, cfg.c);
        std::vector<std::string> tails;
        tails.reserve(cand.sources.size());
        for (int src : cand.sources) tails.push_back(previous[static_cast<size_t>(src)].tail);
        StageJob& job = jobs[static_cast<size_t>(slot)];
        job.prompt = engine_.render_user_prompt(render_aggregation_text(cfg.prompts, problem, tails));
        if (job.prompt.empty()) fail(ErrorCode::internal, "rsa: the engine rendered an empty aggregation prompt");
        starts_in_reasoning[static_cast<size_t>(slot)] = opens_reasoning(job.prompt);
        cand.prompt_tokens = static_cast<int64_t>(job.prompt.size());
        planned_prefill += cand.prompt_tokens;
      }
      if (!cfg.keep_outputs) {
        for (CandidateResult& old : result.stages.back().candidates) {
          std::vector<int32_t>().swap(old.tokens);
          std::string().swap(old.text);
          std::string().swap(old.reasoning);
        }
      }
    }
    if (cfg.budgets.prefill_tokens > 0 && total_prefill + planned_prefill > cfg.budgets.prefill_tokens) {
      request_stop(StoppedBy::budget, "prefill_tokens");
      break;
    }
    for (int slot = 0; slot < size; ++slot) {
      StageJob& job = jobs[static_cast<size_t>(slot)];
      job.slot = slot;
      job.max_tokens = cfg.stage_beta(round);
      job.sampling = cfg.candidate_sampling(round, slot);
      stage.candidates[static_cast<size_t>(slot)].index = slot;
    }

    Progress base;
    base.round = round;
    base.stages = cfg.stages();
    base.stage_size = size;
    base.final_stage = stage.final_stage;
    if (progress) {
      Progress p = base;
      p.kind = ProgressKind::stage_started;
      p.total_decode_tokens = total_decode;
      progress(p);
    }

    std::vector<int64_t> counts(static_cast<size_t>(size), 0);
    int64_t stage_decode = 0;
    auto rate = [&] {
      const double s = seconds_since(stage_start);
      return s > 0 ? static_cast<double>(stage_decode) / s : 0.0;
    };
    const StageTokenFn on_token = [&](size_t job, int32_t) -> bool {
      if (job >= counts.size()) fail(ErrorCode::internal, "rsa: the engine reported a token of job {} (stage has {})", job, counts.size());
      if (stop_.load(std::memory_order_relaxed)) return false;
      if (cfg.budgets.decode_tokens > 0 && total_decode >= cfg.budgets.decode_tokens) {
        if (request_stop(StoppedBy::budget, "decode_tokens")) engine_.interrupt();
        return false;
      }
      ++total_decode;
      ++stage_decode;
      const int64_t n = ++counts[job];
      if (progress && cfg.progress_every > 0 && n % cfg.progress_every == 0) {
        Progress p = base;
        p.kind = ProgressKind::candidate_progress;
        p.candidate = static_cast<int>(job);
        p.candidate_tokens = n;
        p.stage_decode_tokens = stage_decode;
        p.total_decode_tokens = total_decode;
        p.tokens_per_second = rate();
        progress(p);
      }
      return true;
    };

    StageRun run = engine_.generate_stage(question_prompt, std::move(jobs),
                                          StageOptions{cfg.memory_budget_bytes, cfg.max_batch}, on_token, &stop_);
    if (run.results.size() != static_cast<size_t>(size))
      fail(ErrorCode::internal, "rsa: the engine returned {} results for {} jobs", run.results.size(), size);

    stage.complete = true;
    for (int slot = 0; slot < size; ++slot) {
      CandidateResult& cand = stage.candidates[static_cast<size_t>(slot)];
      StageJobResult& out = run.results[static_cast<size_t>(slot)];
      if (static_cast<int64_t>(out.tokens.size()) != counts[static_cast<size_t>(slot)])
        fail(ErrorCode::internal, "rsa: candidate {} has {} tokens but {} were reported", slot, out.tokens.size(),
             counts[static_cast<size_t>(slot)]);
      if (static_cast<int64_t>(out.tokens.size()) > cfg.stage_beta(round))
        fail(ErrorCode::internal, "rsa: candidate {} generated {} tokens, more than its budget {}", slot, out.tokens.size(),
             cfg.stage_beta(round));
      cand.tokens = std::move(out.tokens);
      cand.generated = static_cast<int64_t>(cand.tokens.size());
      cand.finish = out.finish;
      if (cand.finish == FinishReason::cancelled || cand.finish == FinishReason::none) stage.complete = false;

      std::span<const int32_t> body(cand.tokens);
      if (cand.finish == FinishReason::stop_token && !body.empty()) body = body.first(body.size() - 1);
      cand.text = engine_.detokenize(body);
      const OutputSplit split = split_output(body, markers, starts_in_reasoning[static_cast<size_t>(slot)], is_whitespace_token);
      const auto reasoning_ids = body.subspan(split.reasoning_begin, split.reasoning_end - split.reasoning_begin);
      const auto content_ids = body.subspan(split.content_begin, split.content_end - split.content_begin);
      cand.reasoning = section_text(reasoning_ids);
      cand.content = section_text(content_ids);
      cand.reasoning_finished = split.reasoning_finished;

      // The tail: the last tau tokens of the chosen section, special tokens removed.
      std::span<const int32_t> tail_source = body;
      const bool has_reasoning = split.reasoning_started && !reasoning_ids.empty();
      switch (cfg.tail_source) {
        case TailSource::reasoning:
          tail_source = has_reasoning ? reasoning_ids : content_ids;
          break;
        case TailSource::answer_else_reasoning:
          if (split.reasoning_finished && !cand.content.empty()) tail_source = content_ids;
          else tail_source = has_reasoning ? reasoning_ids : content_ids;
          break;
        case TailSource::full_text:
          tail_source = body;
          break;
      }
      std::vector<int32_t> tail_ids = drop_special(tail_source);
      const bool cut = static_cast<int64_t>(tail_ids.size()) > cfg.tau;
      if (cut) tail_ids.erase(tail_ids.begin(), tail_ids.end() - cfg.tau);
      cand.tail_tokens = static_cast<int64_t>(tail_ids.size());
      std::string tail_text = engine_.detokenize(tail_ids);
      cand.tail = cut ? trimmed(skip_broken_start(tail_text)) : trimmed(tail_text);
      if (cut && cfg.mark_truncated_tails) cand.tail = cfg.truncation_marker + cand.tail;

      auto boxed = extract_boxed(cand.content);
      if (!boxed) boxed = extract_boxed(cand.reasoning);
      if (boxed) {
        cand.raw_answer = *boxed;
        cand.answer = normalize_answer(*boxed);
      }
      stage.decode_tokens += cand.generated_tokens();
    }
    if (stage.decode_tokens != stage_decode)
      fail(ErrorCode::internal, "rsa: stage {} generated {} tokens but {} were reported", round, stage.decode_tokens, stage_decode);
    stage.prefill_tokens = run.prefill_tokens;
    stage.decode_seconds = run.decode_seconds;
    stage.waves = run.waves;
    stage.wave_size = run.wave_size;
    stage.seconds = seconds_since(stage_start);
    total_prefill += run.prefill_tokens;

    if (progress) {
      for (const auto& cand : stage.candidates) {
        Progress p = base;
        p.kind = ProgressKind::candidate_finished;
        p.candidate = cand.index;
        p.candidate_tokens = cand.generated_tokens();
        p.stage_decode_tokens = stage_decode;
        p.total_decode_tokens = total_decode;
        p.tokens_per_second = rate();
        p.answer = cand.answer;
        progress(p);
      }
      Progress p = base;
      p.kind = ProgressKind::stage_finished;
      p.stage_decode_tokens = stage_decode;
      p.total_decode_tokens = total_decode;
      p.tokens_per_second = rate();
      progress(p);
    }
    const bool complete = stage.complete;
    result.stages.push_back(std::move(stage));
    if (complete) last_complete = round;
    if (!complete) break;  // cut by a budget or cancel: the run ends here
  }

  // The population to vote over: the last complete stage, else the naturally finished
  // candidates of the interrupted one.
  const StageResult* population = nullptr;
  bool finished_only = false;
  if (last_complete >= 0) {
    population = &result.stages[static_cast<size_t>(last_complete)];
  } else if (!result.stages.empty()) {
    population = &result.stages.back();
    finished_only = true;
  }
  if (population) {
    result.answer_round = population->round;
    std::vector<VoteInput> inputs;
    for (const auto& cand : population->candidates) {
      const bool usable = !finished_only || cand.finished_naturally();
      inputs.push_back({usable ? cand.answer : std::string(), cand.finished_naturally()});
    }
    result.votes = majority_vote(inputs);
    const auto& cands = population->candidates;
    auto pick = [&](auto&& pred) {
      for (const auto& cand : cands)
        if (pred(cand)) return cand.index;
      return -1;
    };
    if (!result.votes.empty()) {
      result.answer = result.votes.front().answer;
      result.best_candidate = pick([&](const CandidateResult& c) { return c.answer == result.answer && c.finished_naturally(); });
      if (result.best_candidate < 0) result.best_candidate = pick([&](const CandidateResult& c) { return c.answer == result.answer; });
    } else {
      result.best_candidate = pick([](const CandidateResult& c) { return c.finished_naturally(); });
      if (result.best_candidate < 0 && !finished_only && !cands.empty()) result.best_candidate = 0;
    }
    if (result.best_candidate >= 0) {
      const auto& best = cands[static_cast<size_t>(result.best_candidate)];
      result.best_text = best.content.empty() ? best.text : best.content;
    }
  }

  for (const auto& stage : result.stages) {
    result.decode_tokens += stage.decode_tokens;
    result.prefill_tokens += stage.prefill_tokens;
  }
  result.seconds = seconds_since(run_start);
  const bool finished_all = static_cast<int>(result.stages.size()) == cfg.stages() && result.stages.back().complete;
  {
    std::lock_guard lock(stop_mutex_);
    if (finished_all) {
      result.stopped_by = StoppedBy::done;
    } else {
      result.stopped_by = stop_reason_ == StoppedBy::done ? StoppedBy::cancel : stop_reason_;
      result.stop_detail = stop_detail_;
    }
    if (stop_reason_ == StoppedBy::cancel) {  // consumed by this run
      stop_reason_ = StoppedBy::done;
      stop_detail_.clear();
      stop_.store(false);
    }
  }
  return result;
}

RsaResult run(Engine& engine, const RsaConfig& config, const Question& question, const ProgressCallback& progress) {
  Orchestrator orchestrator(engine, config);
  return orchestrator.run(question, progress);
}

}  // namespace zaya::rsa
