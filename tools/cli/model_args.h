// tools/cli/model_args.h - the model-loading flags shared by every command that loads a model:
//   --backend auto|cpu|hip   --load mmap|copy   --quantize SPEC (zaya/quantization.h; implies copy)
//   --head-shortlist K (ModelOptions::head_shortlist: a Q4_0 or Q2_0 pass over the vocabulary, the
//   K best tokens rescored by the model's own head)
// and the context's KV cache type (--kv-cache f32|f16, ContextOptions::kv_cache_type).
#pragma once

#include "cli.h"

#include <zaya/model.h>

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
