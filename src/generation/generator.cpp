// src/generation/generator.cpp - batched prefill, then lock-step sampling and decoding of every
// active request until each hits a stop condition.
#include <zaya/error.h>
#include <zaya/generator.h>
#include <zaya/tokenizer.h>

#include <algorithm>
#include <chrono>
#include <set>

namespace zaya {

const char* finish_reason_name(FinishReason reason) noexcept {
  switch (reason) {
    case FinishReason::none: return "none";
    case FinishReason::stop_token: return "stop_token";
    case FinishReason::stop_string: return "stop_string";
    case FinishReason::max_tokens: return "max_tokens";
    case FinishReason::context_full: return "context_full";
    case FinishReason::cancelled: return "cancelled";
  }
  return "unknown";
}

Generator::Generator(Context& context, const Tokenizer* tokenizer, GeneratorOptions options)
    : context_(context), tokenizer_(tokenizer), options_(options) {
  if (options_.max_batch_tokens == 0) fail(ErrorCode::invalid_argument, "generator: max_batch_tokens must be positive");
}

namespace {

using Clock = std::chrono::steady_clock;

struct Active {
  size_t index = 0;
  GenerationRequest request;
  std::unique_ptr<Sampler> sampler;
  std::unique_ptr<StopConditions> stops;
  std::unique_ptr<StreamingDecoder> decoder;
  std::vector<int32_t> history;            // prompt + generated, for the penalties
  std::vector<float> logits;               // logits for the next draw
  bool done = false;
};

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

std::vector<GenerationResult> Generator::run(std::vector<GenerationRequest> requests, const TokenCallback& on_token) {
  prefill_tokens_ = decode_tokens_ = 0;
  prefill_seconds_ = decode_seconds_ = 0;
  const int64_t vocab = context_.vocab_size();
  size_t allowed = options_.allowed_vocab;
  if (allowed == 0) allowed = tokenizer_ ? std::min<size_t>(tokenizer_->vocab_size(), static_cast<size_t>(vocab)) : static_cast<size_t>(vocab);
  allowed = std::min<size_t>(allowed, static_cast<size_t>(vocab));
  std::vector<int32_t> eos;
  for (int64_t id : context_.model().config().eos_ids) eos.push_back(static_cast<int32_t>(id));
  if (tokenizer_ && tokenizer_->eos_token() && tokenizer_->eos_token()->id) eos.push_back(*tokenizer_->eos_token()->id);

  // Validate everything before any sequence changes.
  std::set<int32_t> used;
  for (const auto& r : requests) {
    if (r.sequence < 0 || r.sequence >= context_.max_sequences())
      fail(ErrorCode::out_of_range, "generate: sequence {} does not exist (this context has {})", r.sequence, context_.max_sequences());
    if (!used.insert(r.sequence).second) fail(ErrorCode::invalid_argument, "generate: sequence {} appears in two requests", r.sequence);
    if (r.config.max_tokens < 0) fail(ErrorCode::invalid_argument, "generate: max_tokens must be >= 0");
    if (r.prompt.empty() == !r.start_logits)
      fail(ErrorCode::invalid_argument, "generate: a request needs either prompt tokens or start_logits (not both)");
    if (r.start_logits && r.start_logits->size() != static_cast<size_t>(vocab))
      fail(ErrorCode::invalid_argument, "generate: start_logits has {} entries, the vocabulary {}", r.start_logits->size(), vocab);
    if (r.start_logits && context_.length(r.sequence) == 0)
      fail(ErrorCode::invalid_argument, "generate: start_logits given but sequence {} is empty", r.sequence);
    for (int32_t id : r.prompt)
      if (id < 0 || id >= vocab) fail(ErrorCode::out_of_range, "generate: prompt token {} outside [0, {})", id, vocab);
    if (context_.length(r.sequence) + static_cast<int64_t>(r.prompt.size()) > context_.options().max_context)
      fail(ErrorCode::limit_exceeded, "generate: prompt of {} tokens does not fit the context of {} (sequence {} holds {})",
           r.prompt.size(), context_.options().max_context, r.sequence, context_.length(r.sequence));
    if (!r.config.stop_strings.empty() && !tokenizer_)
      fail(ErrorCode::invalid_argument, "generate: stop strings need a tokenizer");
    r.config.sampling.validate(static_cast<size_t>(vocab));
  }

  std::vector<Active> active(requests.size());
  std::vector<GenerationResult> results(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    Active& a = active[i];
    a.index = i;
    a.request = std::move(requests[i]);
    a.sampler = std::make_unique<Sampler>(a.request.config.sampling);
    std::vector<int32_t> stop_ids = a.request.config.stop_tokens;
    if (a.request.config.stop_at_eos) stop_ids.insert(stop_ids.end(), eos.begin(), eos.end());
    a.stops = std::make_unique<StopConditions>(stop_ids, a.request.config.stop_strings);
    if (tokenizer_) a.decoder = std::make_unique<StreamingDecoder>(*tokenizer_);
    a.history = a.request.prompt;
    results[i].prompt_tokens = static_cast<int64_t>(a.request.prompt.size());
    if (a.request.start_logits) a.logits = *a.request.start_logits;
  }

  // Prefill all prompts, in chunks of at most max_batch_tokens rows.
  auto t0 = Clock::now();
  bool cancelled_in_prefill = false;
  try {
    std::vector<BatchToken> batch;
    std::vector<size_t> owner;  // for rows with logits: which request
    auto flush = [&] {
      if (batch.empty()) return;
      context_.decode(batch);
      for (size_t k = 0; k < owner.size(); ++k) {
        auto row = context_.logits(k);
        active[owner[k]].logits.assign(row.begin(), row.end());
      }
      prefill_tokens_ += static_cast<int64_t>(batch.size());
      batch.clear();
      owner.clear();
    };
    for (auto& a : active) {
      const auto& p = a.request.prompt;
      for (size_t j = 0; j < p.size(); ++j) {
        const bool last = j + 1 == p.size();
        batch.push_back({a.request.sequence, p[j], last});
        if (last) owner.push_back(a.index);
        if (batch.size() >= options_.max_batch_tokens) flush();
      }
    }
    flush();
  } catch (const Error& e) {
    if (e.code() != ErrorCode::cancelled) throw;
    cancelled_in_prefill = true;  // sequences keep the chunks that completed
  }
  prefill_seconds_ = seconds_since(t0);

  // Ends a request: releases text held back for possible stop strings (and, unless a stop token
  // ended it, the decoder's pending bytes) and reports the last event.
  auto finish = [&](Active& a, FinishReason reason, int32_t token) {
    a.done = true;
    results[a.index].finish = reason;
    std::string tail;
    if (reason == FinishReason::stop_token) {
      tail = a.stops->feed(token, {}).text;
    } else {
      const std::string pending = a.decoder ? a.decoder->finish() : std::string();
      tail = a.stops->feed(-1, pending).text;
      if (!a.stops->stopped()) tail += a.stops->flush();
    }
    results[a.index].text += tail;
    if (on_token) on_token(TokenEvent{a.index, token, tail, reason});
  };

  if (cancelled_in_prefill)
    for (auto& a : active) finish(a, FinishReason::cancelled, -1);

  t0 = Clock::now();
  for (;;) {
    std::vector<BatchToken> batch;
    std::vector<Active*> fed;
    for (auto& a : active) {
      if (a.done) continue;
      GenerationResult& res = results[a.index];
      if (static_cast<int64_t>(res.tokens.size()) >= a.request.config.max_tokens) {
        finish(a, FinishReason::max_tokens, -1);
        continue;
      }
      const auto token = a.sampler->sample(a.logits, a.history, res.tokens.size(), allowed).token;
      res.tokens.push_back(token);
      a.history.push_back(token);
      std::string piece;
      if (a.stops->is_stop_token(token)) {
        finish(a, FinishReason::stop_token, token);
        continue;
      }
      if (a.decoder) piece = a.decoder->push(token);
      StopCheck check = a.stops->feed(token, piece);
      res.text += check.text;
      if (check.reason == StopReason::stop_string) {
        a.done = true;
        res.finish = FinishReason::stop_string;
        if (on_token) on_token(TokenEvent{a.index, token, check.text, FinishReason::stop_string});
        continue;
      }
      if (on_token && !on_token(TokenEvent{a.index, token, check.text, FinishReason::none})) {
        finish(a, FinishReason::cancelled, -1);
        continue;
      }
      if (static_cast<int64_t>(res.tokens.size()) >= a.request.config.max_tokens) {
        finish(a, FinishReason::max_tokens, -1);
        continue;
      }
      if (context_.length(a.request.sequence) + 1 > context_.options().max_context) {
        finish(a, FinishReason::context_full, -1);
        continue;
      }
      batch.push_back({a.request.sequence, token, true});
      fed.push_back(&a);
    }
    if (batch.empty()) break;
    try {
      context_.decode(batch);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::cancelled) throw;
      for (auto& a : active)
        if (!a.done) finish(a, FinishReason::cancelled, -1);
      break;
    }
    decode_tokens_ += static_cast<int64_t>(batch.size());
    for (size_t k = 0; k < fed.size(); ++k) {
      auto row = context_.logits(k);
      fed[k]->logits.assign(row.begin(), row.end());
    }
  }
  decode_seconds_ = seconds_since(t0);
  return results;
}

}  // namespace zaya
