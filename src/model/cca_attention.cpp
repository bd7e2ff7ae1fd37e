// src/model/cca_attention.cpp - Compressed Convolutional Attention, as in the ZAYA1 spec §2.3.
//
//   X_t = [Wq h_t | Wk h_t]                               raw projections, C = QD + KD channels
//   Y_t = w0 * X_{t-1} + w1 * X_t + b0                    depthwise causal conv (k = 2)
//   Z_t = b1 + W1[.,.,0] Y_{t-1} + W1[.,.,1] Y_t          grouped conv, one dense DxD pair per head
//   q_h = Z_q[h] + (q_raw[h] + k_raw[h/G]) / 2            "mean" residual of the raw projections
//   k_j = Z_k[j] + (mean(q_raw[jG..jG+G-1]) + k_raw[j]) / 2
//   q, k L2-normalised to sqrt(D); k times the learned temperature; NeoX RoPE on the first
//   rotary_dim dims; V = [W_vcur h_t | W_vdel h_{t-1}]; causal GQA softmax attention; o_proj.
// The sequence starts with two zero columns of X (so the depthwise bias flows at t = 0), which
// is exactly a zero-initialised conv state.
#include "cca_attention.h"

#include "math.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace zaya::model {

namespace {
// One head's D channels of the depthwise conv for one row: y_{t-1} and y_t from the raw columns
// t-2, t-1, t (restrict: a loop the compiler vectorises; written over all channels with / and %
// by D through the caller's pointers, it stayed scalar).
void depthwise_conv(const float* __restrict tap0, const float* __restrict tap1, const float* __restrict bias,
                    const float* __restrict older, const float* __restrict old, const float* __restrict now, size_t D,
                    float* __restrict y_prev, float* __restrict y_cur) {
  for (size_t i = 0; i < D; ++i) {
    y_prev[i] = tap0[i] * older[i] + tap1[i] * old[i] + bias[i];
    y_cur[i] = tap0[i] * old[i] + tap1[i] * now[i] + bias[i];
  }
}
}  // namespace

void cca_attention(const Backend& backend, Workspace& ws, const ModelConfig& c, const AttentionWeights& w, size_t layer,
                   BatchPlan& plan, const float* h, float* out, CcaScratch& s, int64_t truncate_window) {
  const size_t n = plan.rows.size();
  const size_t H = static_cast<size_t>(c.hidden), D = static_cast<size_t>(c.head_dim);
  const size_t NQ = static_cast<size_t>(c.q_heads), NK = static_cast<size_t>(c.kv_heads);
  const size_t QD = NQ * D, KD = NK * D, C = QD + KD, VH = KD / 2, G = NQ / NK, heads = NQ + NK;

  // 1. Raw projections for every row at once (weights streamed once per batch).
  s.raw.resize(n * C);
  s.v_current.resize(n * VH);
  s.v_delayed.resize(n * VH);
  const Backend::MatmulJob projections[] = {{&w.q_proj, h, H, s.raw.data(), C},
                                             {&w.k_proj, h, H, s.raw.data() + QD, C},
                                             {&w.v_current, h, H, s.v_current.data(), VH},
                                             {&w.v_delayed, h, H, s.v_delayed.data(), VH}};
  backend.matmuls(ws, projections, n);

  // 2. Depthwise conv, walking each sequence's rows in order so every row sees the raw
  //    projections of its two predecessors (from this batch or from the carried state).
  s.conv_in.resize(n * heads * 2 * D);
  // Sequences in parallel: each has its own rows, state and cache (a batch of 16 sequences spent
  // 2.5 ms a decode step here on one thread, waiting on its cold conv states).
  ws.pool.parallel_for(plan.sequences.size(), [&](size_t q0, size_t q1) {
    std::vector<float> v_row(KD);  // [v_current | delayed value], as the cache stores it
    for (size_t q = q0; q < q1; ++q) {
      const BatchSequence& seq = plan.sequences[q];
      LayerState& st = seq.state->layers[layer];
      const float* x_older = st.conv.data();    // X_{t-2}
      const float* x_old = st.conv.data() + C;  // X_{t-1}
      const float* vdel_prev = st.vdel.data();  // W_vdel h_{t-1}
      for (size_t row : seq.rows) {
        const float* x_t = s.raw.data() + row * C;
        float* yy = s.conv_in.data() + row * heads * 2 * D;
        for (size_t g = 0; g < heads; ++g) {
          const size_t at = g * D;
          depthwise_conv(w.depthwise_tap0.data() + at, w.depthwise_tap1.data() + at, w.depthwise_bias.data() + at,
                         x_older + at, x_old + at, x_t + at, D, yy + 2 * at, yy + 2 * at + D);
        }
        // Values: KV heads 0..NK/2-1 from the current token, the rest from the previous one.
        const size_t pos = static_cast<size_t>(plan.rows[row].position);
        std::memcpy(v_row.data(), s.v_current.data() + row * VH, VH * sizeof(float));
        std::memcpy(v_row.data() + VH, vdel_prev, VH * sizeof(float));
        st.kv.store_value(pos, v_row.data());
        vdel_prev = s.v_delayed.data() + row * VH;
        x_older = x_old;
        x_old = x_t;
      }
      // Carry the state in place: the last two raw columns (not the conv outputs) and the delayed
      // value. With fewer than two rows the sources lie in the state itself (memmove).
      std::memmove(st.conv.data(), x_older, C * sizeof(float));
      std::memmove(st.conv.data() + C, x_old, C * sizeof(float));
      std::memmove(st.vdel.data(), vdel_prev, VH * sizeof(float));
      // Remember raw projections of recent positions so truncate() can rebuild the conv state.
      if (truncate_window > 0) {
        const size_t window = static_cast<size_t>(truncate_window);
        for (size_t row : seq.rows) {
          const int64_t pos = plan.rows[row].position;
          std::memcpy(st.history.data() + static_cast<size_t>(pos) % window * C, s.raw.data() + row * C, C * sizeof(float));
        }
      }
    }
  });

  // 3. Grouped conv: per head a [D, 2D] matrix applied to [y_{t-1} | y_t].
  s.conv_out.resize(n * C);
  std::vector<Backend::MatmulJob> conv_heads(heads);
  for (size_t g = 0; g < heads; ++g)
    conv_heads[g] = {&w.grouped_per_head[g], s.conv_in.data() + g * 2 * D, heads * 2 * D, s.conv_out.data() + g * D, C};
  backend.matmuls(ws, conv_heads, n);
  for (size_t row = 0; row < n; ++row)
    for (size_t ch = 0; ch < C; ++ch) s.conv_out[row * C + ch] += w.grouped_bias[ch];

  // 4. Mean residual, L2 norm, key temperature, RoPE; keys go into the cache.
  const size_t rd = static_cast<size_t>(c.rotary_dim()), half = rd / 2;
  if (s.inv_freq.size() != half) {
    s.inv_freq.resize(half);
    s.rope_positions.clear();  // the angles cached below belong to the old frequencies
    for (size_t i = 0; i < half; ++i)
      s.inv_freq[i] = static_cast<float>(std::pow(c.rope_theta, -2.0 * static_cast<double>(i) / static_cast<double>(rd)));
  }
  bool same_positions = s.rope_positions.size() == n && s.rope_cos.size() == n * half;
  for (size_t row = 0; row < n && same_positions; ++row) same_positions = s.rope_positions[row] == plan.rows[row].position;
  if (!same_positions) {  // the first block of this forward pass (angles in double)
    s.rope_positions.resize(n);
    s.rope_cos.resize(n * half);
    s.rope_sin.resize(n * half);
    for (size_t row = 0; row < n; ++row) {
      s.rope_positions[row] = plan.rows[row].position;
      for (size_t i = 0; i < half; ++i) {
        const double angle = static_cast<double>(plan.rows[row].position) * static_cast<double>(s.inv_freq[i]);
        s.rope_cos[row * half + i] = static_cast<float>(std::cos(angle));
        s.rope_sin[row * half + i] = static_cast<float>(std::sin(angle));
      }
    }
  }
  s.queries.resize(n * QD);
  const float sqrt_d = std::sqrt(static_cast<float>(D));
  ws.pool.parallel_for(n, [&](size_t r0, size_t r1) {
    std::vector<float> kbuf(KD);
    for (size_t row = r0; row < r1; ++row) {
      const BatchRow& br = plan.rows[row];
      const float* q_raw = s.raw.data() + row * C;
      const float* k_raw = q_raw + QD;
      const float* z = s.conv_out.data() + row * C;
      float* q = s.queries.data() + row * QD;
      for (size_t hq = 0; hq < NQ; ++hq)
        for (size_t i = 0; i < D; ++i)
          q[hq * D + i] = z[hq * D + i] + 0.5f * q_raw[hq * D + i] + 0.5f * k_raw[(hq / G) * D + i];
      for (size_t j = 0; j < NK; ++j)
        for (size_t i = 0; i < D; ++i) {
          float mean = 0.0f;
          for (size_t gq = 0; gq < G; ++gq) mean += q_raw[(j * G + gq) * D + i];
          kbuf[j * D + i] = z[QD + j * D + i] + 0.5f * (mean / static_cast<float>(G)) + 0.5f * k_raw[j * D + i];
        }
      for (size_t hq = 0; hq < NQ; ++hq) l2_normalize(q + hq * D, D, sqrt_d);
      for (size_t j = 0; j < NK; ++j) l2_normalize(kbuf.data() + j * D, D, sqrt_d * w.key_temperature[j]);
      const float* cos_t = s.rope_cos.data() + row * half;
      const float* sin_t = s.rope_sin.data() + row * half;
      auto rope = [&](float* v) {  // NeoX rotate-half within the first rd dims: pairs (i, i + rd/2)
        for (size_t i = 0; i < half; ++i) {
          const float a = v[i], b = v[i + half];
          v[i] = a * cos_t[i] - b * sin_t[i];
          v[i + half] = b * cos_t[i] + a * sin_t[i];
        }
      };
      for (size_t hq = 0; hq < NQ; ++hq) rope(q + hq * D);
      for (size_t j = 0; j < NK; ++j) rope(kbuf.data() + j * D);
      LayerState& st = br.state->layers[layer];
      st.kv.store_key(static_cast<size_t>(br.position), kbuf.data());
    }
  });

  // 5. Causal attention of each row over its sequence's cache up to and including itself.
  s.attended.resize(n * QD);
  std::vector<AttentionRow> rows(n);
  for (size_t row = 0; row < n; ++row) {
    LayerState& st = plan.rows[row].state->layers[layer];
    rows[row] = AttentionRow{s.queries.data() + row * QD, st.kv.keys(), st.kv.values(), st.kv.head_stride(),
                             static_cast<size_t>(plan.rows[row].position) + 1, s.attended.data() + row * QD};
  }
  AttentionShape shape{static_cast<int>(NQ), static_cast<int>(NK), static_cast<int>(D), 1.0f / sqrt_d,
                       plan.rows[0].state->layers[layer].kv.type()};  // one type for the whole context
  backend.attention(ws, shape, rows);

  // 6. Output projection.
  backend.matmul(ws, w.o_proj, s.attended.data(), QD, n, out, H);
}

}  // namespace zaya::model
