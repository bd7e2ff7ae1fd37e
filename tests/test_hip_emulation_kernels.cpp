// Every device kernel, run through the CPU emulation with wavefronts of 32 and 64, against a
// scalar reference (double accumulation) on random inputs. Outputs start poisoned (NaN) so an
// element a kernel forgets to write fails; sizes are odd so edge handling is exercised. Each
// case reports the worst relative error max|d| / max|ref| it measured.
#include "hip/kernels/launchers.h"

#include "model/math.h"

#include <zaya/dtype.h>
#include <zaya/error.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace zaya;
using namespace zaya::gpu;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

struct Rng {
  std::mt19937 gen;
  explicit Rng(unsigned seed) : gen(seed) {}
  float uniform(float lo = -1.0f, float hi = 1.0f) { return std::uniform_real_distribution<float>(lo, hi)(gen); }
  std::vector<float> vec(size_t n, float lo = -1.0f, float hi = 1.0f) {
    std::vector<float> v(n);
    for (auto& x : v) x = uniform(lo, hi);
    return v;
  }
};

// Worst error per kernel over all cases, printed at the end of each test case.
struct Worst {
  std::map<std::string, double> err;
  void add(const std::string& k, double e) { err[k] = std::max(err[k], e); }
  ~Worst() {
    for (const auto& [k, e] : err) MESSAGE(k << ": worst relative error " << e);
  }
};

double rel_error(const std::vector<float>& got, const std::vector<double>& ref) {
  double diff = 0, big = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    diff = std::max(diff, std::fabs(got[i] - ref[i]));
    big = std::max(big, std::fabs(ref[i]));
  }
  return big > 0 ? diff / big : diff;
}

std::vector<uint16_t> to_bf16(std::vector<float>& w) {  // rounds w in place to bf16 values
  std::vector<uint16_t> b(w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    b[i] = f32_to_bf16(w[i]);
    w[i] = bf16_to_f32(b[i]);
  }
  return b;
}

const int kWaves[] = {32, 64};

}  // namespace

TEST_CASE("hip kernels: matmul (rows and tiled, f32 and bf16, strided, batched)") {
  Worst worst;
  Rng rng(1);
  struct Shape { int64_t rows, cols, n; int batch; int64_t pad_x, pad_y; };
  const Shape shapes[] = {{1, 1, 1, 1, 0, 0}, {37, 45, 3, 1, 2, 5}, {130, 77, 5, 2, 1, 3}, {65, 129, 17, 1, 0, 0},
                          {16, 32, 70, 3, 4, 1}, {200, 16, 1, 1, 0, 0}};
  for (int wave : kWaves)
    for (const Shape& s : shapes)
      for (int bf16 = 0; bf16 < 2; ++bf16)
        for (MatmulKernel kernel : {MatmulKernel::rows, MatmulKernel::tiled, MatmulKernel::automatic}) {
          CAPTURE(wave);
          CAPTURE(s.rows);
          CAPTURE(s.cols);
          CAPTURE(s.n);
          CAPTURE(bf16);
          emu::set_wavefront_size(wave);
          const int64_t ldx = s.cols + s.pad_x, ldy = s.rows + s.pad_y;
          std::vector<float> w = rng.vec(static_cast<size_t>(s.batch * s.rows * s.cols));
          std::vector<uint16_t> wb = bf16 ? to_bf16(w) : std::vector<uint16_t>{};
          std::vector<float> x = rng.vec(static_cast<size_t>(s.batch * s.n * ldx));
          std::vector<float> y(static_cast<size_t>(s.batch * s.n * ldy), kNaN);
          MatmulArgs a;
          a.w = bf16 ? static_cast<const void*>(wb.data()) : w.data();
          a.weight_type = bf16 ? kWeightBF16 : kWeightF32;
          a.w_batch = s.rows * s.cols;
          a.x = x.data();
          a.ldx = ldx;
          a.x_batch = s.n * ldx;
          a.y = y.data();
          a.ldy = ldy;
          a.y_batch = s.n * ldy;
          a.n = s.n;
          a.rows = s.rows;
          a.cols = s.cols;
          a.batch = s.batch;
          run_matmul(a, kernel);
          std::vector<float> got;
          std::vector<double> ref;
          for (int z = 0; z < s.batch; ++z)
            for (int64_t i = 0; i < s.n; ++i) {
              for (int64_t r = 0; r < s.rows; ++r) {
                double acc = 0;
                for (int64_t k = 0; k < s.cols; ++k)
                  acc += double(w[static_cast<size_t>(z * a.w_batch + r * s.cols + k)]) * x[static_cast<size_t>(z * a.x_batch + i * ldx + k)];
                ref.push_back(acc);
                got.push_back(y[static_cast<size_t>(z * a.y_batch + i * ldy + r)]);
              }
              for (int64_t r = s.rows; r < ldy; ++r) REQUIRE(std::isnan(y[static_cast<size_t>(z * a.y_batch + i * ldy + r)]));
            }
          const double e = rel_error(got, ref);
          worst.add(std::string(kernel == MatmulKernel::tiled ? "matmul_tiled" : "matmul_rows") + (bf16 ? " bf16" : " f32"), e);
          CHECK(e <= 2e-6);
        }
  emu::set_wavefront_size(64);
}

TEST_CASE("hip kernels: embedding, RMSNorm with gather, residual merge, SwiGLU") {
  Worst worst;
  Rng rng(2);
  for (int wave : kWaves) {
    CAPTURE(wave);
    emu::set_wavefront_size(wave);
    const int H = 83, n = 5, V = 11;
    // Embedding + input affine, f32 and bf16.
    std::vector<RowInfo> rows(n);
    for (int i = 0; i < n; ++i) rows[static_cast<size_t>(i)].token = (i * 7 + 3) % V;
    std::vector<float> emb = rng.vec(static_cast<size_t>(V * H)), bias = rng.vec(H), scale = rng.vec(H, 0.5f, 3.0f);
    for (int bf16 = 0; bf16 < 2; ++bf16) {
      std::vector<float> e = emb;
      std::vector<uint16_t> eb = bf16 ? to_bf16(e) : std::vector<uint16_t>{};
      std::vector<float> x(static_cast<size_t>(n * H), kNaN);
      run_embed(bf16 ? static_cast<const void*>(eb.data()) : e.data(), bf16 ? kWeightBF16 : kWeightF32, rows.data(), n, bias.data(),
                scale.data(), H, x.data());
      std::vector<double> ref;
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < H; ++j)
          ref.push_back((e[static_cast<size_t>(rows[static_cast<size_t>(i)].token * H + j)] + bias[static_cast<size_t>(j)]) *
                        scale[static_cast<size_t>(j)]);
      const double err = rel_error(x, ref);
      worst.add(bf16 ? "embed_input bf16" : "embed_input f32", err);
      CHECK(err <= 1e-7);
    }
    // RMSNorm over gathered rows.
    std::vector<float> x = rng.vec(static_cast<size_t>(n * H), -3.0f, 3.0f), w = rng.vec(H);
    std::vector<int32_t> gather = {4, 1, 1};
    std::vector<float> y(gather.size() * H, kNaN);
    run_rms_norm(x.data(), gather.data(), w.data(), H, 1e-5f, y.data(), static_cast<int>(gather.size()));
    std::vector<double> ref;
    for (int32_t g : gather) {
      std::vector<float> r(H);
      model::rms_norm(x.data() + g * H, w.data(), H, 1e-5, r.data());
      ref.insert(ref.end(), r.begin(), r.end());
    }
    double err = rel_error(y, ref);
    worst.add("rms_norm", err);
    CHECK(err <= 1e-6);
    // Residual merge.
    std::vector<float> o = rng.vec(static_cast<size_t>(n * H)), hs = rng.vec(H), hb = rng.vec(H), rs = rng.vec(H), rb = rng.vec(H);
    std::vector<float> merged = x;
    run_residual_merge(MergeArgs{hs.data(), hb.data(), rs.data(), rb.data()}, o.data(), merged.data(), H, n);
    ref.clear();
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < H; ++j) {
        const size_t k = static_cast<size_t>(i * H + j), jj = static_cast<size_t>(j);
        ref.push_back((double(o[k]) + hb[jj]) * hs[jj] + (double(x[k]) + rb[jj]) * rs[jj]);
      }
    err = rel_error(merged, ref);
    worst.add("residual_merge", err);
    CHECK(err <= 1e-6);
    // SwiGLU.
    const int I = 47;
    std::vector<float> gu = rng.vec(static_cast<size_t>(n * 2 * I), -4.0f, 4.0f), act(static_cast<size_t>(n * I), kNaN);
    run_swiglu(gu.data(), I, act.data(), n);
    ref.clear();
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < I; ++j) {
        const double g = gu[static_cast<size_t>(i * 2 * I + j)], u = gu[static_cast<size_t>(i * 2 * I + I + j)];
        ref.push_back(g / (1.0 + std::exp(-g)) * u);
      }
    err = rel_error(act, ref);
    worst.add("swiglu", err);
    CHECK(err <= 1e-6);
  }
  emu::set_wavefront_size(64);
}

namespace {

// A scalar CCA reference for one batch over several sequences (ZAYA1 spec §2.3 / §5).
struct CcaCase {
  int NQ = 4, NK = 2, D = 16, rotary = 8;
  int C() const { return (NQ + NK) * D; }
  int QD() const { return NQ * D; }
  int KD() const { return NK * D; }
  int VH() const { return KD() / 2; }
};

}  // namespace

TEST_CASE("hip kernels: CCA depthwise conv, state update, grouped conv, qk norm + temperature + RoPE") {
  Worst worst;
  for (int wave : kWaves)
    for (CcaCase cc : {CcaCase{}, CcaCase{8, 2, 128, 64}, CcaCase{2, 1, 24, 12}}) {
      CAPTURE(wave);
      CAPTURE(cc.D);
      emu::set_wavefront_size(wave);
      Rng rng(3 + static_cast<unsigned>(cc.D));
      const int C = cc.C(), D = cc.D, QD = cc.QD(), KD = cc.KD(), VH = cc.VH(), heads = cc.NQ + cc.NK;
      const int S = 3, max_ctx = 16;
      // Sequence 0 continues from length 3 (random state), 1 starts fresh, 2 gets one row.
      std::vector<int64_t> length = {3, 0, 7};
      struct Row { int seq; };
      const std::vector<int> row_seq = {0, 1, 0, 1, 1, 2, 0};
      const int n = static_cast<int>(row_seq.size());
      std::vector<float> conv(static_cast<size_t>(S * 2 * C)), vdel(static_cast<size_t>(S * VH));
      for (int s = 0; s < S; ++s) {
        for (int k = 0; k < 2 * C; ++k) conv[static_cast<size_t>(s * 2 * C + k)] = s == 1 ? 0.0f : rng.uniform();
        for (int k = 0; k < VH; ++k) vdel[static_cast<size_t>(s * VH + k)] = s == 1 ? 0.0f : rng.uniform();
      }
      const std::vector<float> conv0 = conv, vdel0 = vdel;
      std::vector<float> raw = rng.vec(static_cast<size_t>(n * C)), vcur = rng.vec(static_cast<size_t>(n * VH)),
                         vnew = rng.vec(static_cast<size_t>(n * VH));
      std::vector<float> tap0 = rng.vec(C), tap1 = rng.vec(C), dbias = rng.vec(C);
      std::vector<float> gw = rng.vec(static_cast<size_t>(C * 2 * D), -0.2f, 0.2f), gbias = rng.vec(C);
      std::vector<float> temp = rng.vec(cc.NK, 0.8f, 12.9f);
      std::vector<float> inv_freq(static_cast<size_t>(cc.rotary / 2));
      for (int i = 0; i < cc.rotary / 2; ++i)
        inv_freq[static_cast<size_t>(i)] = static_cast<float>(std::pow(10000.0, -2.0 * i / cc.rotary));

      // Row table as the device forward builds it.
      std::vector<RowInfo> rows(static_cast<size_t>(n));
      std::map<int, std::pair<int, int>> last;  // seq -> (last row, row before)
      std::map<int, int64_t> added;
      for (int i = 0; i < n; ++i) {
        const int s = row_seq[static_cast<size_t>(i)];
        auto [it, fresh] = last.try_emplace(s, -1, -1);
        RowInfo& r = rows[static_cast<size_t>(i)];
        r.seq = s;
        r.position = static_cast<int32_t>(length[static_cast<size_t>(s)] + added[s]++);
        r.prev1 = it->second.first;
        r.prev2 = it->second.first >= 0 ? (it->second.second >= 0 ? it->second.second : -1) : -2;
        it->second = {i, it->second.first};
      }
      std::vector<SeqInfo> seqs;
      for (const auto& [s, lr] : last) seqs.push_back(SeqInfo{s, lr.first, lr.second});

      std::vector<float> values(static_cast<size_t>(S * max_ctx * KD), kNaN), keys(values.size(), kNaN);
      std::vector<float> conv_in(static_cast<size_t>(n * 2 * C), kNaN), conv_out(static_cast<size_t>(n * C), kNaN),
          queries(static_cast<size_t>(n * QD), kNaN);
      const CcaGeometry g{C, D, cc.NQ, cc.NK, VH, cc.rotary};
      DepthwiseArgs dw;
      dw.g = g;
      dw.raw = raw.data();
      dw.rows = rows.data();
      dw.n = n;
      dw.conv_state = conv.data();
      dw.state_stride = 2 * C;
      dw.tap0 = tap0.data();
      dw.tap1 = tap1.data();
      dw.bias = dbias.data();
      dw.conv_in = conv_in.data();
      dw.v_current = vcur.data();
      dw.v_delayed = vnew.data();
      dw.vdel_state = vdel.data();
      dw.vdel_stride = VH;
      dw.values = values.data();
      dw.kv_stride = max_ctx * KD;
      run_cca_depthwise(dw);
      StateUpdateArgs su;
      su.g = g;
      su.raw = raw.data();
      su.seqs = seqs.data();
      su.conv_state = conv.data();
      su.state_stride = 2 * C;
      su.v_delayed = vnew.data();
      su.vdel_state = vdel.data();
      su.vdel_stride = VH;
      run_cca_state_update(su, static_cast<int>(seqs.size()));
      MatmulArgs gm;
      gm.w = gw.data();
      gm.w_batch = D * 2 * D;
      gm.x = conv_in.data();
      gm.ldx = 2 * C;
      gm.x_batch = 2 * D;
      gm.y = conv_out.data();
      gm.ldy = C;
      gm.y_batch = D;
      gm.n = n;
      gm.rows = D;
      gm.cols = 2 * D;
      gm.batch = heads;
      run_matmul(gm);
      QkFinishArgs qk;
      qk.g = g;
      qk.raw = raw.data();
      qk.conv_out = conv_out.data();
      qk.grouped_bias = gbias.data();
      qk.temperature = temp.data();
      qk.inv_freq = inv_freq.data();
      qk.rows = rows.data();
      qk.queries = queries.data();
      qk.keys = keys.data();
      qk.kv_stride = max_ctx * KD;
      run_qk_finish(qk, n);

      // Reference, sequence by sequence in row order.
      std::vector<double> ref_q, ref_k, ref_v, ref_conv_in;
      std::vector<float> got_q, got_k, got_v, got_conv_in;
      std::vector<float> st = conv0, vd = vdel0;
      for (int i = 0; i < n; ++i) {
        const RowInfo& r = rows[static_cast<size_t>(i)];
        float* state = st.data() + r.seq * 2 * C;
        const float* x_t = raw.data() + i * C;
        std::vector<double> yprev(static_cast<size_t>(C)), ycur(static_cast<size_t>(C));
        for (int ch = 0; ch < C; ++ch) {
          const size_t c = static_cast<size_t>(ch);
          yprev[c] = double(tap0[c]) * state[ch] + double(tap1[c]) * state[C + ch] + dbias[c];
          ycur[c] = double(tap0[c]) * state[C + ch] + double(tap1[c]) * x_t[ch] + dbias[c];
          const int hh = ch / D, ii = ch % D;
          ref_conv_in.push_back(yprev[c]);
          got_conv_in.push_back(conv_in[static_cast<size_t>(i * 2 * C + hh * 2 * D + ii)]);
          ref_conv_in.push_back(ycur[c]);
          got_conv_in.push_back(conv_in[static_cast<size_t>(i * 2 * C + hh * 2 * D + D + ii)]);
        }
        for (int j = 0; j < VH; ++j) {
          ref_v.push_back(vcur[static_cast<size_t>(i * VH + j)]);
          ref_v.push_back(vd[static_cast<size_t>(r.seq * VH + j)]);
          const size_t base = static_cast<size_t>(r.seq * max_ctx * KD + r.position * KD);
          got_v.push_back(values[base + static_cast<size_t>(j)]);
          got_v.push_back(values[base + static_cast<size_t>(VH + j)]);
        }
        // grouped conv + bias + mean residual
        std::vector<double> z(static_cast<size_t>(C));
        for (int o = 0; o < C; ++o) {
          const int hh = o / D;
          double acc = gbias[static_cast<size_t>(o)];
          for (int ii = 0; ii < D; ++ii) {
            acc += double(gw[static_cast<size_t>(o * 2 * D + ii)]) * yprev[static_cast<size_t>(hh * D + ii)];
            acc += double(gw[static_cast<size_t>(o * 2 * D + D + ii)]) * ycur[static_cast<size_t>(hh * D + ii)];
          }
          z[static_cast<size_t>(o)] = acc;
        }
        const int G = cc.NQ / cc.NK;
        for (int head = 0; head < heads; ++head) {
          std::vector<double> v(static_cast<size_t>(D));
          for (int d = 0; d < D; ++d) {
            if (head < cc.NQ) {
              v[static_cast<size_t>(d)] = z[static_cast<size_t>(head * D + d)] + 0.5 * x_t[head * D + d] + 0.5 * x_t[QD + (head / G) * D + d];
            } else {
              const int j = head - cc.NQ;
              double mean = 0;
              for (int q = 0; q < G; ++q) mean += x_t[(j * G + q) * D + d];
              v[static_cast<size_t>(d)] = z[static_cast<size_t>(QD + j * D + d)] + 0.5 * mean / G + 0.5 * x_t[QD + j * D + d];
            }
          }
          double ss = 0;
          for (double e : v) ss += e * e;
          const double target = std::sqrt(double(D)) * (head < cc.NQ ? 1.0 : temp[static_cast<size_t>(head - cc.NQ)]);
          for (double& e : v) e *= target / std::sqrt(ss);
          const int half = cc.rotary / 2;
          std::vector<double> out = v;
          for (int k = 0; k < half; ++k) {
            const double angle = double(r.position) * inv_freq[static_cast<size_t>(k)];
            out[static_cast<size_t>(k)] = v[static_cast<size_t>(k)] * std::cos(angle) - v[static_cast<size_t>(k + half)] * std::sin(angle);
            out[static_cast<size_t>(k + half)] =
                v[static_cast<size_t>(k + half)] * std::cos(angle) + v[static_cast<size_t>(k)] * std::sin(angle);
          }
          for (int d = 0; d < D; ++d) {
            if (head < cc.NQ) {
              ref_q.push_back(out[static_cast<size_t>(d)]);
              got_q.push_back(queries[static_cast<size_t>(i * QD + head * D + d)]);
            } else {
              ref_k.push_back(out[static_cast<size_t>(d)]);
              got_k.push_back(keys[static_cast<size_t>(r.seq * max_ctx * KD + r.position * KD + (head - cc.NQ) * D + d)]);
            }
          }
        }
        // advance the reference state
        std::copy(state + C, state + 2 * C, state);
        std::copy(x_t, x_t + C, state + C);
        std::copy(vnew.begin() + i * VH, vnew.begin() + (i + 1) * VH, vd.begin() + r.seq * VH);
      }
      std::vector<double> st_ref(st.begin(), st.end()), vd_ref(vd.begin(), vd.end());
      const double e_in = rel_error(got_conv_in, ref_conv_in), e_v = rel_error(got_v, ref_v);
      const double e_state = std::max(rel_error(conv, st_ref), rel_error(vdel, vd_ref));
      const double e_q = rel_error(got_q, ref_q), e_k = rel_error(got_k, ref_k);
      worst.add("cca_depthwise (conv_in)", e_in);
      worst.add("cca_depthwise (V cache)", e_v);
      worst.add("cca_state_update", e_state);
      worst.add("grouped conv + qk_finish (q)", e_q);
      worst.add("grouped conv + qk_finish (k cache)", e_k);
      CHECK(e_in <= 1e-6);
      CHECK(e_v == 0.0);
      CHECK(e_state == 0.0);
      CHECK(e_q <= 1e-5);
      CHECK(e_k <= 1e-5);
      // Only the positions of this batch were written in the caches.
      for (int s = 0; s < S; ++s)
        for (int p = 0; p < max_ctx; ++p) {
          bool used = false;
          for (const auto& r : rows) used |= r.seq == s && r.position == p;
          const size_t base = static_cast<size_t>(s * max_ctx * KD + p * KD);
          CHECK(std::isnan(keys[base]) == !used);
          CHECK(std::isnan(values[base]) == !used);
        }
    }
  emu::set_wavefront_size(64);
}

TEST_CASE("hip kernels: attention prefill and split-K decode with combine") {
  Worst worst;
  Rng rng(4);
  struct Shape { int q_heads, kv_heads, D; };
  for (int wave : kWaves)
    for (Shape sh : {Shape{4, 2, 16}, Shape{8, 2, 128}, Shape{3, 1, 40}}) {
      CAPTURE(wave);
      CAPTURE(sh.D);
      emu::set_wavefront_size(wave);
      const std::vector<int64_t> lengths = {1, 2, 7, 255, 256, 257, 600};
      const int rows_n = static_cast<int>(lengths.size());
      const int64_t stride = sh.kv_heads * sh.D, qd = sh.q_heads * sh.D;
      const int64_t max_len = 600;
      std::vector<float> keys = rng.vec(static_cast<size_t>(max_len * stride), -2.0f, 2.0f), values = rng.vec(keys.size());
      std::vector<float> q = rng.vec(static_cast<size_t>(rows_n * qd), -2.0f, 2.0f);
      const float scale = 1.0f / std::sqrt(static_cast<float>(sh.D));
      std::vector<double> ref;
      for (int r = 0; r < rows_n; ++r)
        for (int h = 0; h < sh.q_heads; ++h) {
          const int kvh = h / (sh.q_heads / sh.kv_heads);
          std::vector<double> s(static_cast<size_t>(lengths[static_cast<size_t>(r)]));
          double mx = -INFINITY;
          for (size_t t = 0; t < s.size(); ++t) {
            double dot = 0;
            for (int d = 0; d < sh.D; ++d)
              dot += double(q[static_cast<size_t>(r * qd + h * sh.D + d)]) * keys[t * static_cast<size_t>(stride) + static_cast<size_t>(kvh * sh.D + d)];
            s[t] = dot * scale;
            mx = std::max(mx, s[t]);
          }
          double total = 0;
          for (double& e : s) total += (e = std::exp(e - mx));
          for (int d = 0; d < sh.D; ++d) {
            double o = 0;
            for (size_t t = 0; t < s.size(); ++t) o += s[t] / total * values[t * static_cast<size_t>(stride) + static_cast<size_t>(kvh * sh.D + d)];
            ref.push_back(o);
          }
        }
      for (AttnKernel kernel : {AttnKernel::prefill, AttnKernel::split}) {
        for (int splits : {1, 3, 5}) {
          if (kernel == AttnKernel::prefill && splits > 1) continue;
          std::vector<float> out(static_cast<size_t>(rows_n * qd), kNaN);
          std::vector<AttnRow> rows(static_cast<size_t>(rows_n));
          for (int r = 0; r < rows_n; ++r)
            rows[static_cast<size_t>(r)] = AttnRow{q.data() + r * qd, keys.data(), values.data(), lengths[static_cast<size_t>(r)],
                                                   out.data() + r * qd};
          std::vector<float> partial(static_cast<size_t>(rows_n * sh.q_heads * splits * sh.D), kNaN),
              ml(static_cast<size_t>(rows_n * sh.q_heads * splits * 2), kNaN);
          AttnArgs a;
          a.rows = rows.data();
          a.q_heads = sh.q_heads;
          a.kv_heads = sh.kv_heads;
          a.D = sh.D;
          a.scale = scale;
          a.splits = splits;
          a.partial = partial.data();
          a.partial_ml = ml.data();
          run_attention(a, rows_n, kernel);
          const double e = rel_error(out, ref);
          worst.add(kernel == AttnKernel::prefill ? "attention_prefill" : "attention_decode_split + combine", e);
          CHECK(e <= 1e-5);
        }
      }
    }
  // The split heuristic: few rows over long caches split; many rows do not.
  CHECK(attention_splits(1, 8, 4096) > 1);
  CHECK(attention_splits(64, 8, 4096) == 1);
  CHECK(attention_splits(1, 8, 100) == 1);
  emu::set_wavefront_size(64);
}

namespace {

struct RouterRef {
  int expert;
  double weight;
  double margin;  // best score minus second best: near-ties may legitimately differ
};

double gelu_ref(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

}  // namespace

TEST_CASE("hip kernels: router MLP (EDA, RMSNorm, erf GELU, softmax, biased argmax)") {
  Worst worst;
  Rng rng(5);
  struct Shape { int R, E; bool eda; };
  for (int wave : kWaves)
    for (Shape sh : {Shape{16, 4, false}, Shape{16, 4, true}, Shape{256, 16, true}, Shape{40, 7, true}})
      for (int bf16 = 0; bf16 < 2; ++bf16) {
        CAPTURE(wave);
        CAPTURE(sh.R);
        CAPTURE(bf16);
        emu::set_wavefront_size(wave);
        const int n = 9, R = sh.R, classes = sh.E + 1;
        std::vector<float> down = rng.vec(static_cast<size_t>(n * R), -3.0f, 3.0f), dbias = rng.vec(R), sscale = rng.vec(R),
                           norm = rng.vec(R, 0.5f, 1.5f), b1 = rng.vec(R), b2 = rng.vec(R), bal = rng.vec(classes, -0.05f, 0.05f);
        std::vector<float> w1 = rng.vec(static_cast<size_t>(R * R), -0.5f, 0.5f), w2 = rng.vec(w1.size(), -0.5f, 0.5f),
                           wo = rng.vec(static_cast<size_t>(classes * R), -1.0f, 1.0f);
        std::vector<uint16_t> w1b, w2b, wob;
        if (bf16) {
          w1b = to_bf16(w1);
          w2b = to_bf16(w2);
          wob = to_bf16(wo);
        }
        std::vector<float> state = rng.vec(static_cast<size_t>(n * R)), state0 = state;
        std::vector<Route> routes(static_cast<size_t>(n), Route{-1, kNaN});
        RouterArgs a;
        a.down = down.data();
        a.down_bias = dbias.data();
        a.states_scale = sh.eda ? sscale.data() : nullptr;
        a.state = state.data();
        a.norm = norm.data();
        a.eps = 1e-5f;
        a.fc1 = bf16 ? static_cast<const void*>(w1b.data()) : w1.data();
        a.fc1_bias = b1.data();
        a.fc2 = bf16 ? static_cast<const void*>(w2b.data()) : w2.data();
        a.fc2_bias = b2.data();
        a.out_proj = bf16 ? static_cast<const void*>(wob.data()) : wo.data();
        a.balancing = bal.data();
        a.R = R;
        a.classes = classes;
        a.routes = routes.data();
        run_router(a, bf16 ? kWeightBF16 : kWeightF32, n);
        std::vector<double> ref_state, ref_w;
        std::vector<float> got_w;
        for (int i = 0; i < n; ++i) {
          std::vector<double> r(static_cast<size_t>(R)), u(static_cast<size_t>(R)), t(static_cast<size_t>(R));
          double ss = 0;
          for (int j = 0; j < R; ++j) {
            const size_t k = static_cast<size_t>(i * R + j), jj = static_cast<size_t>(j);
            r[jj] = double(down[k]) + dbias[jj] + (sh.eda ? double(state0[k]) * sscale[jj] : 0.0);
            ss += r[jj] * r[jj];
            ref_state.push_back(r[jj]);
          }
          const double inv = 1.0 / std::sqrt(ss / R + 1e-5);
          for (int j = 0; j < R; ++j) u[static_cast<size_t>(j)] = norm[static_cast<size_t>(j)] * r[static_cast<size_t>(j)] * inv;
          for (int o = 0; o < R; ++o) {
            double acc = b1[static_cast<size_t>(o)];
            for (int k = 0; k < R; ++k) acc += double(w1[static_cast<size_t>(o * R + k)]) * u[static_cast<size_t>(k)];
            t[static_cast<size_t>(o)] = gelu_ref(acc);
          }
          for (int o = 0; o < R; ++o) {
            double acc = b2[static_cast<size_t>(o)];
            for (int k = 0; k < R; ++k) acc += double(w2[static_cast<size_t>(o * R + k)]) * t[static_cast<size_t>(k)];
            u[static_cast<size_t>(o)] = gelu_ref(acc);
          }
          std::vector<double> logit(static_cast<size_t>(classes));
          double mx = -INFINITY;
          for (int e = 0; e < classes; ++e) {
            double acc = 0;
            for (int k = 0; k < R; ++k) acc += double(wo[static_cast<size_t>(e * R + k)]) * u[static_cast<size_t>(k)];
            logit[static_cast<size_t>(e)] = acc;
            mx = std::max(mx, acc);
          }
          double total = 0;
          for (double l : logit) total += std::exp(l - mx);
          RouterRef best{0, 0, 0};
          double best_score = -INFINITY, second = -INFINITY;
          for (int e = 0; e < classes; ++e) {
            const double p = std::exp(logit[static_cast<size_t>(e)] - mx) / total, score = p + bal[static_cast<size_t>(e)];
            if (score > best_score) {
              second = best_score;
              best_score = score;
              best = RouterRef{e, p, 0};
            } else {
              second = std::max(second, score);
            }
          }
          best.margin = best_score - second;
          const Route& got = routes[static_cast<size_t>(i)];
          if (best.margin > 1e-4) CHECK(got.expert == best.expert);
          if (got.expert == best.expert) {
            ref_w.push_back(best.weight);
            got_w.push_back(got.weight);
          }
        }
        const double e_state = rel_error(state, ref_state), e_w = rel_error(got_w, ref_w);
        worst.add(bf16 ? "router_mlp bf16 (EDA state)" : "router_mlp f32 (EDA state)", e_state);
        worst.add(bf16 ? "router_mlp bf16 (route weight)" : "router_mlp f32 (route weight)", e_w);
        CHECK(e_state <= 1e-6);
        CHECK(e_w <= 1e-5);
        CHECK(got_w.size() >= static_cast<size_t>(n - 1));
      }
  emu::set_wavefront_size(64);
}

TEST_CASE("hip kernels: experts grouped by expert (SwiGLU), skip class both ways") {
  Worst worst;
  Rng rng(6);
  for (int wave : kWaves)
    for (int bf16 = 0; bf16 < 2; ++bf16)
      for (int skip_scales : {1, 0}) {
        CAPTURE(wave);
        CAPTURE(bf16);
        emu::set_wavefront_size(wave);
        const int E = 4, H = 70, I = 48, n = 13;
        std::vector<float> gu = rng.vec(static_cast<size_t>(E * 2 * I * H), -0.3f, 0.3f), dn = rng.vec(static_cast<size_t>(E * H * I), -0.3f, 0.3f);
        std::vector<uint16_t> gub, dnb;
        if (bf16) {
          gub = to_bf16(gu);
          dnb = to_bf16(dn);
        }
        std::vector<float> h = rng.vec(static_cast<size_t>(n * H), -2.0f, 2.0f);
        // Expert 2 gets six rows (more than one tile of 4), expert 3 none, two rows skip.
        const int choice[n] = {2, 0, 2, 4, 1, 2, 2, 0, 4, 2, 1, 2, 0};
        std::vector<Route> routes(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i) routes[static_cast<size_t>(i)] = Route{choice[i], rng.uniform(0.1f, 0.9f)};
        std::vector<int32_t> offsets(static_cast<size_t>(E + 2), -7), perm(static_cast<size_t>(n), -7);
        unsigned long long skips = 5;
        run_group_by_expert(routes.data(), n, E, offsets.data(), perm.data(), &skips);
        CHECK(skips == 7);
        CHECK(offsets == std::vector<int32_t>{0, 3, 5, 11, 11, 13});
        CHECK(perm == std::vector<int32_t>{1, 7, 12, 4, 10, 0, 2, 5, 6, 9, 11, 3, 8});  // stable within an expert
        std::vector<float> act(static_cast<size_t>(n * I), kNaN), out(static_cast<size_t>(n * H), kNaN);
        ExpertArgs a;
        a.routes = routes.data();
        a.n = n;
        a.E = E;
        a.H = H;
        a.I = I;
        a.offsets = offsets.data();
        a.perm = perm.data();
        a.gate_up = bf16 ? static_cast<const void*>(gub.data()) : gu.data();
        a.down = bf16 ? static_cast<const void*>(dnb.data()) : dn.data();
        a.h = h.data();
        a.act = act.data();
        a.out = out.data();
        a.skip_scales_input = skip_scales;
        run_experts(a, bf16 ? kWeightBF16 : kWeightF32);
        std::vector<double> ref;
        for (int i = 0; i < n; ++i) {
          const int e = choice[i];
          const double w = routes[static_cast<size_t>(i)].weight;
          if (e == E) {
            for (int j = 0; j < H; ++j) ref.push_back(skip_scales ? w * h[static_cast<size_t>(i * H + j)] : 0.0);
            continue;
          }
          std::vector<double> act_ref(static_cast<size_t>(I));
          for (int j = 0; j < I; ++j) {
            double g = 0, u = 0;
            for (int k = 0; k < H; ++k) {
              g += double(gu[static_cast<size_t>((e * 2 * I + j) * H + k)]) * h[static_cast<size_t>(i * H + k)];
              u += double(gu[static_cast<size_t>((e * 2 * I + I + j) * H + k)]) * h[static_cast<size_t>(i * H + k)];
            }
            act_ref[static_cast<size_t>(j)] = g / (1.0 + std::exp(-g)) * u;
          }
          for (int j = 0; j < H; ++j) {
            double y = 0;
            for (int k = 0; k < I; ++k) y += double(dn[static_cast<size_t>((e * H + j) * I + k)]) * act_ref[static_cast<size_t>(k)];
            ref.push_back(w * y);
          }
        }
        const double err = rel_error(out, ref);
        worst.add(bf16 ? "expert_gate_up + expert_down + expert_skip bf16" : "expert_gate_up + expert_down + expert_skip f32", err);
        CHECK(err <= 1e-5);
      }
  emu::set_wavefront_size(64);
}
