// src/hip/kernels/attention.h - causal GQA softmax attention of query rows over their
// sequence's KV cache ([position][kv_head][head_dim]), fp32 throughout.
//   attention_prefill       one block per (row, q head) walks the whole cache in chunks with an
//                           online softmax: many rows, each short or long.
//   attention_decode_split  split-K for few rows over long caches: block (row, head, split)
//                           covers one slice of positions and writes an unnormalised partial
//                           output with its running max and sum;
//   attention_combine       merges the splits: out = sum_s e^{m_s - M} acc_s / sum_s e^{m_s - M} l_s.
#pragma once

#include "common.h"

namespace zaya::gpu {

struct AttnRow {
  const float* q = nullptr;       // [q_heads, D]
  const float* keys = nullptr;    // [positions, kv_heads, D] (+ layer_offset)
  const float* values = nullptr;  // same layout
  int64_t length = 0;             // positions attended: 0 .. length-1
  float* out = nullptr;           // [q_heads, D]
};

struct AttnArgs {
  const AttnRow* rows = nullptr;
  int64_t layer_offset = 0;  // added to keys / values of every row (elements)
  int q_heads = 0, kv_heads = 0, D = 0;
  float scale = 1.0f;
  int splits = 1;
  float* partial = nullptr;     // [rows, q_heads, splits, D]
  float* partial_ml = nullptr;  // [rows, q_heads, splits, 2]: running max, running sum
};

inline constexpr int kAttnChunk = 256;  // scores held in shared memory per step
inline constexpr int kAttnThreads = 128;

// Online softmax over positions [begin, end) of one (row, head). Leaves the unnormalised
// accumulator in acc[0..D) (shared) and returns the running max and sum.
ZAYA_DEVICE inline void attend_range(const AttnArgs& a, const AttnRow& r, int head, int64_t begin, int64_t end, float* qs,
                                     float* scores, float* acc, float* scratch, float& m_out, float& l_out) {
  const int D = a.D;
  const int tid = static_cast<int>(threadIdx.x), threads = static_cast<int>(blockDim.x);
  const int lane = tid % ZAYA_WARP_SIZE, warp = tid / ZAYA_WARP_SIZE, warps = threads / ZAYA_WARP_SIZE;
  const int kvh = head / (a.q_heads / a.kv_heads);
  const int64_t stride = static_cast<int64_t>(a.kv_heads) * D;
  const float* keys = r.keys + a.layer_offset + kvh * D;
  const float* values = r.values + a.layer_offset + kvh * D;
  for (int d = tid; d < D; d += threads) {
    qs[d] = r.q[head * D + d];
    acc[d] = 0.0f;
  }
  __syncthreads();
  float m = -INFINITY, l = 0.0f;
  for (int64_t base = begin; base < end; base += kAttnChunk) {
    const int count = static_cast<int>(end - base < kAttnChunk ? end - base : kAttnChunk);
    for (int p = warp; p < count; p += warps) {
      const float* k = keys + (base + p) * stride;
      float dot = 0.0f;
      for (int d = lane; d < D; d += ZAYA_WARP_SIZE) dot += qs[d] * k[d];
      dot = warp_sum(dot);
      if (lane == 0) scores[p] = dot * a.scale;
    }
    __syncthreads();
    float local_max = -INFINITY;
    for (int p = tid; p < count; p += threads) local_max = fmaxf(local_max, scores[p]);
    const float chunk_max = block_max(local_max, scratch);
    const float new_m = fmaxf(m, chunk_max);
    const float correction = m == -INFINITY ? 0.0f : expf(m - new_m);
    float local_sum = 0.0f;
    for (int p = tid; p < count; p += threads) {
      const float e = expf(scores[p] - new_m);
      scores[p] = e;
      local_sum += e;
    }
    const float chunk_sum = block_sum(local_sum, scratch);  // barrier: scores[] final
    l = l * correction + chunk_sum;
    for (int d = tid; d < D; d += threads) {
      float o = acc[d] * correction;
      for (int p = 0; p < count; ++p) o += scores[p] * values[(base + p) * stride + d];
      acc[d] = o;
    }
    m = new_m;
    __syncthreads();  // scores[] is rewritten by the next chunk
  }
  m_out = m;
  l_out = l;
}

// grid (rows, q_heads), kAttnThreads threads.
ZAYA_GLOBAL void attention_prefill(AttnArgs a) {
  ZAYA_SHARED(float, qs, 512);
  ZAYA_SHARED(float, acc, 512);
  ZAYA_SHARED(float, scores, kAttnChunk);
  ZAYA_SHARED(float, scratch, kMaxWarpsPerBlock);
  const AttnRow r = a.rows[blockIdx.x];
  const int head = static_cast<int>(blockIdx.y);
  float m = 0.0f, l = 0.0f;
  attend_range(a, r, head, 0, r.length, qs, scores, acc, scratch, m, l);
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;
  for (int d = static_cast<int>(threadIdx.x); d < a.D; d += static_cast<int>(blockDim.x)) r.out[head * a.D + d] = acc[d] * inv;
}

// grid (rows, q_heads, splits), kAttnThreads threads. Split s covers positions
// [s * span, (s + 1) * span) of the row, span = ceil(length / splits).
ZAYA_GLOBAL void attention_decode_split(AttnArgs a) {
  ZAYA_SHARED(float, qs, 512);
  ZAYA_SHARED(float, acc, 512);
  ZAYA_SHARED(float, scores, kAttnChunk);
  ZAYA_SHARED(float, scratch, kMaxWarpsPerBlock);
  const AttnRow r = a.rows[blockIdx.x];
  const int head = static_cast<int>(blockIdx.y), split = static_cast<int>(blockIdx.z);
  const int64_t span = (r.length + a.splits - 1) / a.splits;
  const int64_t begin = split * span < r.length ? split * span : r.length;
  const int64_t end = begin + span < r.length ? begin + span : r.length;
  float m = 0.0f, l = 0.0f;
  attend_range(a, r, head, begin, end, qs, scores, acc, scratch, m, l);
  const int64_t slot = (static_cast<int64_t>(blockIdx.x) * a.q_heads + head) * a.splits + split;
  for (int d = static_cast<int>(threadIdx.x); d < a.D; d += static_cast<int>(blockDim.x)) a.partial[slot * a.D + d] = acc[d];
  if (threadIdx.x == 0) {
    a.partial_ml[slot * 2] = m;
    a.partial_ml[slot * 2 + 1] = l;
  }
}

// grid (rows, q_heads), any block size.
ZAYA_GLOBAL void attention_combine(AttnArgs a) {
  const AttnRow r = a.rows[blockIdx.x];
  const int head = static_cast<int>(blockIdx.y);
  const int64_t first = (static_cast<int64_t>(blockIdx.x) * a.q_heads + head) * a.splits;
  float big = -INFINITY;
  for (int s = 0; s < a.splits; ++s) big = fmaxf(big, a.partial_ml[(first + s) * 2]);
  float total = 0.0f;
  for (int s = 0; s < a.splits; ++s) {
    const float m = a.partial_ml[(first + s) * 2];
    if (m != -INFINITY) total += expf(m - big) * a.partial_ml[(first + s) * 2 + 1];
  }
  const float inv = total > 0.0f ? 1.0f / total : 0.0f;
  for (int d = static_cast<int>(threadIdx.x); d < a.D; d += static_cast<int>(blockDim.x)) {
    float o = 0.0f;
    for (int s = 0; s < a.splits; ++s) {
      const float m = a.partial_ml[(first + s) * 2];
      if (m != -INFINITY) o += expf(m - big) * a.partial[(first + s) * a.D + d];
    }
    r.out[head * a.D + d] = o * inv;
  }
}

}  // namespace zaya::gpu
