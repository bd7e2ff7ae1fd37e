// src/model/sequence_state.h - everything one sequence carries between forward passes.
//
// Per attention layer (ZAYA1 spec section 5): the KV cache, the CCA conv state (raw q|k
// projections of the previous two tokens, oldest first) and the delayed-value state
// (W_vdel h_{t-1}). Plus a short ring of raw projections so the sequence can be truncated
// exactly, because the conv state at an earlier position cannot be rebuilt from the KV cache.
#pragma once

#include "kv_cache.h"

#include <cstdint>
#include <vector>

namespace zaya::model {

struct LayerState {
  KvCache kv;                  // value rows [v_current | W_vdel h_{t-1}] (kv_dim / 2 floats each)
  std::vector<float> conv;     // [2, C]: raw X_{t-2}, X_{t-1}; zeros at sequence start
  std::vector<float> vdel;     // [kv_dim / 2]: W_vdel h_{t-1}; zeros at sequence start
  std::vector<float> history;  // [window, C] ring of raw X_t, row = position % window
};

struct SequenceState {
  int64_t length = 0;
  int64_t history_begin = 0;  // earliest position whose raw X is still in the ring
  std::vector<LayerState> layers;
};

}  // namespace zaya::model
