// Block-quantized weights (zaya/quant.h): ggml's byte layouts checked against hand-built blocks,
// quantization error per format, and every quantized matmul kernel of every ISA table this CPU
// can run against two scalar references (integer-exact and dequantize + double dot).
#include "test_support.h"

#include "cpu/cpu_backend.h"
#include "cpu/kernels.h"
#include "cpu/q4k_search.h"
#include "cpu/rounding.h"

#include <zaya/dtype.h>
#include <zaya/error.h>
#include <zaya/quant.h>

#include <xsimd/config/xsimd_cpuid.hpp>

#include <random>

using namespace zaya;

namespace {

std::vector<const cpu::KernelTable*> runnable_tables() {
  std::vector<const cpu::KernelTable*> t{&cpu::kernels_generic()};
  auto arch = xsimd::available_architectures();
  if (arch.avx2 && arch.fma3_avx2) t.push_back(&cpu::kernels_avx2());
  if (arch.avx512f && arch.avx512bw && arch.avx512dq) t.push_back(&cpu::kernels_avx512());
  if (cpu::cpu_has_avx512vnni()) t.push_back(&cpu::kernels_avx512vnni());
  return t;
}

std::vector<float> gaussian(size_t n, std::mt19937& rng, float sigma = 1.0f) {
  std::normal_distribution<float> g(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = g(rng);
  return v;
}

std::vector<uint8_t> quantize_matrix(DType t, const std::vector<float>& w, size_t rows, size_t cols) {
  const size_t rb = dtype_row_bytes(t, cols);
  std::vector<uint8_t> out(rows * rb);
  for (size_t r = 0; r < rows; ++r) quantize_row(t, w.data() + r * cols, cols, out.data() + r * rb);
  return out;
}

uint16_t read_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

double rel_rms(const std::vector<float>& a, const std::vector<float>& ref) {
  double e = 0, r = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    e += (double(a[i]) - ref[i]) * (double(a[i]) - ref[i]);
    r += double(ref[i]) * ref[i];
  }
  return std::sqrt(e / r);
}

// The exact value the kernels compute, in double: per weight block (Q4_K: sub-block) the integer
// dot of the weight codes with the activation codes, times the two scales, minus the Q4_K mins
// term; also the sum of the magnitudes of the terms (for a rounding tolerance).
struct Exact {
  double value = 0, magnitude = 0;
};
Exact exact_dot(DType t, const uint8_t* wrow, const uint8_t* xrow, size_t cols) {
  const int8_t* xq = actq8::qs(xrow);
  const float* xd = actq8::d(xrow, cols);
  const float* xs = actq8::s(xrow, cols);
  Exact e;
  auto add = [&](double v) { e.value += v; e.magnitude += std::fabs(v); };
  if (t == DType::q8_0 || t == DType::q4_0 || t == DType::q2_0) {
    for (size_t b = 0; b < cols / 32; ++b) {
      long s = 0;
      float dw;
      if (t == DType::q2_0) {
        BlockQ2_0 blk;
        std::memcpy(&blk, wrow + b * sizeof blk, sizeof blk);
        dw = f16_to_f32(blk.d);
        for (size_t k = 0; k < 32; ++k) {
          // Element k: bits 2 ((k / 4) % 4) of byte 4 (k / 16) + k % 4, written out by hand here.
          const int q = (blk.qs[4 * (k / 16) + k % 4] >> (2 * ((k / 4) % 4))) & 3;
          s += long(2 * q - 3) * xq[b * 32 + k];
        }
      } else if (t == DType::q8_0) {
        BlockQ8_0 blk;
        std::memcpy(&blk, wrow + b * sizeof blk, sizeof blk);
        dw = f16_to_f32(blk.d);
        for (int k = 0; k < 32; ++k) s += long(blk.qs[k]) * xq[b * 32 + k];
      } else {
        BlockQ4_0 blk;
        std::memcpy(&blk, wrow + b * sizeof blk, sizeof blk);
        dw = f16_to_f32(blk.d);
        for (int k = 0; k < 16; ++k) {
          s += long((blk.qs[k] & 15) - 8) * xq[b * 32 + k];
          s += long((blk.qs[k] >> 4) - 8) * xq[b * 32 + 16 + k];
        }
      }
      add(double(dw) * xd[b] * double(s));
    }
  } else {
    for (size_t sb = 0; sb < cols / 256; ++sb) {
      BlockQ4_K blk;
      std::memcpy(&blk, wrow + sb * sizeof blk, sizeof blk);
      const double d = f16_to_f32(blk.d), dmin = f16_to_f32(blk.dmin);
      for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        q4k_scale_min(j, blk.scales, sc, m);
        const size_t xb = sb * 8 + size_t(j);
        long s = 0;
        for (int l = 0; l < 32; ++l) {
          const uint8_t byte = blk.qs[32 * (j / 2) + l];
          const int q = (j % 2 == 0) ? (byte & 15) : (byte >> 4);
          s += long(q) * xq[xb * 32 + size_t(l)];
        }
        add(d * sc * xd[xb] * double(s));
        add(-dmin * m * xs[xb]);
      }
    }
  }
  return e;
}

}  // namespace

// ---- layouts ---------------------------------------------------------------------------------

TEST_CASE("Q8_0 block layout: f16 d little-endian, then 32 int8 codes") {
  float x[32];
  for (int k = 0; k < 32; ++k) x[k] = float(8 * k - 127);  // amax 127 -> d = 1 exactly
  uint8_t out[34];
  quantize_row(DType::q8_0, x, 32, out);
  CHECK(out[0] == 0x00);
  CHECK(out[1] == 0x3C);  // f16 1.0 = 0x3C00
  for (int k = 0; k < 32; ++k) CHECK(int8_t(out[2 + k]) == 8 * k - 127);

  // Rounding: half away from zero, d = amax / 127 rounded to f16.
  float y[32] = {};
  y[0] = 2.0f;    // amax: d = 2/127, q = 127
  y[1] = -1.0f;   // -63.5 -> -64 (away from zero)
  y[2] = 1.0f;    //  63.5 ->  64
  y[3] = 0.01f;   // 0.635 -> 1
  quantize_row(DType::q8_0, y, 32, out);
  CHECK(read_u16(out) == f32_to_f16(2.0f / 127.0f));
  CHECK(int8_t(out[2]) == 127);
  CHECK(int8_t(out[3]) == -64);
  CHECK(int8_t(out[4]) == 64);
  CHECK(int8_t(out[5]) == 1);
  CHECK(int8_t(out[6]) == 0);
}

TEST_CASE("Q4_0 block layout: element j in the low nibble of qs[j], j+16 in the high nibble") {
  float x[32];
  for (int j = 0; j < 16; ++j) {
    x[j] = float(j - 8);       // -8 .. 7: the first -8 sets d = -8 / -8 = 1
    x[16 + j] = float(7 - j);  //  7 .. -8
  }
  uint8_t out[18];
  quantize_row(DType::q4_0, x, 32, out);
  CHECK(read_u16(out) == 0x3C00);
  for (int j = 0; j < 16; ++j) {
    CAPTURE(j);
    CHECK(out[2 + j] == uint8_t(j | ((15 - j) << 4)));
  }
  std::vector<float> back(32);
  dequantize_row(DType::q4_0, out, 32, back.data());
  for (int k = 0; k < 32; ++k) CHECK(back[size_t(k)] == x[k]);

  // The sign of d follows the value of largest magnitude: max = +4 -> d = -0.5, q = 0 for +4.
  float y[32] = {};
  y[5] = 4.0f;
  y[20] = -1.0f;  // -1 / -0.5 + 8.5 = 10.5 -> 10
  quantize_row(DType::q4_0, y, 32, out);
  CHECK(read_u16(out) == f32_to_f16(-0.5f));
  CHECK((out[2 + 5] & 15) == 0);
  CHECK((out[2 + 4] >> 4) == 10);  // element 20 = high nibble of qs[4]
  CHECK((out[2 + 0] & 15) == 8);   // zeros -> 8
}

TEST_CASE("Q4_K block layout: 6-bit scale/min packing and the 64-element nibble order") {
  const uint8_t sc[8] = {1, 2, 3, 4, 17, 33, 49, 63};
  const uint8_t mn[8] = {0, 1, 2, 3, 16, 32, 48, 62};
  BlockQ4_K blk{};
  blk.d = 0x3C00;     // 1.0
  blk.dmin = 0x3800;  // 0.5
  // Hand packing (ggml): bytes 0-3 scales 0-3 (low 6 bits) + top 2 bits of scales 4-7,
  // bytes 4-7 mins 0-3 + top 2 bits of mins 4-7, bytes 8-11 low 4 bits of scale | min << 4.
  for (int j = 0; j < 4; ++j) {
    blk.scales[j] = uint8_t(sc[j] | ((sc[j + 4] >> 4) << 6));
    blk.scales[j + 4] = uint8_t(mn[j] | ((mn[j + 4] >> 4) << 6));
    blk.scales[j + 8] = uint8_t((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
  }
  CHECK(blk.scales[0] == (1 | (1 << 6)));   // sc4 = 17 = 0b01'0001
  CHECK(blk.scales[11] == (15 | (14 << 4)));  // sc7 = 63 -> 15, m7 = 62 -> 14
  for (int j = 0; j < 8; ++j) {
    uint8_t s, m;
    q4k_scale_min(j, blk.scales, s, m);
    CHECK(s == sc[j]);
    CHECK(m == mn[j]);
  }
  for (int i = 0; i < 128; ++i) blk.qs[i] = uint8_t((i % 16) | (((i + 5) % 16) << 4));
  std::vector<float> out(256);
  dequantize_row(DType::q4_k, &blk, 256, out.data());
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) {
      const int byte = 32 * c + l;
      CHECK(out[size_t(64 * c + l)] == float(sc[2 * c] * (byte % 16)) - 0.5f * mn[2 * c]);
      CHECK(out[size_t(64 * c + 32 + l)] == float(sc[2 * c + 1] * ((byte + 5) % 16)) - 0.5f * mn[2 * c + 1]);
    }

  // A row the format represents exactly quantizes back to (nearly) itself.
  std::vector<uint8_t> again(144);
  quantize_row(DType::q4_k, out.data(), 256, again.data());
  std::vector<float> back(256);
  dequantize_row(DType::q4_k, again.data(), 256, back.data());
  CHECK(rel_rms(back, out) < 0.02);
}

TEST_CASE("Q2_0 block layout: levels (2q - 3) d, element k in bit pair (k / 4) % 4 of byte 4 (k / 16) + k % 4") {
  // Each level -3, -1, 1, 3 eight times: Lloyd's refit lands on d = 1 exactly.
  float x[32];
  for (int k = 0; k < 32; ++k) x[k] = float(2 * ((k * 7 + k / 8) % 4) - 3);
  uint8_t out[10];
  quantize_row(DType::q2_0, x, 32, out);
  CHECK(read_u16(out) == 0x3C00);
  auto code = [&](int k) { return (int(x[k]) + 3) / 2; };
  // Byte 1 holds elements 1, 5, 9, 13 in its bit pairs 0, 1, 2, 3; byte 6 elements 18, 22, 26, 30.
  CHECK(out[2 + 1] == uint8_t(code(1) | code(5) << 2 | code(9) << 4 | code(13) << 6));
  CHECK(out[2 + 6] == uint8_t(code(18) | code(22) << 2 | code(26) << 4 | code(30) << 6));
  std::vector<float> back(32);
  dequantize_row(DType::q2_0, out, 32, back.data());
  for (int k = 0; k < 32; ++k) CHECK(back[size_t(k)] == x[k]);
  // Small values go to the inner levels -d and d, never to 0 (there is none).
  float y[32] = {};
  y[0] = 6.0f;
  quantize_row(DType::q2_0, y, 32, out);
  dequantize_row(DType::q2_0, out, 32, back.data());
  CHECK(back[0] > 0.0f);
  CHECK(std::fabs(back[1]) == f16_to_f32(read_u16(out)));
  // Non-finite weights (a corrupt checkpoint) give some codes, never undefined behaviour.
  y[3] = NAN;
  y[7] = INFINITY;
  CHECK_NOTHROW(quantize_row(DType::q2_0, y, 32, out));
}

TEST_CASE("quantize_row rejects partial blocks and non-quantized types") {
  std::vector<float> x(512, 1.0f);
  std::vector<uint8_t> out(1024);
  CHECK_THROWS_AS(quantize_row(DType::q8_0, x.data(), 33, out.data()), zaya::Error);
  CHECK_THROWS_AS(quantize_row(DType::q4_0, x.data(), 48, out.data()), zaya::Error);
  CHECK_THROWS_AS(quantize_row(DType::q4_k, x.data(), 288, out.data()), zaya::Error);
  CHECK_THROWS_AS(quantize_row(DType::bf16, x.data(), 32, out.data()), zaya::Error);
  CHECK_THROWS_AS(dequantize_row(DType::q4_k, out.data(), 32, x.data()), zaya::Error);
  CHECK_NOTHROW(quantize_row(DType::q4_k, x.data(), 512, out.data()));
  // All-zero blocks: d = 0, codes at the zero point.
  std::vector<float> z(256, 0.0f), back(256, 1.0f);
  CHECK_THROWS_AS(quantize_row(DType::q2_0, x.data(), 40, out.data()), zaya::Error);
  for (DType t : {DType::q8_0, DType::q4_0, DType::q4_k, DType::q2_0}) {
    quantize_row(t, z.data(), 256, out.data());
    dequantize_row(t, out.data(), 256, back.data());
    for (float v : back) CHECK(v == 0.0f);
  }
}

// ---- quantization error --------------------------------------------------------------------------
// Gaussian rows. Expected relative RMS error of a uniform quantizer with step D is D / sqrt(12)
// over sigma. Q8_0: D = amax/127, amax of 32 Gaussians ~ 2.0-2.5 sigma -> ~0.5%; bound 0.6%.
// Q4_0: D = amax/8 -> ~8%; bound 10%. Q4_K: D = (max - min)/15 per 32 with a fitted offset and
// 6-bit scales; must beat Q4_0. Q2_0: the best 4-level uniform quantizer of a Gaussian has
// relative RMS error 0.34 (step ~sigma); a block's own fitted scale does a little better.
TEST_CASE("quantize -> dequantize error per format") {
  std::mt19937 rng(7);
  const size_t n = 64 * 4096;
  auto x = gaussian(n, rng, 0.02f);
  double err[4];
  int i = 0;
  for (DType t : {DType::q8_0, DType::q4_0, DType::q4_k, DType::q2_0}) {
    std::vector<uint8_t> q(dtype_row_bytes(t, n));
    quantize_row(t, x.data(), n, q.data());
    std::vector<float> back(n);
    dequantize_row(t, q.data(), n, back.data());
    err[i] = rel_rms(back, x);
    MESSAGE(dtype_name(t) << ": relative RMS error " << err[i]);
    ++i;
  }
  CHECK(err[0] < 0.006);
  CHECK(err[1] < 0.10);
  CHECK(err[2] < err[1]);
  CHECK(err[2] < 0.095);
  CHECK(err[3] < 0.34);
}

TEST_CASE("activation blocks: d = amax/127, round-half-even codes, s = d * sum, zero padding") {
  std::vector<float> x(64);
  for (size_t k = 0; k < 64; ++k) x[k] = float(int(k) - 20) * 0.5f;
  x[40] = 127.0f;  // block 1: d = 1
  std::vector<uint8_t> row(actq8::row_bytes(64), 0xAB);
  quantize_activation_row(x.data(), 64, row.data());
  CHECK(actq8::row_bytes(64) == 128);
  const float* d = actq8::d(row.data(), 64);
  CHECK(d[0] == 10.0f / 127.0f);
  CHECK(d[1] == 1.0f);
  long sum1 = 0;
  for (size_t k = 32; k < 64; ++k) {
    const int q = actq8::qs(row.data())[k];
    CHECK(q == int(std::nearbyint(x[k])));
    sum1 += q;
  }
  CHECK(actq8::s(row.data(), 64)[1] == float(sum1));
  for (size_t k = 64 + 16; k < 128; ++k) CHECK(row[k] == 0);
}

// ---- kernels ----------------------------------------------------------------------------------

TEST_CASE("quantized matmul kernels match the integer-exact and dequantized references") {
  std::mt19937 rng(11);
  for (const auto* k : runnable_tables()) {
    CAPTURE(k->isa);
    for (DType t : {DType::q8_0, DType::q4_0, DType::q4_k, DType::q2_0}) {
      CAPTURE(dtype_name(t));
      const auto fn = t == DType::q8_0   ? k->matmul_q8_0
                      : t == DType::q4_0 ? k->matmul_q4_0
                      : t == DType::q2_0 ? k->matmul_q2_0
                                         : k->matmul_q4_k;
      REQUIRE(static_cast<bool>(fn));
      const std::vector<size_t> col_set =
          t == DType::q4_k ? std::vector<size_t>{256, 512, 768} : std::vector<size_t>{32, 64, 96, 160, 256};
      for (size_t cols : col_set) {
        for (size_t rows : {1, 3, 4, 6, 13, 22}) {
          auto w = gaussian(rows * cols, rng);
          auto wq = quantize_matrix(t, w, rows, cols);
          const size_t rb = dtype_row_bytes(t, cols);
          std::vector<float> wd(rows * cols);
          for (size_t r = 0; r < rows; ++r) dequantize_row(t, wq.data() + r * rb, cols, wd.data() + r * cols);
          for (size_t n = 1; n <= 17; n += (cols > 160 ? 4 : 1)) {
            CAPTURE(cols); CAPTURE(rows); CAPTURE(n);
            const size_t ldx = cols + 5;
            auto x = gaussian(n * ldx, rng);
            const size_t xr = actq8::row_bytes(cols);
            std::vector<uint8_t> xq(n * xr, 0xCD), xref(n * xr);
            k->quantize_activations(x.data(), ldx, n, cols, xq.data());
            for (size_t i = 0; i < n; ++i) quantize_activation_row(x.data() + i * ldx, cols, xref.data() + i * xr);
            REQUIRE(xq == xref);
            // A row range that is not a multiple of the tile, with poisoned outputs around it.
            const size_t r0 = rows > 4 ? 1 : 0, r1 = rows > 4 ? rows - 1 : rows;
            const size_t ldy = rows + 2;
            std::vector<float> y(n * ldy, NAN);
            fn(wq.data(), xq.data(), n, cols, y.data(), ldy, r0, r1);
            for (size_t i = 0; i < n; ++i) {
              for (size_t r = 0; r < rows; ++r) {
                CAPTURE(i); CAPTURE(r);
                const float got = y[i * ldy + r];
                if (r < r0 || r >= r1) {
                  CHECK(std::isnan(got));
                  continue;
                }
                const Exact e = exact_dot(t, wq.data() + r * rb, xq.data() + i * xr, cols);
                REQUIRE(std::fabs(got - e.value) <= 1e-5 * e.magnitude + 1e-6);
                // Against the dequantized weights and the unquantized activations: the only
                // difference is the activation rounding, at most d_x / 2 per element.
                double ref = 0, bound = 0;
                for (size_t c = 0; c < cols; ++c) {
                  ref += double(wd[r * cols + c]) * x[i * ldx + c];
                  bound += std::fabs(double(wd[r * cols + c])) * actq8::d(xq.data() + i * xr, cols)[c / 32] * 0.5;
                }
                REQUIRE(std::fabs(got - ref) <= bound * 1.001 + 1e-4);
              }
            }
          }
        }
      }
    }
  }
}

TEST_CASE("CpuBackend::matmul on quantized weights (threads split whole tiles)") {
  std::mt19937 rng(3);
  cpu::CpuBackend backend;
  Workspace ws(2);
  for (DType t : {DType::q8_0, DType::q4_0, DType::q4_k, DType::q2_0}) {
    const size_t rows = 70, cols = 512;
    auto w = gaussian(rows * cols, rng);
    auto wq = quantize_matrix(t, w, rows, cols);
    WeightMatrix m{t, wq.data(), int64_t(rows), int64_t(cols)};
    for (size_t n : {1, 5, 16}) {
      auto x = gaussian(n * cols, rng);
      std::vector<float> y(n * rows, NAN);
      backend.matmul(ws, m, x.data(), cols, n, y.data(), rows);
      std::vector<uint8_t> xq(actq8::row_bytes(cols));
      for (size_t i = 0; i < n; ++i) {
        quantize_activation_row(x.data() + i * cols, cols, xq.data());
        for (size_t r = 0; r < rows; ++r) {
          const Exact e = exact_dot(t, wq.data() + r * m.row_bytes(), xq.data(), cols);
          CAPTURE(dtype_name(t)); CAPTURE(n); CAPTURE(i); CAPTURE(r);
          REQUIRE(std::fabs(y[i * rows + r] - e.value) <= 1e-5 * e.magnitude + 1e-6);
        }
      }
    }
  }
}

TEST_CASE("interleaved layouts: repack / unpack round trip, remainder rows untouched, bad types rejected") {
  std::mt19937 rng(5);
  for (DType t : {DType::q8_0, DType::q4_0, DType::q4_k, DType::q2_0}) {
    const size_t G = interleave_rows(t);
    CHECK(G == 16u);
    for (size_t rows : {1, 8, 13, 16, 23, 37}) {
      const size_t cols = t == DType::q4_k ? 512 : 96;
      auto wq = quantize_matrix(t, gaussian(rows * cols, rng), rows, cols);
      std::vector<uint8_t> packed(wq.size(), 0xEE), back(wq.size(), 0xEE);
      repack_interleaved(t, wq.data(), rows, cols, packed.data());
      unpack_interleaved(t, packed.data(), rows, cols, back.data());
      CHECK(back == wq);
      const size_t rb = dtype_row_bytes(t, cols), whole = rows / G * G;
      CHECK(std::equal(wq.begin() + long(whole * rb), wq.end(), packed.begin() + long(whole * rb)));
      if (whole > 0 && t == DType::q4_k) {  // group 0, super-block 1: row 3's d, dmin, scale word 2, codes 20-23
        const uint8_t* pk = packed.data() + 16 * 144;
        const uint8_t* pl = wq.data() + 3 * rb + 144;
        CHECK(std::memcmp(pk + 6, pl, 2) == 0);
        CHECK(std::memcmp(pk + 32 + 6, pl + 2, 2) == 0);
        CHECK(std::memcmp(pk + 64 + 2 * 64 + 12, pl + 4 + 8, 4) == 0);
        CHECK(std::memcmp(pk + 256 + 5 * 64 + 12, pl + 16 + 20, 4) == 0);
      } else if (whole > 0) {
        // Group 0 has 3 blocks: the pair (0, 1) [scales 0 | scales 1 | codes 0 | codes 1], then block
        // 2 alone [scales | codes]. Row 3's scale and code piece 2 (Q2_0: 1, its last) of blocks 1 and 2.
        const size_t bb = dtype_block_bytes(t), codes16 = 16 * (bb - 2), j = t == DType::q2_0 ? 1 : 2;
        const size_t scale_at[] = {32, 2 * 16 * bb}, piece_at[] = {64 + codes16, 2 * 16 * bb + 32};
        for (size_t b : {1, 2}) {
          CAPTURE(b);
          CHECK(std::memcmp(packed.data() + scale_at[b - 1] + 2 * 3, wq.data() + 3 * rb + b * bb, 2) == 0);
          const uint8_t* piece = packed.data() + piece_at[b - 1] + j * 64 + 4 * 3;
          const uint8_t* plain = wq.data() + 3 * rb + b * bb + 2 + 4 * j;
          for (size_t k = 0; k < 4; ++k) CHECK(piece[k] == (t == DType::q8_0 ? plain[k] ^ 0x80 : plain[k]));
        }
      }
    }
  }
  std::vector<uint8_t> buf(4096);
  CHECK_THROWS_AS(repack_interleaved(DType::bf16, buf.data(), 8, 256, buf.data() + 2048), zaya::Error);
  CHECK_THROWS_AS(repack_interleaved(DType::q4_k, buf.data(), 1, 288, buf.data() + 2048), zaya::Error);
  CHECK_THROWS_AS(repack_interleaved(DType::q4_0, buf.data(), 8, 48, buf.data() + 2048), zaya::Error);
  CHECK(interleave_rows(DType::bf16) == 0);
}

TEST_CASE("interleaved-layout matmul kernels match the integer-exact reference on every row range") {
  std::mt19937 rng(13);
  for (const auto* k : runnable_tables()) {
    CAPTURE(k->isa);
    for (DType t : {DType::q8_0, DType::q4_0, DType::q4_k, DType::q2_0}) {
      CAPTURE(dtype_name(t));
      const auto fn = t == DType::q8_0   ? k->matmul_q8_0_r16
                      : t == DType::q4_0 ? k->matmul_q4_0_r16
                      : t == DType::q2_0 ? k->matmul_q2_0_r16
                                         : k->matmul_q4_k_r16;
      REQUIRE(static_cast<bool>(fn));
      const std::vector<size_t> col_set =
          t == DType::q4_k ? std::vector<size_t>{256, 512} : std::vector<size_t>{32, 96, 256};
      for (size_t cols : col_set) {
        for (size_t rows : {3, 8, 13, 24, 29, 48}) {
          auto wq = quantize_matrix(t, gaussian(rows * cols, rng), rows, cols);
          std::vector<uint8_t> packed(wq.size());
          repack_interleaved(t, wq.data(), rows, cols, packed.data());
          const size_t rb = dtype_row_bytes(t, cols);
          for (size_t n : {1, 2, 3, 4, 5, 8, 9, 17}) {
            const size_t xr = actq8::row_bytes(cols);
            auto x = gaussian(n * cols, rng);
            std::vector<uint8_t> xq(n * xr);
            k->quantize_activations(x.data(), cols, n, cols, xq.data());
            const std::pair<size_t, size_t> ranges[] = {{0, rows}, {1, rows - 1}, {rows / 2, rows}, {0, rows / 3}};
            for (const auto& range : ranges) {
              const size_t r0 = range.first, r1 = range.second;  // CAPTURE is a lambda: no bindings
              CAPTURE(cols); CAPTURE(rows); CAPTURE(n); CAPTURE(r0); CAPTURE(r1);
              const size_t ldy = rows + 3;
              std::vector<float> y(n * ldy, NAN);
              fn(packed.data(), rows, xq.data(), n, cols, y.data(), ldy, r0, r1);
              for (size_t i = 0; i < n; ++i) {
                for (size_t r = 0; r < ldy; ++r) {
                  CAPTURE(i); CAPTURE(r);
                  const float got = y[i * ldy + r];
                  if (r < r0 || r >= r1) {
                    REQUIRE(std::isnan(got));
                    continue;
                  }
                  const Exact e = exact_dot(t, wq.data() + r * rb, xq.data() + i * xr, cols);
                  REQUIRE(std::fabs(got - e.value) <= 1e-5 * e.magnitude + 1e-6);
                }
              }
            }
          }
        }
      }
    }
  }
}

TEST_CASE("CpuBackend::matmul_interleaved on repacked weights: the integer-exact values of the ggml rows") {
  std::mt19937 rng(17);
  cpu::CpuBackend backend;
  Workspace ws(2);
  for (DType t : {DType::q8_0, DType::q4_0, DType::q4_k, DType::q2_0}) {
    const size_t rows = 77, cols = 512;
    auto wq = quantize_matrix(t, gaussian(rows * cols, rng), rows, cols);
    std::vector<uint8_t> packed(wq.size());
    repack_interleaved(t, wq.data(), rows, cols, packed.data());
    const size_t rb = dtype_row_bytes(t, cols);
    for (size_t n : {1, 3, 16}) {
      auto x = gaussian(n * cols, rng);
      std::vector<float> y(n * rows, NAN);
      backend.matmul_interleaved(ws, WeightMatrix{t, packed.data(), int64_t(rows), int64_t(cols)}, x.data(), cols, n,
                                 y.data(), rows);
      std::vector<uint8_t> xq(actq8::row_bytes(cols));
      for (size_t i = 0; i < n; ++i) {
        quantize_activation_row(x.data() + i * cols, cols, xq.data());
        for (size_t r = 0; r < rows; ++r) {
          const Exact e = exact_dot(t, wq.data() + r * rb, xq.data(), cols);
          CAPTURE(dtype_name(t)); CAPTURE(n); CAPTURE(i); CAPTURE(r);
          REQUIRE(std::fabs(y[i * rows + r] - e.value) <= 1e-5 * e.magnitude + 1e-6);
        }
      }
    }
  }
}

TEST_CASE("CpuBackend::matmuls: several products in one parallel loop equal one matmul each") {
  // Every format the backend multiplies (f32, bf16, the block formats in row order and
  // interleaved), inputs shared and not, row counts that split unevenly over the threads.
  std::mt19937 rng(29);
  cpu::CpuBackend backend;
  Workspace ws(2);
  const size_t cols = 512;
  struct Matrix {
    std::vector<uint8_t> bytes;
    WeightMatrix w;
  };
  std::vector<Matrix> matrices;
  auto add = [&](DType t, size_t rows, bool interleaved) {
    const auto values = gaussian(rows * cols, rng);
    Matrix m;
    if (t == DType::f32) {
      m.bytes.resize(values.size() * 4);
      std::memcpy(m.bytes.data(), values.data(), m.bytes.size());
    } else if (t == DType::bf16) {
      m.bytes.resize(values.size() * 2);
      for (size_t i = 0; i < values.size(); ++i) {
        const uint16_t b = f32_to_bf16(values[i]);
        std::memcpy(m.bytes.data() + 2 * i, &b, 2);
      }
    } else {
      m.bytes = quantize_matrix(t, values, rows, cols);
      if (interleaved) {
        std::vector<uint8_t> packed(m.bytes.size());
        repack_interleaved(t, m.bytes.data(), rows, cols, packed.data());
        m.bytes = std::move(packed);
      }
    }
    m.w = WeightMatrix{t, nullptr, int64_t(rows), int64_t(cols)};
    m.w.interleaved = interleaved;
    matrices.push_back(std::move(m));
  };
  add(DType::f32, 37, false);
  add(DType::bf16, 70, false);
  add(DType::q4_0, 53, false);
  add(DType::q8_0, 77, true);
  add(DType::q4_k, 33, true);
  add(DType::q4_0, 128, true);
  for (auto& m : matrices) m.w.data = m.bytes.data();
  for (size_t n : {size_t(1), size_t(2), size_t(4), size_t(16), cpu::CpuBackend::kFusedRows + 1}) {
    CAPTURE(n);
    // Inputs: the even jobs share one, the odd jobs each have their own (rows with padding).
    const size_t ldx = cols + 5;
    std::vector<std::vector<float>> inputs;
    for (size_t j = 0; j < matrices.size(); ++j) inputs.push_back(gaussian(n * ldx, rng));
    std::vector<std::vector<float>> together(matrices.size()), alone(matrices.size());
    std::vector<Backend::MatmulJob> jobs;
    for (size_t j = 0; j < matrices.size(); ++j) {
      const size_t rows = static_cast<size_t>(matrices[j].w.rows), ldy = rows + 3;
      together[j].assign(n * ldy, NAN);
      alone[j].assign(n * ldy, NAN);
      const float* x = inputs[j % 2 == 0 ? 0 : j].data();
      jobs.push_back({&matrices[j].w, x, ldx, together[j].data(), ldy});
      backend.matmul(ws, matrices[j].w, x, ldx, n, alone[j].data(), ldy);
    }
    backend.matmuls(ws, jobs, n);
    for (size_t j = 0; j < matrices.size(); ++j) {
      CAPTURE(j);
      const size_t rows = static_cast<size_t>(matrices[j].w.rows), ldy = rows + 3;
      for (size_t i = 0; i < n; ++i)
        for (size_t r = 0; r < ldy; ++r) {
          CAPTURE(i); CAPTURE(r);
          if (r < rows) REQUIRE(together[j][i * ldy + r] == alone[j][i * ldy + r]);
          else REQUIRE(std::isnan(together[j][i * ldy + r]));  // nothing written past the rows
        }
    }
  }
}

TEST_CASE("CpuBackend::expert_mlps: a decode batch's experts in three parallel loops equal expert_mlp each") {
  // Every weight format an expert can have, rows per expert as a batch routes them (uneven,
  // one empty), few enough rows in all for the fused path, and a prefill-sized call that runs
  // each expert on its own.
  std::mt19937 rng(31);
  cpu::CpuBackend backend;
  Workspace ws(2);
  const size_t hidden = 256, width = 256;
  struct Expert {
    std::vector<uint8_t> gate_up_bytes, down_bytes;
    WeightMatrix gate_up, down;
  };
  auto encode = [&](DType t, bool interleaved, size_t rows, size_t cols, std::vector<uint8_t>& bytes) {
    const auto values = gaussian(rows * cols, rng, 0.1f);
    if (t == DType::f32) {
      bytes.resize(values.size() * 4);
      std::memcpy(bytes.data(), values.data(), bytes.size());
    } else if (t == DType::bf16) {
      bytes.resize(values.size() * 2);
      for (size_t i = 0; i < values.size(); ++i) {
        const uint16_t b = f32_to_bf16(values[i]);
        std::memcpy(bytes.data() + 2 * i, &b, 2);
      }
    } else {
      bytes = quantize_matrix(t, values, rows, cols);
      if (interleaved) {
        std::vector<uint8_t> packed(bytes.size());
        repack_interleaved(t, bytes.data(), rows, cols, packed.data());
        bytes = std::move(packed);
      }
    }
    WeightMatrix w{t, bytes.data(), int64_t(rows), int64_t(cols)};
    w.interleaved = interleaved;
    return w;
  };
  const std::vector<std::pair<DType, bool>> formats{{DType::f32, false},  {DType::bf16, false}, {DType::q4_0, false},
                                                    {DType::q8_0, true},  {DType::q4_0, true},  {DType::q4_k, true}};
  for (const auto& format : formats) {
    const DType dtype = format.first;  // not a structured binding: CAPTURE's lambda (clang 14)
    const bool interleaved = format.second;
    CAPTURE(dtype_name(dtype));
    CAPTURE(interleaved);
    std::vector<Expert> experts(5);
    for (auto& e : experts) {
      e.gate_up = encode(dtype, interleaved, 2 * width, hidden, e.gate_up_bytes);
      e.down = encode(dtype, interleaved, hidden, width, e.down_bytes);
    }
    for (const std::vector<size_t>& counts : {std::vector<size_t>{1, 3, 0, 5, 2}, std::vector<size_t>{20, 30, 1, 9, 7}}) {
      size_t total = 0;
      for (size_t c : counts) total += c;
      CAPTURE(total);
      CHECK((total <= cpu::CpuBackend::kFusedRows) == (total == 11));  // both paths are covered
      const auto x = gaussian(total * hidden, rng);
      std::vector<float> together(total * hidden + 7, NAN), alone(total * hidden, NAN);
      std::vector<Backend::ExpertJob> jobs;
      size_t at = 0;
      for (size_t e = 0; e < experts.size(); ++e) {
        jobs.push_back({&experts[e].gate_up, &experts[e].down, x.data() + at * hidden, counts[e],
                        together.data() + at * hidden});
        backend.expert_mlp(ws, experts[e].gate_up, experts[e].down, x.data() + at * hidden, counts[e],
                           alone.data() + at * hidden);
        at += counts[e];
      }
      backend.expert_mlps(ws, jobs);
      for (size_t i = 0; i < total * hidden; ++i) {
        CAPTURE(i);
        REQUIRE(std::isfinite(alone[i]));
        REQUIRE(together[i] == alone[i]);
      }
      for (size_t i = total * hidden; i < together.size(); ++i) REQUIRE(std::isnan(together[i]));  // nothing past the rows
    }
  }
}

TEST_CASE("the quantizers' inline rounding equals libm's nearbyint and round") {
  std::mt19937 rng(37);
  std::vector<float> values = {0.0f, -0.0f, 0.5f, -0.5f, 1.5f, -1.5f, 2.5f, -2.5f, 0.49999997f, -0.49999997f,
                               0x1p22f - 0.5f, -(0x1p22f - 0.5f), 0x1p22f, -0x1p22f, 0x1p23f, 1e9f, -1e9f,
                               0x1p-30f, 126.5f, 127.5f, -127.5f, 15.5f, 14.5f};
  std::uniform_real_distribution<float> wide(-0x1p23f, 0x1p23f), narrow(-300.0f, 300.0f);
  std::uniform_int_distribution<int> halves(-100000, 100000);
  for (int i = 0; i < 200000; ++i) {
    values.push_back(wide(rng));
    values.push_back(narrow(rng));
    values.push_back(static_cast<float>(halves(rng)) + 0.5f);
    values.push_back(std::nextafter(static_cast<float>(halves(rng)) + 0.5f, 0.0f));
  }
  for (float v : values) {
    CAPTURE(v);
    REQUIRE(round_even(v) == static_cast<int>(std::nearbyint(v)));
    REQUIRE(round_away(v) == static_cast<int>(std::round(v)));
  }
}

TEST_CASE("Q4_K quantizer: the 4-float (baseline) and 8-float (AVX2) searches write the same bytes") {
  if (!cpu::cpu_has_avx2()) {
    MESSAGE("no AVX2: only the 4-float search runs here");
    return;
  }
  std::mt19937 rng(11);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  const size_t n = 16 * kQKK;
  std::vector<float> x(n);
  std::vector<BlockQ4_K> a(n / kQKK), b(n / kQKK), row(n / kQKK);
  for (int trial = 0; trial < 40; ++trial) {
    CAPTURE(trial);
    const float scale = std::ldexp(1.0f, static_cast<int>(rng() % 60) - 30);  // 2^-30 .. 2^29
    for (size_t i = 0; i < n; ++i) {
      switch (trial % 5) {
        case 0: x[i] = gauss(rng) * scale; break;
        case 1: x[i] = uniform(rng) * scale; break;             // no negative value: min 0
        case 2: x[i] = -uniform(rng) * scale; break;            // no positive value
        case 3: x[i] = i % 97 == 0 ? 1000.0f * scale : gauss(rng) * scale; break;  // outliers
        default: x[i] = (i / 32) % 3 == 0 ? 0.0f : (i / 32) % 3 == 1 ? scale : gauss(rng) * scale; break;  // zero and constant sub-blocks
      }
    }
    q4k::quantize_blocks<4>(x.data(), a.size(), a.data());
    q4k::quantize_blocks_avx2(x.data(), b.size(), b.data());
    quantize_row(DType::q4_k, x.data(), n, row.data());
    REQUIRE(std::memcmp(a.data(), b.data(), a.size() * sizeof(BlockQ4_K)) == 0);
    REQUIRE(std::memcmp(a.data(), row.data(), a.size() * sizeof(BlockQ4_K)) == 0);
  }
  // Non-finite weights: some codes from both, no undefined behaviour (UBSan's float-cast checks).
  x.assign(n, 0.5f);
  x[3] = NAN;
  x[300] = INFINITY;
  x[700] = -INFINITY;
  CHECK_NOTHROW(q4k::quantize_blocks<4>(x.data(), a.size(), a.data()));
  CHECK_NOTHROW(q4k::quantize_blocks_avx2(x.data(), b.size(), b.data()));
}

TEST_CASE("non-finite weights give some codes in every format, never undefined behaviour") {
  // The big matrices are not scanned for NaN at load (a corrupt checkpoint); UBSan (the CI's
  // sanitizer build) fails this test on any float-to-int conversion of a NaN or an infinity.
  for (DType t : {DType::q8_0, DType::q4_0, DType::q4_k, DType::q2_0}) {
    CAPTURE(dtype_name(t));
    for (int pattern = 0; pattern < 4; ++pattern) {
      std::vector<float> x(512, 0.25f);
      if (pattern == 0) x[5] = NAN;
      if (pattern == 1) x[40] = INFINITY;
      if (pattern == 2) x[300] = -INFINITY;
      if (pattern == 3) std::fill(x.begin(), x.begin() + 256, NAN);
      std::vector<uint8_t> out(dtype_row_bytes(t, x.size()));
      CHECK_NOTHROW(quantize_row(t, x.data(), x.size(), out.data()));
    }
  }
  // Finite blocks beside them are unaffected: the same bytes as quantized alone.
  for (DType t : {DType::q8_0, DType::q4_0, DType::q4_k}) {
    CAPTURE(dtype_name(t));
    std::vector<float> x(512);
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i));
    std::vector<uint8_t> alone(dtype_row_bytes(t, 256)), both(dtype_row_bytes(t, 512));
    quantize_row(t, x.data() + 256, 256, alone.data());
    x[3] = NAN;
    quantize_row(t, x.data(), 512, both.data());
    CHECK(std::memcmp(both.data() + alone.size(), alone.data(), alone.size()) == 0);
  }
}
