// zaya/generator.h - the generation loop: prompts in, sampled tokens (and streamed text) out,
// for one sequence or many decoding together as one batch.
//
// Every weight matrix is streamed once per step for all active sequences, so a population of
// N candidates (Markovian RSA) costs far less than N separate generations. Each request keeps its
// own sampler; its draws depend only on (seed, number of tokens generated so far), so results do
// not depend on the batch it runs in or the thread count.
#pragma once

#include <zaya/context.h>
#include <zaya/sampler.h>
#include <zaya/stop_strings.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace zaya {

class Tokenizer;

enum class FinishReason : int {
  none = 0,          // still running
  stop_token = 1,    // EOS or a configured stop token
  stop_string = 2,   // a configured stop string completed (text before it kept)
  max_tokens = 3,    // the request's token budget
  context_full = 4,  // the sequence reached the context's max_context
  cancelled = 5,     // the callback or Context::cancel() stopped it
};

const char* finish_reason_name(FinishReason reason) noexcept;

struct GenerationConfig {
  int64_t max_tokens = 256;
  SamplingParams sampling = SamplingParams::defaults();
  bool stop_at_eos = true;                 // stop on the model's EOS ids (config.json / tokenizer)
  std::vector<int32_t> stop_tokens;        // more stop ids
  std::vector<std::string> stop_strings;   // needs a tokenizer
};

struct GenerationRequest {
  int32_t sequence = 0;                    // the context sequence to extend
  std::vector<int32_t> prompt;             // appended to the sequence before generating
  // When the prompt is already in the sequence (e.g. prefilled once, then forked), the logits
  // after its last token; `prompt` must then be empty.
  std::shared_ptr<const std::vector<float>> start_logits;
  GenerationConfig config;
};

struct GenerationResult {
  std::vector<int32_t> tokens;             // generated ids, including a final stop token
  std::string text;                        // decoded text (stop tokens and stop strings excluded)
  FinishReason finish = FinishReason::none;
  int64_t prompt_tokens = 0;
};

// Streaming event: request `index` produced `token` (text: its complete UTF-8, possibly empty
// while a multi-byte character or a possible stop string is pending).
struct TokenEvent {
  size_t index = 0;
  int32_t token = -1;
  std::string_view text;
  FinishReason finish = FinishReason::none;  // set on the request's last event
};

// Return false to stop generation of that request (finish = cancelled).
using TokenCallback = std::function<bool(const TokenEvent&)>;

struct GeneratorOptions {
  size_t max_batch_tokens = 512;           // prefill chunk size across requests
  size_t allowed_vocab = 0;                // ids >= this are never sampled; 0 = tokenizer size or model vocab
};

class Generator {
 public:
  // `tokenizer` may be null (ids only: no text, no stop strings).
  Generator(Context& context, const Tokenizer* tokenizer, GeneratorOptions options = {});

  // Runs every request to completion, decoding all active ones together each step.
  // Throws zaya::Error for invalid requests (before touching any sequence) and for engine
  // failures; Context::cancel() from another thread ends all requests with `cancelled`.
  std::vector<GenerationResult> run(std::vector<GenerationRequest> requests, const TokenCallback& on_token = {});

  // Counters of the last run.
  int64_t prefill_tokens() const noexcept { return prefill_tokens_; }
  int64_t decode_tokens() const noexcept { return decode_tokens_; }
  double prefill_seconds() const noexcept { return prefill_seconds_; }
  double decode_seconds() const noexcept { return decode_seconds_; }

 private:
  Context& context_;
  const Tokenizer* tokenizer_;
  GeneratorOptions options_;
  int64_t prefill_tokens_ = 0, decode_tokens_ = 0;
  double prefill_seconds_ = 0, decode_seconds_ = 0;
};

}  // namespace zaya
