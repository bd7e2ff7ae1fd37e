// CPU kernels against plain scalar references, for every ISA table this CPU can run, on odd
// sizes (to hit every tile remainder and vector tail) with poisoned outputs.
#include "test_support.h"

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
