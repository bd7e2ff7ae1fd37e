// zaya/backend.h - the compute seam. The forward pass (src/model/) calls the heavy operations
// (matrix products, attention, expert MLPs) through this interface, so a backend chosen at run
// time executes them: the CPU backend today, an AMD GPU (HIP) module loaded with dlopen later.
// A Backend is immutable and shared by every context of a model; per-call scratch memory and
// threads come from the caller's Workspace.
#pragma once

#include <zaya/tensor.h>
#include <zaya/thread_pool.h>

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace zaya {

// Scratch owned by one context (one thread at a time), reused across calls.
struct Workspace {
  explicit Workspace(int threads) : pool(threads) {}
  ThreadPool pool;
  FloatBuffer activations;   // e.g. bf16-friendly permuted copy of the matmul input
  FloatBuffer hidden;        // expert MLP intermediate
  FloatBuffer hidden2;
};

// Positions per key block of the KV cache layout below.
inline constexpr size_t kv_key_block = 16;

// Element index of dimension i of kv head j's key at position t in that layout (head_stride
// elements between kv heads).
constexpr size_t kv_key_index(size_t head_stride, size_t head_dim, size_t j, size_t t, size_t i) noexcept {
  return j * head_stride + t / kv_key_block * kv_key_block * head_dim + i * kv_key_block + t % kv_key_block;
}

// One query row of attention: q [q_heads, head_dim] against `length` cached positions of one
// sequence; writes out [q_heads, head_dim]. The cache is head-major (src/model/kv_cache.h):
//   values + j * head_stride   kv head j, [position][head_dim]
//   keys + j * head_stride     kv head j, blocks of kv_key_block positions, each block stored
//                              transposed, [head_dim][kv_key_block]
// head_stride = capacity * head_dim elements (of AttentionShape::cache_type) with capacity a
// multiple of kv_key_block, so a backend may read whole key blocks past `length` (what they hold
// there is unspecified and must not count).
struct AttentionRow {
  const float* q = nullptr;
  const void* keys = nullptr;
  const void* values = nullptr;
  size_t head_stride = 0;
  size_t length = 0;
  float* out = nullptr;
};

struct AttentionShape {
  int q_heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  float scale = 1.0f;  // applied to q.k
  DType cache_type = DType::f32;  // of the cached keys and values: f32 or f16
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  virtual std::string description() const = 0;

  // Y[i, r] = sum_k W[r, k] * X[i, k] for i < n, r < W.rows; rows of X and Y have strides ldx, ldy.
  virtual void matmul(Workspace& ws, const WeightMatrix& w, const float* x, size_t ldx, size_t n, float* y,
                      size_t ldy) const = 0;

  // Several independent products of n rows each: job j computes y_j = W_j x_j as matmul() does.
  // A backend may run them as one parallel loop (the CPU one does for decode-sized n: one
  // fork-join instead of one per product, each only a few microseconds long).
  struct MatmulJob {
    const WeightMatrix* w = nullptr;
    const float* x = nullptr;
    size_t ldx = 0;
    float* y = nullptr;
    size_t ldy = 0;
  };
  virtual void matmuls(Workspace& ws, std::span<const MatmulJob> jobs, size_t n) const {
    for (const auto& j : jobs) matmul(ws, *j.w, j.x, j.ldx, n, j.y, j.ldy);
  }

  // Causal softmax attention for every row (GQA: q head h reads kv head h / (q_heads / kv_heads)).
  virtual void attention(Workspace& ws, const AttentionShape& shape, std::span<const AttentionRow> rows) const = 0;

  // SwiGLU expert: Y[i] = down * (silu(gate_up[:I] x_i) * gate_up[I:] x_i), I = down.cols.
  virtual void expert_mlp(Workspace& ws, const WeightMatrix& gate_up, const WeightMatrix& down, const float* x,
                          size_t n, float* y) const = 0;

  // Several experts of one block, each over its own rows: job j computes expert_mlp(gate_up_j,
  // down_j, x_j, n_j, y_j) (rows of x_j are gate_up_j.cols apart, rows of y_j down_j.rows). A
  // backend may run them together (the CPU one does for decode batches: three fork-joins for all
  // the chosen experts instead of three per expert).
  struct ExpertJob {
    const WeightMatrix* gate_up = nullptr;
    const WeightMatrix* down = nullptr;
    const float* x = nullptr;
    size_t n = 0;
    float* y = nullptr;
  };
  virtual void expert_mlps(Workspace& ws, std::span<const ExpertJob> jobs) const {
    for (const auto& j : jobs) expert_mlp(ws, *j.gate_up, *j.down, j.x, j.n, j.y);
  }
};

struct BackendChoice {
  std::unique_ptr<Backend> backend;
  std::string log;  // why this backend was chosen (e.g. "hip: no HIP runtime; using cpu")
};

// name: "auto", "cpu" or "hip". Unknown names are zaya::Error(invalid_argument); "hip" without a
// usable GPU is zaya::Error(unsupported); "auto" falls back to the CPU and says why in `log`.
BackendChoice create_backend(std::string_view name);

// Names and a one-line status of every backend this build knows about.
std::vector<std::pair<std::string, std::string>> list_backends();

}  // namespace zaya
