// src/model/batch_plan.h - a decode batch resolved against the sequences: every row's
// sequence, position and whether it wants logits, and each sequence's rows in order.
#pragma once

#include "sequence_state.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace zaya::model {

struct BatchRow {
  int32_t sequence = 0;
  int32_t token = 0;
  int64_t position = 0;
  bool logits = false;
  SequenceState* state = nullptr;
};

struct BatchSequence {
  int32_t id = 0;
  SequenceState* state = nullptr;
  std::vector<size_t> rows;  // indices into BatchPlan::rows, in position order
};

struct BatchPlan {
  std::vector<BatchRow> rows;
  std::vector<BatchSequence> sequences;
};

}  // namespace zaya::model
