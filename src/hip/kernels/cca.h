// src/hip/kernels/cca.h - Compressed Convolutional Attention pieces on the device (ZAYA1 spec
// §2.3 and §5), in the order the forward pass runs them:
//   cca_depthwise     Y_{t-1}, Y_t of the depthwise causal conv for every row, reading X_{t-1} and
//                     X_{t-2} from earlier rows of the same sequence in this batch or from the
//                     sequence's conv state; also writes V = [v_cur | v_del] into the cache.
//   cca_state_update  after that: conv state <- last two raw columns, delayed value <- last row's.
//   (grouped conv)    a batched matmul_rows launch, one [D, 2D] matrix per head.
//   qk_finish         grouped-conv bias + mean residual of the raw projections, L2 norm to
//                     sqrt(D) (times the key temperature), partial NeoX RoPE; q to the query
//                     buffer, k into the cache at the row's position.
#pragma once

#include "common.h"

namespace zaya::gpu {

// One row of a decode batch as the device sees it.
struct RowInfo {
  int32_t token = 0;
  int32_t seq = 0;          // sequence slot
  int32_t position = 0;
  int32_t prev1 = -1;       // batch row holding X_{t-1}; -1: conv state column 1
  int32_t prev2 = -1;       // batch row holding X_{t-2}; -1: state column 1, -2: state column 0
  int32_t logits_slot = -1; // row of the logits output, or -1
};

// One sequence of a decode batch: its last row and the row before it (-1: the state's column 1).
struct SeqInfo {
  int32_t seq = 0;
  int32_t last = 0;
  int32_t second_last = -1;
};

struct CcaGeometry {
  int C = 0;   // conv channels = QD + KD
  int D = 0;   // head dim
  int NQ = 0, NK = 0;
  int VH = 0;  // value projection width (KD / 2)
  int rotary = 0;
};

struct DepthwiseArgs {
  CcaGeometry g;
  const float* raw = nullptr;        // [n, C]
  const RowInfo* rows = nullptr;
  int n = 0;
  const float* conv_state = nullptr;  // this layer's state of sequence 0; + seq * state_stride
  int64_t state_stride = 0;
  const float* tap0 = nullptr;        // [C] multiplies the older sample
  const float* tap1 = nullptr;        // [C]
  const float* bias = nullptr;        // [C]
  float* conv_in = nullptr;           // [n, heads, 2D]: per head [y_{t-1} | y_t]
  const float* v_current = nullptr;   // [n, VH]
  const float* v_delayed = nullptr;   // [n, VH]: W_vdel h of each row
  const float* vdel_state = nullptr;  // this layer's delayed value of sequence 0; + seq * vdel_stride
  int64_t vdel_stride = 0;
  float* values = nullptr;            // this layer's V cache of sequence 0: [positions, 2 VH]; + seq * kv_stride
  int64_t kv_stride = 0;
  float* history = nullptr;           // optional ring of raw X for truncate: [window, C] per sequence
  int64_t history_stride = 0;         // + seq * history_stride
  int window = 0;
};

ZAYA_GLOBAL void cca_depthwise(DepthwiseArgs a) {
  const int row = static_cast<int>(blockIdx.x);
  const RowInfo ri = a.rows[row];
  const int C = a.g.C, D = a.g.D;
  const float* state = a.conv_state + ri.seq * a.state_stride;
  const float* x_t = a.raw + static_cast<int64_t>(row) * C;
  const float* x_old = ri.prev1 >= 0 ? a.raw + static_cast<int64_t>(ri.prev1) * C : state + C;
  const float* x_older = ri.prev2 >= 0 ? a.raw + static_cast<int64_t>(ri.prev2) * C : (ri.prev2 == -1 ? state + C : state);
  float* out = a.conv_in + static_cast<int64_t>(row) * 2 * C;
  for (int ch = static_cast<int>(threadIdx.x); ch < C; ch += static_cast<int>(blockDim.x)) {
    const float y_prev = a.tap0[ch] * x_older[ch] + a.tap1[ch] * x_old[ch] + a.bias[ch];
    const float y_cur = a.tap0[ch] * x_old[ch] + a.tap1[ch] * x_t[ch] + a.bias[ch];
    const int g = ch / D, i = ch % D;
    out[g * 2 * D + i] = y_prev;
    out[g * 2 * D + D + i] = y_cur;
  }
  const int VH = a.g.VH;
  float* v = a.values + ri.seq * a.kv_stride + static_cast<int64_t>(ri.position) * 2 * VH;
  const float* vdel = ri.prev1 >= 0 ? a.v_delayed + static_cast<int64_t>(ri.prev1) * VH : a.vdel_state + ri.seq * a.vdel_stride;
  for (int j = static_cast<int>(threadIdx.x); j < VH; j += static_cast<int>(blockDim.x)) {
    v[j] = a.v_current[static_cast<int64_t>(row) * VH + j];
    v[VH + j] = vdel[j];
  }
  if (a.window > 0) {
    float* h = a.history + ri.seq * a.history_stride + static_cast<int64_t>(ri.position % a.window) * C;
    for (int ch = static_cast<int>(threadIdx.x); ch < C; ch += static_cast<int>(blockDim.x)) h[ch] = x_t[ch];
  }
}

struct StateUpdateArgs {
  CcaGeometry g;
  const float* raw = nullptr;
  const SeqInfo* seqs = nullptr;
  float* conv_state = nullptr;
  int64_t state_stride = 0;
  const float* v_delayed = nullptr;
  float* vdel_state = nullptr;
  int64_t vdel_stride = 0;
};

ZAYA_GLOBAL void cca_state_update(StateUpdateArgs a) {
  const SeqInfo s = a.seqs[blockIdx.x];
  const int C = a.g.C, VH = a.g.VH;
  float* state = a.conv_state + s.seq * a.state_stride;
  for (int ch = static_cast<int>(threadIdx.x); ch < C; ch += static_cast<int>(blockDim.x)) {
    const float older = s.second_last >= 0 ? a.raw[static_cast<int64_t>(s.second_last) * C + ch] : state[C + ch];
    state[ch] = older;
    state[C + ch] = a.raw[static_cast<int64_t>(s.last) * C + ch];
  }
  float* vdel = a.vdel_state + s.seq * a.vdel_stride;
  for (int j = static_cast<int>(threadIdx.x); j < VH; j += static_cast<int>(blockDim.x))
    vdel[j] = a.v_delayed[static_cast<int64_t>(s.last) * VH + j];
}

inline constexpr int kMaxHeadDim = 512;

struct QkFinishArgs {
  CcaGeometry g;
  const float* raw = nullptr;          // [n, C] raw projections
  const float* conv_out = nullptr;     // [n, C] grouped conv output (without its bias)
  const float* grouped_bias = nullptr; // [C]
  const float* temperature = nullptr;  // [NK]
  const float* inv_freq = nullptr;     // [rotary / 2]
  const RowInfo* rows = nullptr;
  float* queries = nullptr;            // [n, QD]
  float* keys = nullptr;               // this layer's K cache of sequence 0; + seq * kv_stride
  int64_t kv_stride = 0;
};

// grid (n, NQ + NK); any block size that is a multiple of the wavefront.
ZAYA_GLOBAL void qk_finish(QkFinishArgs a) {
  ZAYA_SHARED(float, v, kMaxHeadDim);
  ZAYA_SHARED(float, scratch, kMaxWarpsPerBlock);
  const int row = static_cast<int>(blockIdx.x), head = static_cast<int>(blockIdx.y);
  const RowInfo ri = a.rows[row];
  const int C = a.g.C, D = a.g.D, NQ = a.g.NQ, G = a.g.NQ / a.g.NK, QD = a.g.NQ * a.g.D;
  const float* q_raw = a.raw + static_cast<int64_t>(row) * C;
  const float* k_raw = q_raw + QD;
  const float* z = a.conv_out + static_cast<int64_t>(row) * C;
  const bool is_query = head < NQ;
  const int j = head - NQ;  // kv head when !is_query
  float ss = 0.0f;
  for (int d = static_cast<int>(threadIdx.x); d < D; d += static_cast<int>(blockDim.x)) {
    float val;
    if (is_query) {
      const int ch = head * D + d;
      val = (z[ch] + a.grouped_bias[ch]) + 0.5f * q_raw[ch] + 0.5f * k_raw[(head / G) * D + d];
    } else {
      float mean = 0.0f;
      for (int gq = 0; gq < G; ++gq) mean += q_raw[(j * G + gq) * D + d];
      const int ch = QD + j * D + d;
      val = (z[ch] + a.grouped_bias[ch]) + 0.5f * (mean / static_cast<float>(G)) + 0.5f * k_raw[j * D + d];
    }
    v[d] = val;
    ss += val * val;
  }
  const float total = block_sum(ss, scratch);  // also a barrier: v[] is complete
  float norm = sqrtf(total);
  if (norm < 1.1920929e-07f) norm = 1.1920929e-07f;
  const float target = sqrtf(static_cast<float>(D)) * (is_query ? 1.0f : a.temperature[j]);
  const float scale = target / norm;
  float* out = is_query ? a.queries + static_cast<int64_t>(row) * QD + head * D
                        : a.keys + ri.seq * a.kv_stride + static_cast<int64_t>(ri.position) * (a.g.NK * D) + j * D;
  const int half = a.g.rotary / 2;
  for (int i = static_cast<int>(threadIdx.x); i < half; i += static_cast<int>(blockDim.x)) {
    const double angle = static_cast<double>(ri.position) * static_cast<double>(a.inv_freq[i]);
    const float c = static_cast<float>(cos(angle)), s = static_cast<float>(sin(angle));
    const float x0 = v[i] * scale, x1 = v[i + half] * scale;
    out[i] = x0 * c - x1 * s;
    out[i + half] = x1 * c + x0 * s;
  }
  for (int d = a.g.rotary + static_cast<int>(threadIdx.x); d < D; d += static_cast<int>(blockDim.x)) out[d] = v[d] * scale;
}

}  // namespace zaya::gpu
