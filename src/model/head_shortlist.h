// src/model/head_shortlist.h - the opt-in cheaper LM head (ModelOptions::head_shortlist).
//
// Decode streams the whole tied LM head for every token's logits: 262272 x 2048 weights, ~40% of
// a token's bytes in every format. With a shortlist of K, a cheaper copy of the head scores the
// whole vocabulary: Q4_0 (0.56 bytes per weight) for an f32, BF16 or Q8_0 head (4, 2 or 1.06),
// Q2_0 (0.31 bytes per weight, zaya/quant.h) for a Q4_0 or Q4_K head (0.56). The K best-scoring
// rows of each logits row are taken as candidates, and the candidates are scored again by the
// model's own head, so every candidate's logit is exactly what the full head computes (bit for
// bit: the same kernel over the same bytes). Every other logit is the approximation. Greedy
// decoding is therefore exact whenever the true best token ranks among the K best of the
// approximation; `zaya compare --head-shortlist K` measures how often.
#pragma once

#include "weights.h"

#include <zaya/backend.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace zaya::model {

// The approximation's format for a head stored as `head`: Q2_0 for a 4-bit head, else Q4_0.
DType approximation_type(DType head) noexcept;

// Builds the approximation of `head` (f32, bf16, q8_0, q4_0 or q4_k, interleaved or not) in the
// CPU kernels' R16 layout, converting on every core. Throws zaya::Error(invalid_argument) for
// another type or rows that are not whole blocks of 32.
HeadShortlist build_head_shortlist(const WeightMatrix& head, size_t k);

// Scratch of shortlist_logits, kept by the context between calls.
struct ShortlistScratch {
  std::vector<uint32_t> candidates;      // per logits row: its K candidate rows
  std::vector<uint32_t> units;           // distinct units (interleave groups or single rows) to rescore
  std::vector<uint32_t> unit_offsets;    // where each unit's rows start in `gathered`
  FloatBuffer gathered;                  // those units' bytes, as one matrix (64-byte aligned)
  FloatBuffer exact;                     // [n, gathered rows]
};

// logits [n, V] (row stride V) of the n rows of x [n, H] (stride H): the approximate pass, then the exact
// rescoring of the union of the rows' candidates; each row takes the exact logits of its own
// candidates' units (a whole interleave group when the head is interleaved). Returns the weight bytes read.
size_t shortlist_logits(const Backend& backend, Workspace& ws, const HeadShortlist& shortlist, const WeightMatrix& head,
                        const float* x, size_t n, float* logits, ShortlistScratch& scratch);

}  // namespace zaya::model
