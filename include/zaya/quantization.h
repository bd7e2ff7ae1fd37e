// zaya/quantization.h - which block format each class of weight matrix is stored in, for
// quantize-on-load (ModelOptions::quantize) and for `zaya quantize` (GGUF files).
//
// Spec strings, as on the command line:
//   "q4_0"                         every quantizable matrix in Q4_0
//   "q4_k,head=q8_0"               experts and attention in Q4_K, the embedding / LM head in Q8_0
//   "q8_0,experts=q4_0,attn=bf16"  per-class overrides; "keep" (or bf16/f32 when the checkpoint
//                                  already stores that type) leaves a class as stored
// Classes: experts (the SwiGLU expert matrices: ~90% of the parameters), attn (CCA's q/k/v/o
// projections), head (the tied embedding = LM head, read whole for every token's logits).
// The MoE router and the CCA convolutions are never quantized: they are tiny, and routing is
// computed in fp32 so the top-1 expert choice matches the reference exactly.
//
// A matrix whose row length is not a whole number of blocks of the requested format falls back
// to the next format that fits (q4_k -> q4_0 -> as stored); ModelInfo reports what was used.
#pragma once

#include <zaya/dtype.h>

#include <optional>
#include <string>
#include <string_view>

namespace zaya {

enum class MatrixClass : uint8_t { experts, attention, head, router };

struct QuantizationPlan {
  std::optional<DType> experts;    // nullopt: keep as stored
  std::optional<DType> attention;
  std::optional<DType> head;

  bool empty() const noexcept { return !experts && !attention && !head; }

  // The requested type for a class (nullopt: keep; the router is always kept).
  std::optional<DType> requested(MatrixClass c) const noexcept;

  // The type a [rows, cols] matrix of class c is stored in under this plan: the requested
  // format, or the fallback chain when cols is not a whole number of its blocks.
  DType resolve(MatrixClass c, DType stored, int64_t cols) const noexcept;

  // Parses a spec string (see above). Throws zaya::Error(invalid_argument) naming the bad part.
  static QuantizationPlan parse(std::string_view spec);
  // Canonical spec string ("" when empty), e.g. "experts=q4_0,attn=q4_0,head=q8_0".
  std::string to_string() const;
};

// Parses one format name: q8_0, q4_0, q4_k, bf16, f32 (case-insensitive). nullopt if unknown.
std::optional<DType> parse_weight_format(std::string_view name) noexcept;

}  // namespace zaya

#include <cstdint>
#include <filesystem>
#include <functional>

namespace zaya {

// `zaya quantize`: writes the Hugging Face checkpoint in `hf_dir` (config.json + safetensors, either
// layout) as one GGUF v3 file: every tensor under its HF name and shape, the matrices converted as
// `plan` says (an empty plan keeps every tensor as stored), the configuration as zaya.* metadata
// (zaya.config_json verbatim plus typed geometry keys), and the tokenizer files embedded
// (tokenizer.huggingface.json, tokenizer.chat_template, zaya.tokenizer_config_json,
// zaya.special_tokens_map_json, zaya.generation_config_json), so one file is a whole model that
// Model::load reads memory-mapped. Streams tensor by tensor (never holds the model in memory);
// conversion runs on `threads` threads (0: all cores). `progress(done, total)` in bytes written.
// Throws zaya::Error; on failure no file is left at `out`.
// `hf_dir` may also be a GGUF file written by zaya (its metadata and tokenizer carry over): with
// an empty plan that only changes the tensor layout, e.g. a ggml-layout file to an R16 one and
// back, bytes unchanged apart from their order.
// `layout`: ggml (default) writes ggml's types, a file any GGUF reader can open; r16 writes the
// Q4_0 / Q8_0 / Q4_K matrices in zaya's R16 types (zaya/gguf.h), the layout the CPU kernels
// stream fastest, so a memory-mapped load (instant) decodes as fast as a copied one; only zaya
// reads such a file.
// Every tensor of the file starts at a multiple of kGgufExportAlignment bytes (general.alignment).
enum class GgufTensorLayout { ggml, r16 };
inline constexpr size_t kGgufExportAlignment = 64;
void quantize_to_gguf(const std::filesystem::path& hf_dir, const QuantizationPlan& plan, const std::filesystem::path& out,
                      int threads = 0, const std::function<void(uint64_t, uint64_t)>& progress = {},
                      GgufTensorLayout layout = GgufTensorLayout::ggml);

// The class of a checkpoint tensor by its name (either layout): the expert matrices, the CCA
// q/k/v/o projections, the embedding / LM head; everything else (router, norms, convolutions,
// residual scales) is MatrixClass::router, i.e. never quantized.
MatrixClass matrix_class_of(std::string_view tensor_name) noexcept;

}  // namespace zaya
