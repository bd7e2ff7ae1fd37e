// src/model/experts.h - top-1 SwiGLU experts, rows grouped so each expert's weights are read
// once per batch.
#pragma once

#include "router.h"
#include "weights.h"

#include <zaya/backend.h>
#include <zaya/model.h>

#include <cstdint>
#include <vector>

namespace zaya::model {

struct ExpertScratch {
  FloatBuffer gathered;  // [rows of one expert, H]
  FloatBuffer output;    // [rows of one expert, H]
};

// out[i] = weight_i * expert_{e_i}(h2[i]); the skip class gives weight * h2[i] or 0 according to
// `skip`. Returns how many rows took the skip class.
size_t run_experts(const Backend& backend, Workspace& ws, const ModelConfig& config, const BlockWeights& block,
                   SkipSemantics skip, size_t n, const float* h2, const std::vector<Route>& routes, float* out,
                   ExpertScratch& scratch);

// Weight bytes one decode reads in this block: attention, conv, router, and each expert that at
// least one row chose (once, however many rows share it).
uint64_t block_weight_bytes(const BlockWeights& block, const std::vector<Route>& routes);

}  // namespace zaya::model
