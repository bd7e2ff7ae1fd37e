// src/model/context_impl.h - what a zaya::Context owns: its sequences' state and the scratch
// buffers of the forward pass. Shared by forward.cpp (decode and sequence bookkeeping) and
// sequence_serialization.cpp (save/load of one sequence).
#pragma once

#include "cca_attention.h"
#include "experts.h"
#include "head_shortlist.h"
#include "router.h"
#include "sequence_state.h"

#include <zaya/backend.h>
#include <zaya/context.h>

#include <cstddef>
#include <vector>

namespace zaya {

struct Context::Impl {
  explicit Impl(int threads) : ws(threads) {}
  Workspace ws;
  std::vector<model::SequenceState> sequences;
  FloatBuffer x, h, block_out, router_state, normed_for_head, logits;
  model::CcaScratch cca;
  model::RouterScratch router;
  model::ExpertScratch experts;
  std::vector<model::Route> routes;
  model::ShortlistScratch shortlist;
  std::vector<std::byte> embedding_group;  // one unpacked group of rows of an interleaved embedding
};

}  // namespace zaya
