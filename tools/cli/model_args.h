// tools/cli/model_args.h - the model-loading flags shared by every command that loads a model:
//   --backend auto|cpu|hip   --load mmap|copy   --quantize SPEC (zaya/quantization.h; implies copy)
//   --head-shortlist K (ModelOptions::head_shortlist: a Q4_0 or Q2_0 pass over the vocabulary, the
//   K best tokens rescored by the model's own head)
// and the context's KV cache type (--kv-cache f32|f16, ContextOptions::kv_cache_type).
#pragma once

#include "cli.h"

#include <zaya/model.h>

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <string_view>

namespace zaya::cli {

inline const char* kModelUsage = "[--backend auto|cpu|hip] [--load mmap|copy] [--quantize q8_0|q4_0|q4_k[,head=F,attn=F,experts=F]] [--head-shortlist K]";

inline size_t parse_head_shortlist(Args& args) {
  return static_cast<size_t>(args.get_int("head-shortlist", 0, 0, 1LL << 32));
}

inline ModelOptions parse_model_options(Args& args) {
  ModelOptions o;
  o.backend = args.get_or("backend", "auto");
  const std::string load = args.get_or("load", "mmap");
  if (load == "mmap") o.storage = WeightStorage::mapped;
  else if (load == "copy") o.storage = WeightStorage::copied;
  else fail(ErrorCode::invalid_argument, "--load must be mmap or copy, not '{}'", load);
  if (auto spec = args.get("quantize")) o.quantize = QuantizationPlan::parse(*spec);
  o.head_shortlist = parse_head_shortlist(args);
  return o;
}

// A note for a GGUF whose block-quantized matrices are in ggml's layout and run memory-mapped on
// the CPU (the default load): there the CPU kernels read them about half as fast as the R16
// layout (docs/PERFORMANCE.md), which `--layout r16` writes and `--load copy` repacks to. Empty
// when nothing applies.
inline std::string mapped_layout_hint(const Model& model, const std::string& path) {
  const ModelInfo info = model.info();
  if (model.options().storage != WeightStorage::mapped || !model.options().quantize.empty() ||
      info.backend.rfind("cpu", 0) != 0)
    return {};
  bool ggml_blocks = false;
  for (size_t b = 0; b <= info.stored_dtypes.size();) {
    const size_t e = std::min(info.stored_dtypes.find('+', b), info.stored_dtypes.size());
    const std::string_view t = std::string_view(info.stored_dtypes).substr(b, e - b);
    ggml_blocks |= t == "Q8_0" || t == "Q4_0" || t == "Q4_K";
    b = e + 1;
  }
  if (!ggml_blocks) return {};
  return fmt::format("memory-mapped in ggml's layout, the quantized matrices decode about half as fast as in "
                     "zaya's R16 layout: `zaya quantize --model {} --type keep --layout r16 --out NEW.gguf` "
                     "rewrites the file that way (or --load copy repacks it at load)",
                     path);
}

inline const char* kKvCacheUsage = "[--kv-cache f32|f16]";

inline DType parse_kv_cache(Args& args) {
  const std::string type = args.get_or("kv-cache", "f32");
  if (type == "f32") return DType::f32;
  if (type == "f16") return DType::f16;
  fail(ErrorCode::invalid_argument, "--kv-cache must be f32 or f16, not '{}'", type);
}

// As --kv-cache spells it (reports and JSON).
inline const char* kv_cache_name(DType type) { return type == DType::f16 ? "f16" : "f32"; }

}  // namespace zaya::cli
