// src/model/weights.h - the ZAYA1 weights as the forward pass sees them, in native terms.
// Large matrices are views into the mapped checkpoint (f32 / bf16); small vectors and the
// the conv weights (rearranged) are owned f32 copies.
#pragma once

#include <zaya/config.h>
#include <zaya/quantization.h>
#include <zaya/safetensors.h>
#include <zaya/tensor.h>

#include <deque>
#include <functional>
#include <memory>
#include <vector>

namespace zaya::model {

// S(o, r) = (o + hidden_bias) * hidden_scale + (r + residual_bias) * residual_scale
struct ResidualScale {
  std::vector<float> hidden_scale, hidden_bias, residual_scale, residual_bias;
};

struct AttentionWeights {
  WeightMatrix q_proj, k_proj;             // [QD, H], [KD, H]
  WeightMatrix v_current, v_delayed;       // [KD/2, H] each
  WeightMatrix o_proj;                     // [H, QD]
  std::vector<float> depthwise_tap0;       // [C] multiplies the older sample (x_{t-1})
  std::vector<float> depthwise_tap1;       // [C] multiplies the newer sample (x_t)
  std::vector<float> depthwise_bias;       // [C]
  std::vector<float> grouped_weight;       // [C, 2D]: row c = [taps on y_{t-1} | taps on y_t] of its head
  std::vector<float> grouped_bias;         // [C]
  std::vector<uint16_t> grouped_weight_bf16;  // the same in bf16 when that is exact (else empty)
  std::vector<WeightMatrix> grouped_per_head;  // one [D, 2D] matrix per head: views of the bf16 copy, else of the f32
  std::vector<float> key_temperature;      // [NK], a raw multiplier
};

struct RouterWeights {
  WeightMatrix down;                       // [R, H]
  std::vector<float> down_bias;            // [R]
  std::vector<float> states_scale;         // [R]; empty for block 0 (no EDA carry into it)
  std::vector<float> norm;                 // [R]
  WeightMatrix fc1, fc2;                   // [R, R]
  std::vector<float> fc1_bias, fc2_bias;   // [R]
  WeightMatrix out_proj;                   // [E + 1, R]; class E is "skip"
  std::vector<float> balancing_biases;     // [E + 1]
};

struct BlockWeights {
  std::vector<float> input_norm;           // [H]
  AttentionWeights attention;
  ResidualScale post_attention;
  std::vector<float> post_attention_norm;  // [H]
  RouterWeights router;
  std::vector<WeightMatrix> expert_gate_up;  // E x [2I, H]: rows 0..I-1 gate, I..2I-1 up
  std::vector<WeightMatrix> expert_down;     // E x [H, I]
  ResidualScale post_mlp;
};

// Unmaps the anonymous region of WeightStorage::copied.
struct ArenaFree {
  size_t bytes = 0;
  void operator()(void* p) const noexcept;
};

// The opt-in cheaper LM head (ModelOptions::head_shortlist; src/model/head_shortlist.h).
struct HeadShortlist {
  size_t k = 0;         // candidates rescored per logits row; 0: off
  WeightMatrix approx;  // the Q4_0 or Q2_0 copy of the head [V, H] (row-interleaved for the CPU kernels)
  std::unique_ptr<void, ArenaFree> storage;
};

struct ModelWeights {
  WeightMatrix embedding;                  // [V, H]
  WeightMatrix lm_head;                    // [V, H]; the embedding when tied
  std::vector<float> input_scale, input_bias;  // [H]
  std::vector<float> final_norm;           // [H]
  std::vector<BlockWeights> blocks;

  // Provenance for `zaya info`.
  size_t tensor_count = 0;
  size_t stored_bytes = 0;
  std::string stored_dtypes;               // e.g. "BF16" or "F32+BF16"
  uint64_t total_params = 0;
  uint64_t active_params = 0;              // per token: everything but the unchosen experts
  uint64_t embedding_params = 0;

  // Keeps converted copies alive (f16 -> f32, misaligned data, conv weights).
  std::deque<std::vector<float>> owned;
  std::shared_ptr<TensorStore> store;   // null once the weights were copied out of the files
  std::unique_ptr<void, ArenaFree> arena;  // WeightStorage::copied: every matrix, huge-page backed
  HeadShortlist head_shortlist;
};

// Calls fn(matrix, class) for every weight matrix the backend multiplies with (the tied LM head
// is visited twice: as the embedding and as the head; both views share one source).
template <typename Fn>
void for_each_matrix(ModelWeights& w, Fn&& fn) {
  fn(w.embedding, MatrixClass::head);
  fn(w.lm_head, MatrixClass::head);
  for (auto& b : w.blocks) {
    auto& a = b.attention;
    for (WeightMatrix* m : {&a.q_proj, &a.k_proj, &a.v_current, &a.v_delayed, &a.o_proj}) fn(*m, MatrixClass::attention);
    auto& r = b.router;
    for (WeightMatrix* m : {&r.down, &r.fc1, &r.fc2, &r.out_proj}) fn(*m, MatrixClass::router);
    for (auto& m : b.expert_gate_up) fn(m, MatrixClass::experts);
    for (auto& m : b.expert_down) fn(m, MatrixClass::experts);
  }
}

// Drops the whole pages inside [p, p + bytes) of a read-only file mapping from this process's
// page tables (they stay in the page cache; a later read faults them back in): keeps the resident
// set small while a pass streams through a checkpoint.
void release_file_pages(const void* p, size_t bytes) noexcept;

// Runs `work` on `workers` threads (this one included) and waits for all of them; the first
// exception any of them threw is rethrown here (instead of std::terminate on a worker).
void run_on_threads(unsigned workers, const std::function<void()>& work);

// Converts `rows` consecutive rows of `cols` elements from src_type to target (f32, bf16 or a
// block format; cols a whole number of the target's blocks), e.g. quantizing a BF16 matrix.
void convert_matrix_rows(const std::byte* src, DType src_type, size_t cols, DType target, std::byte* out, size_t rows);

// Rows [first, first + n) of a 2+-dimensional tensor as ggml stores them: for one in zaya's R16
// layout (TensorInfo::interleaved) unpacked into `scratch`, group by group of each matrix of the
// last two dimensions; for a plain one a pointer into its bytes.
const std::byte* plain_rows(const TensorInfo& src, size_t cols, size_t first, size_t n, std::vector<std::byte>& scratch);

// Moves every weight matrix into one anonymous huge-page arena, converting each to the format
// `plan` gives its class (an empty plan copies them as stored), and releases the file mappings
// (WeightStorage::copied, ModelOptions::quantize). With repack_for_cpu, block-quantized matrices
// are stored in the row-interleaved layout the CPU kernels stream fastest (WeightMatrix::interleaved). Conversion runs on `threads` threads (0: all
// cores). `progress` gets the done fraction; returning false cancels.
void store_weights_in_arena(ModelWeights& weights, const QuantizationPlan& plan, bool repack_for_cpu, int threads,
                            const std::function<bool(float)>& progress);

// Reads, checks (presence, dtype, shape against the config) and arranges every tensor.
// Throws zaya::Error naming the file and tensor on any problem.
ModelWeights load_weights(std::shared_ptr<TensorStore> store, const ModelConfig& config);

// Which layout the tensor names follow; throws if neither.
CheckpointLayout detect_layout(const TensorStore& store);

}  // namespace zaya::model
