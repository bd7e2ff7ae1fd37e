// src/model/cca_attention.h - Compressed Convolutional Attention (one block's attention half).
#pragma once

#include "batch_plan.h"
#include "weights.h"

#include <zaya/backend.h>

namespace zaya::model {

struct CcaScratch {
  FloatBuffer raw;        // [n, C]  X = [q_raw | k_raw]
  FloatBuffer v_current;  // [n, KD/2]
  FloatBuffer v_delayed;  // [n, KD/2]
  FloatBuffer conv_in;    // [n, G, 2D] per head: [y_{t-1} | y_t] (depthwise conv output)
  FloatBuffer conv_out;   // [n, C]  grouped conv output Z
  FloatBuffer queries;    // [n, QD]
  FloatBuffer attended;   // [n, QD]
  std::vector<float> inv_freq;  // [rotary_dim / 2]
  // cos / sin of every row's RoPE angles [n, rotary_dim / 2], for the positions in rope_positions:
  // computed by the first block of a forward pass, reused by the other blocks.
  std::vector<float> rope_cos, rope_sin;
  std::vector<int64_t> rope_positions;
};

// Computes the attention output [n, H] for normalised inputs h [n, H], appending every row's
// key and value to its sequence's cache at the row's position and advancing the conv and
// delayed-value states. Caches must already have capacity for the new positions.
void cca_attention(const Backend& backend, Workspace& ws, const ModelConfig& config, const AttentionWeights& w,
                   size_t layer, BatchPlan& plan, const float* h, float* out, CcaScratch& scratch,
                   int64_t truncate_window);

}  // namespace zaya::model
