// zaya/context.h - an inference context: a set of independent sequences, each with its own
// decode state (KV cache, CCA conv state and delayed-value state), and the batched forward pass.
//
// Threading: a Context is used by one thread at a time; cancel() may be called from any thread
// and stops the running decode within one block's work. A failed or cancelled decode leaves
// every sequence exactly as it was before the call.
#pragma once

#include <zaya/model.h>

#include <zaya/dtype.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace zaya {

struct ContextOptions {
  int max_sequences = 1;        // sequence ids are 0 .. max_sequences-1
  int64_t max_context = 4096;   // tokens per sequence (capped by the model's max_position)
  int threads = 0;              // 0: one per hardware thread
  // How many trailing positions keep the raw CCA conv inputs needed to truncate a sequence
  // exactly (see truncate()). Costs (q_dim + kv_dim) floats per block per position.
  int64_t truncate_window = 64;
  // Cap on the bytes of sequence state this context holds (KV caches, CCA conv and delayed-value
  // state, truncate rings; all sequences together, as state_bytes() counts them); 0 = no cap
  // beyond what max_sequences x max_context imply. The constructor fails with out_of_memory when
  // the fixed state alone exceeds it, decode() and fork() when they would grow past it (then
  // nothing changes). KV caches grow in blocks of 16 positions (doubling, or near the cap just
  // the blocks needed). Allocation failures are out_of_memory errors either way.
  uint64_t max_cache_bytes = 0;
  // Element type of the KV caches: DType::f32 (exact, the default) or DType::f16 (half the
  // bytes that decode streams per position; keys and values rounded to IEEE half, magnitudes past
  // 65504 saturated; logits move by ~1e-3 relative, docs/PERFORMANCE.md). Other types are
  // invalid_argument.
  DType kv_cache_type = DType::f32;
};

// One token of a batch: appended to `sequence` at its current end. Tokens of one sequence must
// appear in order; different sequences may be interleaved freely.
struct BatchToken {
  int32_t sequence = 0;
  int32_t token = 0;
  bool logits = false;  // compute the next-token logits at this position
};

class Context {
 public:
  Context(std::shared_ptr<const Model> model, const ContextOptions& options = {});
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Runs the forward pass over the batch. Throws zaya::Error; on error or cancel no sequence
  // changes. Logits of the rows that asked for them are then available through logits() until
  // the next decode call (which invalidates them, whether it succeeds or not).
  void decode(std::span<const BatchToken> batch);

  size_t logits_rows() const noexcept { return logits_rows_; }
  std::span<const float> logits(size_t row) const;  // row-th requested row of the last decode
  int64_t vocab_size() const noexcept;

  // Convenience: appends tokens to one sequence and returns the logits after the last one.
  std::vector<float> prefill(int32_t sequence, std::span<const int32_t> tokens);

  int64_t length(int32_t sequence) const;
  void clear(int32_t sequence);
  // Copies all state of `source` into `target` (target's previous content is dropped).
  void fork(int32_t source, int32_t target);
  // Keeps the first `length` tokens. Exact as long as length >= current - truncate_window
  // (the CCA conv state needs the raw projections of the two tokens before the cut);
  // otherwise zaya::Error(out_of_range): clear and prefill again.
  void truncate(int32_t sequence, int64_t length);

  // Requests that the running (or, if none is running, the next) decode stop with
  // ErrorCode::cancelled. Safe from any thread and from a signal handler.
  void cancel() noexcept { cancel_requested_.store(true, std::memory_order_relaxed); }
  // Withdraws a cancel() that no decode has consumed yet.
  void reset_cancel() noexcept { cancel_requested_.store(false, std::memory_order_relaxed); }
  uint64_t skip_count() const noexcept { return skip_count_; }
  // Bytes of weights the last decode streamed (each matrix counted once per decode, experts only
  // when some row chose them): the numerator of the bandwidth roofline.
  uint64_t last_decode_weight_bytes() const noexcept { return last_weight_bytes_; }
  int max_sequences() const noexcept { return options_.max_sequences; }
  const ContextOptions& options() const noexcept { return options_; }
  const Model& model() const noexcept { return *model_; }
  size_t state_bytes(int32_t sequence) const;
  // state_bytes() summed over every sequence: what max_cache_bytes caps.
  size_t total_state_bytes() const;

  // The complete state of one sequence (caches, CCA conv and delayed-value state, the truncate
  // ring) as bytes, and back (src/model/sequence_serialization.cpp). The format is versioned,
  // checksummed and tied to the model's geometry, not to this context: a state loads into any
  // context over a model of the same geometry. load_state throws zaya::Error (bad_format for
  // damaged bytes, invalid_argument for another geometry, limit_exceeded for a state longer
  // than max_context) and leaves the sequence unchanged on error.
  std::vector<uint8_t> save_state(int32_t sequence) const;
  void load_state(int32_t sequence, std::span<const uint8_t> bytes);

  struct Impl;

 private:
  std::shared_ptr<const Model> model_;
  ContextOptions options_;
  std::unique_ptr<Impl> impl_;
  size_t logits_rows_ = 0;
  uint64_t skip_count_ = 0;
  uint64_t last_weight_bytes_ = 0;
  std::atomic<bool> cancel_requested_{false};
};

}  // namespace zaya
