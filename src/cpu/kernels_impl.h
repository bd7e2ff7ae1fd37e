// src/cpu/kernels_impl.h - CPU kernels written once as templates over an xsimd architecture.
// Included only by the per-ISA translation units, each compiled with its own -m flags.
#pragma once

#include "kernels.h"

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cstring>

namespace zaya::cpu {

template <class Arch>
struct Kernels {
  using F = xsimd::batch<float, Arch>;
  using U = xsimd::batch<uint32_t, Arch>;
  static constexpr size_t L = F::size;

  static float dot(const float* a, const float* b, size_t n) {
    F acc0(0.0f), acc1(0.0f);
    size_t k = 0;
    for (; k + 2 * L <= n; k += 2 * L) {
      acc0 = xsimd::fma(F::load_unaligned(a + k), F::load_unaligned(b + k), acc0);
      acc1 = xsimd::fma(F::load_unaligned(a + k + L), F::load_unaligned(b + k + L), acc1);
    }
    for (; k + L <= n; k += L) acc0 = xsimd::fma(F::load_unaligned(a + k), F::load_unaligned(b + k), acc0);
    float s = xsimd::hadd(acc0 + acc1);
    for (; k < n; ++k) s += a[k] * b[k];
    return s;
  }

  static float stream_sum(const float* a, size_t n) {
    F s0(0.0f), s1(0.0f), s2(0.0f), s3(0.0f);
    size_t k = 0;
    for (; k + 4 * L <= n; k += 4 * L) {
      s0 += F::load_unaligned(a + k);
      s1 += F::load_unaligned(a + k + L);
      s2 += F::load_unaligned(a + k + 2 * L);
      s3 += F::load_unaligned(a + k + 3 * L);
    }
    float s = xsimd::hadd((s0 + s1) + (s2 + s3));
    for (; k < n; ++k) s += a[k];
    return s;
  }

  // Register tile: RW weight rows x RX activation rows, RW * RX accumulators.
  template <int RW, int RX>
  static void tile_f32(const float* w, size_t cols, const float* x, size_t ldx, float* y, size_t ldy) {
    F acc[RW][RX];
    for (int a = 0; a < RW; ++a)
      for (int b = 0; b < RX; ++b) acc[a][b] = F(0.0f);
    const size_t vec_end = cols / L * L;
    for (size_t k = 0; k < vec_end; k += L) {
      F xv[RX];
      for (int b = 0; b < RX; ++b) xv[b] = F::load_unaligned(x + static_cast<size_t>(b) * ldx + k);
      for (int a = 0; a < RW; ++a) {
        F wv = F::load_unaligned(w + static_cast<size_t>(a) * cols + k);
        for (int b = 0; b < RX; ++b) acc[a][b] = xsimd::fma(wv, xv[b], acc[a][b]);
      }
    }
    for (int a = 0; a < RW; ++a) {
      for (int b = 0; b < RX; ++b) {
        float s = xsimd::hadd(acc[a][b]);
        const float* wr = w + static_cast<size_t>(a) * cols;
        const float* xr = x + static_cast<size_t>(b) * ldx;
        for (size_t k = vec_end; k < cols; ++k) s += wr[k] * xr[k];
        y[static_cast<size_t>(b) * ldy + static_cast<size_t>(a)] = s;
      }
    }
  }

  template <int RW, int RX>
  static void tile_bf16(const uint16_t* w, size_t cols, const float* xp, size_t ldx, float* y, size_t ldy) {
    F acc[RW][RX];
    for (int a = 0; a < RW; ++a)
      for (int b = 0; b < RX; ++b) acc[a][b] = F(0.0f);
    const size_t block = 2 * L;
    const size_t vec_end = cols / block * block;
    const U high_mask(0xFFFF0000u);
    for (size_t k = 0; k < vec_end; k += block) {
      F xe[RX], xo[RX];
      for (int b = 0; b < RX; ++b) {
        xe[b] = F::load_unaligned(xp + static_cast<size_t>(b) * ldx + k);
        xo[b] = F::load_unaligned(xp + static_cast<size_t>(b) * ldx + k + L);
      }
      for (int a = 0; a < RW; ++a) {
        U pair;
        pair = U::load_unaligned(reinterpret_cast<const uint32_t*>(w + static_cast<size_t>(a) * cols + k));
        F we = xsimd::bitwise_cast<F>(pair << 16);
        F wo = xsimd::bitwise_cast<F>(pair & high_mask);
        for (int b = 0; b < RX; ++b) {
          acc[a][b] = xsimd::fma(we, xe[b], acc[a][b]);
          acc[a][b] = xsimd::fma(wo, xo[b], acc[a][b]);
        }
      }
    }
    for (int a = 0; a < RW; ++a) {
      for (int b = 0; b < RX; ++b) {
        float s = xsimd::hadd(acc[a][b]);
        const uint16_t* wr = w + static_cast<size_t>(a) * cols;
        const float* xr = xp + static_cast<size_t>(b) * ldx;
        for (size_t k = vec_end; k < cols; ++k) {
          uint32_t bits = static_cast<uint32_t>(wr[k]) << 16;
          float wf;
          std::memcpy(&wf, &bits, 4);
          s += wf * xr[k];
        }
        y[static_cast<size_t>(b) * ldy + static_cast<size_t>(a)] = s;
      }
    }
  }

  // Walks output rows in groups of 4 and activation rows in groups of 4 (remainders with
  // smaller tiles). Activation rows are processed in chunks that stay in L2 while a thread
  // streams its slice of W once per chunk.
  template <typename WT, typename Tile>
  static void matmul_rows(const WT* w, const float* x, size_t ldx, size_t n, size_t cols, float* y, size_t ldy,
                          size_t r_begin, size_t r_end, Tile&& tile) {
    const size_t chunk = std::max<size_t>(4, (size_t(256) << 10) / (cols * sizeof(float) + 1) / 4 * 4);
    for (size_t i0 = 0; i0 < n; i0 += chunk) {
      const size_t i1 = std::min(n, i0 + chunk);
      size_t r = r_begin;
      auto run_rows = [&](auto rw_tag, size_t row) {
        constexpr int RW = decltype(rw_tag)::value;
        size_t i = i0;
        const WT* wr = w + row * cols;
        for (; i + 4 <= i1; i += 4) tile.template operator()<RW, 4>(wr, x + i * ldx, y + i * ldy + row);
        switch (i1 - i) {
          case 3: tile.template operator()<RW, 3>(wr, x + i * ldx, y + i * ldy + row); break;
          case 2: tile.template operator()<RW, 2>(wr, x + i * ldx, y + i * ldy + row); break;
          case 1: tile.template operator()<RW, 1>(wr, x + i * ldx, y + i * ldy + row); break;
          default: break;
        }
      };
      for (; r + 4 <= r_end; r += 4) run_rows(std::integral_constant<int, 4>{}, r);
      for (; r < r_end; ++r) run_rows(std::integral_constant<int, 1>{}, r);
    }
    (void)ldy;
  }

  static void matmul_f32(const float* w, const float* x, size_t ldx, size_t n, size_t cols, float* y, size_t ldy,
                         size_t r_begin, size_t r_end) {
    auto tile = [&]<int RW, int RX>(const float* wr, const float* xr, float* yr) {
      tile_f32<RW, RX>(wr, cols, xr, ldx, yr, ldy);
    };
    matmul_rows(w, x, ldx, n, cols, y, ldy, r_begin, r_end, tile);
  }

  static void matmul_bf16(const uint16_t* w, const float* xp, size_t ldx, size_t n, size_t cols, float* y,
                          size_t ldy, size_t r_begin, size_t r_end) {
    auto tile = [&]<int RW, int RX>(const uint16_t* wr, const float* xr, float* yr) {
      tile_bf16<RW, RX>(wr, cols, xr, ldx, yr, ldy);
    };
    matmul_rows(w, xp, ldx, n, cols, y, ldy, r_begin, r_end, tile);
  }

  static void permute_for_bf16(const float* x, size_t ldx, size_t n, size_t cols, float* out, size_t ldo) {
    const size_t block = 2 * L;
    const size_t vec_end = cols / block * block;
    for (size_t i = 0; i < n; ++i) {
      const float* xr = x + i * ldx;
      float* orow = out + i * ldo;
      for (size_t k = 0; k < vec_end; k += block)
        for (size_t j = 0; j < L; ++j) {
          orow[k + j] = xr[k + 2 * j];
          orow[k + L + j] = xr[k + 2 * j + 1];
        }
      for (size_t k = vec_end; k < cols; ++k) orow[k] = xr[k];
    }
  }

  static KernelTable table(const char* name) {
    KernelTable t;
    t.isa = name;
    t.lanes = L;
    t.matmul_f32 = &matmul_f32;
    t.matmul_bf16 = &matmul_bf16;
    t.permute_for_bf16 = &permute_for_bf16;
    t.dot = &dot;
    t.stream_sum = &stream_sum;
    return t;
  }
};

}  // namespace zaya::cpu
