// zaya/model.h - a loaded ZAYA1 model: configuration, weights (memory-mapped) and the compute
// backend. Immutable after load and safe to share between threads and contexts.
//
//   auto model = zaya::Model::load("path/to/ZAYA1-8B");      // HF checkpoint directory
//   zaya::Context ctx(model, {.max_sequences = 4});
//   ctx.decode(...);                                          // see zaya/context.h
#pragma once

#include <zaya/backend.h>
#include <zaya/config.h>
#include <zaya/quantization.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace zaya {

namespace model { struct ModelWeights; }

// What the router's skip class (index E) contributes when it wins. The two released semantics
// agree on ZAYA1-8B, where the skip class never wins; Context::skip_count() counts wins.
enum class SkipSemantics {
  scale_input,  // original Zyphra training code: p_skip * h (the default)
  zero,         // upstream transformers / vLLM: 0
};

// Where the weight matrices live after load.
enum class WeightStorage {
  mapped,  // views into the memory-mapped files: instant load, pages shared with the page cache
  copied,  // one aligned anonymous copy on transparent huge pages: slower load (one pass over
           // the files), faster decode (far fewer TLB misses while streaming weights); the file
           // mappings are released, so resident memory stays about the size of the weights
};

struct ModelOptions {
  std::string backend = "auto";                 // "auto", "cpu" or "hip"
  SkipSemantics skip = SkipSemantics::scale_input;
  WeightStorage storage = WeightStorage::mapped;
  // Quantize-on-load (zaya/quantization.h): converts the matrices to block formats while copying
  // them into the weight arena (so it implies WeightStorage::copied). Empty: keep as stored.
  QuantizationPlan quantize;
  // Opt-in cheaper LM head (CPU backend): 0 (default) computes every logit with the model's head.
  // K > 0 builds a cheaper copy of the head at load that scores the whole vocabulary each step:
  // Q4_0 (0.56 bytes per weight, ~300 MB on ZAYA1-8B) for an f32, BF16 or Q8_0 head, Q2_0 (0.31
  // bytes per weight, ~170 MB; zaya/quant.h) for a Q4_0 or Q4_K head. The K best-scoring tokens
  // of each logits row are then scored again by the model's head, so their logits are exactly the
  // full head's, and the other logits are the approximations. Greedy decoding stays exact
  // whenever the best token ranks among the approximation's K best (docs/PERFORMANCE.md measures
  // how often; K = 64 kept it at every measured position).
  size_t head_shortlist = 0;
  // Called with a fraction in [0, 1] while loading; return false to cancel (zaya::Error cancelled).
  std::function<bool(float)> progress;
};

struct ModelInfo {
  std::filesystem::path directory;
  ModelConfig config;
  std::string stored_dtypes;      // e.g. "BF16", or "BF16+Q4_0+Q8_0" after quantize-on-load
  size_t tensor_count = 0;
  size_t stored_bytes = 0;        // bytes of tensors used
  uint64_t total_params = 0;
  uint64_t active_params = 0;     // per token, excluding the embedding / LM head
  uint64_t embedding_params = 0;  // the tied embedding = LM head, read fully for every token's logits
  size_t head_shortlist_bytes = 0;  // the shortlist's approximate copy of the head (not in stored_bytes)
  std::string backend;            // description of the backend in use
  std::string backend_log;        // why it was chosen
};

// Whether `path` is a GGUF file (by its magic bytes), i.e. Model::load reads it as one.
bool is_gguf_file(const std::filesystem::path& path);

class Model {
 public:
  // Loads a Hugging Face checkpoint directory (config.json + model.safetensors or sharded
  // safetensors with model.safetensors.index.json), native or legacy layout, or a GGUF file
  // written by `zaya quantize` (zaya/quantization.h). Throws zaya::Error.
  static std::shared_ptr<const Model> load(const std::filesystem::path& directory, const ModelOptions& options = {});

  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelConfig& config() const noexcept { return config_; }
  const ModelOptions& options() const noexcept { return options_; }
  ModelInfo info() const;
  const Backend& backend() const noexcept { return *backend_; }
  const model::ModelWeights& weights() const noexcept { return *weights_; }

 private:
  Model() = default;
  ModelConfig config_;
  ModelOptions options_;
  std::filesystem::path directory_;
  std::unique_ptr<model::ModelWeights> weights_;
  std::unique_ptr<Backend> backend_;
  std::string backend_log_;
};

}  // namespace zaya
