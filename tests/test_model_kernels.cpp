// CPU kernels against plain scalar references, for every ISA table this CPU can run, on odd
// sizes (to hit every tile remainder and vector tail) with poisoned outputs.
#include "test_support.h"

#include "cpu/bandwidth.h"
#include "cpu/cpu_backend.h"
#include "cpu/kernels.h"

#include <zaya/dtype.h>

#include <xsimd/config/xsimd_cpuid.hpp>

#include <random>

using namespace zaya;

namespace {

std::vector<const cpu::KernelTable*> runnable_tables() {
  std::vector<const cpu::KernelTable*> t{&cpu::kernels_generic()};
  auto arch = xsimd::available_architectures();
  if (arch.avx2 && arch.fma3_avx2) t.push_back(&cpu::kernels_avx2());
  if (arch.avx512f && arch.avx512bw && arch.avx512dq) t.push_back(&cpu::kernels_avx512());
  return t;
}

std::vector<float> random_vector(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

}  // namespace

TEST_CASE("matmul kernels match the scalar reference (f32 and bf16 weights)") {
  std::mt19937 rng(42);
  for (const auto* k : runnable_tables()) {
    CAPTURE(k->isa);
    for (size_t rows : {1, 3, 4, 7, 17, 64}) {
      for (size_t cols : {1, 5, 16, 33, 64, 100, 257}) {
        for (size_t n : {1, 2, 3, 5, 9}) {
          auto w = random_vector(rows * cols, rng);
          auto x = random_vector(n * cols, rng);
          std::vector<uint16_t> wb(w.size());
          for (size_t i = 0; i < w.size(); ++i) wb[i] = f32_to_bf16(w[i]);
          const size_t ldy = rows + 3;
          std::vector<float> y(n * ldy, NAN), yb(n * ldy, NAN), xp(n * cols);
          k->matmul_f32(w.data(), x.data(), cols, n, cols, y.data(), ldy, 0, rows);
          k->permute_for_bf16(x.data(), cols, n, cols, xp.data(), cols);
          k->matmul_bf16(wb.data(), xp.data(), cols, n, cols, yb.data(), ldy, 0, rows);
          for (size_t i = 0; i < n; ++i) {
            for (size_t r = 0; r < rows; ++r) {
              double ref = 0, refb = 0;
              for (size_t c = 0; c < cols; ++c) {
                ref += double(w[r * cols + c]) * x[i * cols + c];
                refb += double(bf16_to_f32(wb[r * cols + c])) * x[i * cols + c];
              }
              CAPTURE(rows); CAPTURE(cols); CAPTURE(n); CAPTURE(i); CAPTURE(r);
              REQUIRE(std::fabs(y[i * ldy + r] - ref) <= 1e-5 * (1 + std::sqrt(double(cols))));
              REQUIRE(std::fabs(yb[i * ldy + r] - refb) <= 1e-5 * (1 + std::sqrt(double(cols))));
            }
            for (size_t r = rows; r < ldy; ++r) REQUIRE(std::isnan(y[i * ldy + r]));  // untouched padding
            // A row of X alone (the matvec's taller tiles) gives bit for bit its row of the batch.
            std::vector<float> one(ldy), oneb(ldy);
            k->matmul_f32(w.data(), x.data() + i * cols, cols, 1, cols, one.data(), ldy, 0, rows);
            k->matmul_bf16(wb.data(), xp.data() + i * cols, cols, 1, cols, oneb.data(), ldy, 0, rows);
            REQUIRE(std::equal(one.begin(), one.begin() + long(rows), y.begin() + long(i * ldy)));
            REQUIRE(std::equal(oneb.begin(), oneb.begin() + long(rows), yb.begin() + long(i * ldy)));
          }
        }
      }
    }
  }
}

TEST_CASE("a partial row range writes exactly those rows") {
  std::mt19937 rng(7);
  const auto& k = cpu::kernels();
  const size_t rows = 13, cols = 40, n = 3;
  auto w = random_vector(rows * cols, rng);
  auto x = random_vector(n * cols, rng);
  std::vector<float> y(n * rows, NAN);
  k.matmul_f32(w.data(), x.data(), cols, n, cols, y.data(), rows, 5, 11);
  for (size_t i = 0; i < n; ++i)
    for (size_t r = 0; r < rows; ++r) CHECK(std::isnan(y[i * rows + r]) == (r < 5 || r >= 11));
}

TEST_CASE("dot product") {
  std::mt19937 rng(3);
  for (const auto* k : runnable_tables()) {
    for (size_t n : {0, 1, 15, 16, 31, 32, 33, 128, 1000}) {
      auto a = random_vector(n, rng), b = random_vector(n, rng);
      double ref = 0;
      for (size_t i = 0; i < n; ++i) ref += double(a[i]) * b[i];
      CHECK(std::fabs(k->dot(a.data(), b.data(), n) - ref) <= 1e-5 * (1 + std::sqrt(double(n))));
    }
  }
}

TEST_CASE("attention kernel: softmax-weighted values of every head, as a double reference") {
  std::mt19937 rng(21);
  for (const auto* k : runnable_tables()) {
    CAPTURE(k->isa);
    REQUIRE(static_cast<bool>(k->attend));
    // Head sizes with and without vector tails; group sizes hitting every tile remainder; lengths
    // from one position (the first token attends to itself) past several key blocks (of 16) and
    // value blocks (of 64 positions), whole blocks and not.
    for (size_t d : {128, 20, 3}) {
      for (size_t kv_heads : {1, 2, 3}) {
        for (size_t group : {1, 2, 3, 4, 5}) {
          for (size_t len : {1, 2, 5, 16, 17, 64, 130}) {
            CAPTURE(d); CAPTURE(kv_heads); CAPTURE(group); CAPTURE(len);
            const size_t heads = kv_heads * group;
            // The cache layout of zaya/backend.h with a spare key block; every float the logical
            // [t][kv head][i] keys and values do not fill is NaN, so reading one where it would
            // count poisons the output.
            const size_t capacity = (len + 15) / 16 * 16 + 16, stride = capacity * d;
            auto q = random_vector(heads * d, rng), keys = random_vector(len * kv_heads * d, rng),
                 values = random_vector(len * kv_heads * d, rng);
            std::vector<float> key_cache(kv_heads * stride, NAN), value_cache(kv_heads * stride, NAN);
            for (size_t t = 0; t < len; ++t)
              for (size_t j = 0; j < kv_heads; ++j)
                for (size_t i = 0; i < d; ++i) {
                  key_cache[j * stride + t / 16 * 16 * d + i * 16 + t % 16] = keys[(t * kv_heads + j) * d + i];
                  value_cache[j * stride + t * d + i] = values[(t * kv_heads + j) * d + i];
                }
            for (auto& x : q) x *= 4.0f;  // peaked softmax: large score differences
            const float scale = 1.0f / std::sqrt(float(d));
            // The same cache in IEEE halves (attend_f16), against the reference on the rounded values.
            std::vector<uint16_t> key_halves(key_cache.size()), value_halves(value_cache.size());
            for (size_t i = 0; i < key_cache.size(); ++i) {
              key_halves[i] = f32_to_f16(key_cache[i]);
              value_halves[i] = f32_to_f16(value_cache[i]);
            }
            for (const bool half : {false, true}) {
            CAPTURE(half);
            if (half)
              for (auto* v : {&keys, &values})
                for (auto& x : *v) x = f16_to_f32(f32_to_f16(x));
            std::vector<float> scores(heads * (capacity - 16), NAN), out(heads * d + 7, NAN);
            if (half)
              k->attend_f16(q.data(), kv_heads, group, d, key_halves.data(), value_halves.data(), stride, len, scale,
                            scores.data(), out.data());
            else
              k->attend(q.data(), kv_heads, group, d, key_cache.data(), value_cache.data(), stride, len, scale,
                        scores.data(), out.data());
            for (size_t h = 0; h < heads; ++h) {
              const size_t kvh = h / group;
              std::vector<double> p(len);
              double mx = -INFINITY, total = 0;
              for (size_t t = 0; t < len; ++t) {
                double dot = 0;
                for (size_t i = 0; i < d; ++i) dot += double(q[h * d + i]) * keys[(t * kv_heads + kvh) * d + i];
                p[t] = dot * scale;
                mx = std::max(mx, p[t]);
              }
              for (auto& x : p) total += (x = std::exp(x - mx));
              for (size_t i = 0; i < d; ++i) {
                double ref = 0;
                for (size_t t = 0; t < len; ++t) ref += p[t] / total * values[(t * kv_heads + kvh) * d + i];
                CAPTURE(h); CAPTURE(i);
                REQUIRE(std::fabs(out[h * d + i] - ref) <= 2e-6);
              }
            }
            for (size_t i = heads * d; i < out.size(); ++i) CHECK(std::isnan(out[i]));  // nothing past the heads
            }
          }
        }
      }
    }
  }
}

TEST_CASE("swiglu kernel: silu(gate) * up, also where exp overflows") {
  std::mt19937 rng(23);
  for (const auto* k : runnable_tables()) {
    CAPTURE(k->isa);
    for (size_t n : {1, 15, 16, 17, 100}) {
      auto g = random_vector(n, rng), u = random_vector(n, rng);
      for (auto& x : g) x *= 12.0f;
      g[0] = -200.0f;  // exp(200) is inf in float: silu is -0
      if (n > 1) g[n - 1] = 90.0f;
      std::vector<float> out(n + 1, NAN);
      k->swiglu(g.data(), u.data(), out.data(), n);
      for (size_t j = 0; j < n; ++j) {
        const double ref = double(g[j]) / (1.0 + std::exp(-double(g[j]))) * u[j];
        CAPTURE(j); CAPTURE(g[j]);
        REQUIRE(std::fabs(out[j] - ref) <= 1e-6 * (1.0 + std::fabs(ref)));
      }
      CHECK(std::isnan(out[n]));
    }
  }
}

// vdpbf16ps path (AVX512_BF16 tables): activations rounded to bf16 exactly as f32_to_bf16, then
// products against the bf16 weights summed in f32; checked against a double reference on the
// rounded activations, on odd shapes (masked column tails, every tile remainder).
TEST_CASE("bf16 x bf16 prefill kernel matches the reference with bf16-rounded activations") {
  std::mt19937 rng(9);
  std::vector<const cpu::KernelTable*> tables;
  for (const auto* k : runnable_tables()) tables.push_back(k);
  if (cpu::cpu_has_avx512vnni()) tables.push_back(&cpu::kernels_avx512vnni());
  size_t tested = 0;
  for (const auto* k : tables) {
    if (!k->matmul_bf16_dp) continue;
    ++tested;
    CAPTURE(k->isa);
    for (size_t rows : {1, 3, 4, 9, 17}) {
      for (size_t cols : {1, 5, 16, 31, 32, 33, 64, 100, 257}) {
        for (size_t n : {1, 2, 5, 6, 7, 13}) {
          auto w = random_vector(rows * cols, rng);
          auto x = random_vector(n * cols, rng);
          x[0] = 1e-30f;  // tiny and huge values round like f32_to_bf16 too
          if (x.size() > 1) x[1] = 3.0e38f * 0.5f;
          std::vector<uint16_t> wb(w.size());
          for (size_t i = 0; i < w.size(); ++i) wb[i] = f32_to_bf16(w[i]);
          const size_t ldb = cols + 7;
          std::vector<uint16_t> xb(n * ldb, 0xABCD);
          k->to_bf16(x.data(), cols, n, cols, xb.data(), ldb);
          for (size_t i = 0; i < n; ++i) {
            for (size_t c = 0; c < cols; ++c) REQUIRE(xb[i * ldb + c] == f32_to_bf16(x[i * cols + c]));
            for (size_t c = cols; c < ldb; ++c) REQUIRE(xb[i * ldb + c] == 0xABCD);  // padding untouched
          }
          if (x.size() > 1) x[1] = 0.5f;  // keep the products finite for the matmul check
          k->to_bf16(x.data(), cols, n, cols, xb.data(), ldb);
          const size_t ldy = rows + 3;
          std::vector<float> y(n * ldy, NAN);
          const size_t r0 = rows > 4 ? 1 : 0;
          k->matmul_bf16_dp(wb.data(), xb.data(), ldb, n, cols, y.data(), ldy, r0, rows);
          for (size_t i = 0; i < n; ++i) {
            for (size_t r = 0; r < ldy; ++r) {
              CAPTURE(rows); CAPTURE(cols); CAPTURE(n); CAPTURE(i); CAPTURE(r);
              if (r < r0 || r >= rows) {
                REQUIRE(std::isnan(y[i * ldy + r]));
                continue;
              }
              double ref = 0;
              for (size_t c = 0; c < cols; ++c)
                ref += double(bf16_to_f32(wb[r * cols + c])) * bf16_to_f32(xb[i * ldb + c]);
              REQUIRE(std::fabs(y[i * ldy + r] - ref) <= 1e-5 * (1 + std::sqrt(double(cols))));
            }
          }
        }
      }
    }
  }
  MESSAGE("tables with a bf16 x bf16 kernel: " << tested);
}

TEST_CASE("CpuBackend bf16 matmul: exact f32 path by default and below the threshold, bf16-rounded activations from it on") {
  std::mt19937 rng(21);
  const auto& k = cpu::kernels();
  const size_t saved = cpu::bf16_prefill_min_rows();
  cpu::CpuBackend backend;
  Workspace ws(2);
  const size_t rows = 37, cols = 300;
  auto w = random_vector(rows * cols, rng);
  std::vector<uint16_t> wb(w.size());
  for (size_t i = 0; i < w.size(); ++i) wb[i] = f32_to_bf16(w[i]);
  const WeightMatrix m{DType::bf16, wb.data(), int64_t(rows), int64_t(cols)};
  const size_t threshold = k.matmul_bf16_dp ? k.bf16_dp_min_rows : 64;
  for (bool enabled : {false, true})
  for (size_t n : {threshold - 1, threshold, threshold + 5}) {
    cpu::set_bf16_prefill_min_rows(enabled ? threshold : 0);
    auto x = random_vector(n * cols, rng);
    std::vector<float> y(n * rows, NAN);
    backend.matmul(ws, m, x.data(), cols, n, y.data(), rows);
    const bool rounded = enabled && k.matmul_bf16_dp && n >= threshold;
    for (size_t i = 0; i < n; ++i)
      for (size_t r = 0; r < rows; ++r) {
        double ref = 0;
        for (size_t c = 0; c < cols; ++c) {
          const float xv = rounded ? bf16_to_f32(f32_to_bf16(x[i * cols + c])) : x[i * cols + c];
          ref += double(bf16_to_f32(wb[r * cols + c])) * xv;
        }
        CAPTURE(n); CAPTURE(i); CAPTURE(r);
        CAPTURE(enabled);
        REQUIRE(std::fabs(y[i * rows + r] - ref) <= 1e-5 * (1 + std::sqrt(double(cols))));
      }
  }
  cpu::set_bf16_prefill_min_rows(saved);
}

TEST_CASE("read-bandwidth probe: both stream layouts timed, the faster one's median reported") {
  const auto r = cpu::measure_read_bandwidth(2, size_t(32) << 20, 3);
  CHECK(r.threads == 2);
  CHECK(r.passes == 3);
  CHECK(r.bytes_per_pass == size_t(32) << 20);
  CHECK((r.streams == 1 || r.streams == cpu::kProbeStreams));
  CHECK(r.median_gbs > 0.1);
  CHECK(r.best_gbs >= r.median_gbs);
  // A size that is not whole huge pages is rounded up, not truncated.
  CHECK(cpu::measure_read_bandwidth(1, 3u << 20, 1).bytes_per_pass == size_t(4) << 20);
}
