// src/model/router.h - ZAYA1's MLP router with depth-wise EDA state and balancing biases.
#pragma once

#include "weights.h"

#include <zaya/backend.h>

#include <vector>

namespace zaya::model {

struct Route {
  int expert = 0;      // 0..E-1, or E for the skip class
  float weight = 0.f;  // raw softmax probability of the chosen class (not renormalised)
};

struct RouterScratch {
  FloatBuffer normed;  // [n, R]
  FloatBuffer hidden;  // [n, R]
  FloatBuffer hidden2; // [n, R]
  FloatBuffer logits;  // [n, E + 1]
};

// h2 [n, H] -> one route per row. `state` [n, R] carries the router's pre-norm down-projection
// from block to block of the same token (EDA): read as the previous block's, overwritten with
// this block's.
void route(const Backend& backend, Workspace& ws, const ModelConfig& config, const RouterWeights& w, size_t n,
           const float* h2, float* state, std::vector<Route>& routes, RouterScratch& scratch);

}  // namespace zaya::model
