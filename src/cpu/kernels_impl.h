// src/cpu/kernels_impl.h - CPU kernels written once as templates over an xsimd architecture.
// Included only by the per-ISA translation units, each compiled with its own -m flags.
#pragma once

#include "kernels.h"

#include <zaya/quant.h>

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace zaya::cpu {

// Walks the output rows [r_begin, r_end) of a block-quantized matmul in register tiles of
// 4 weight rows x 4 activation rows (remainders with 1..3), activation rows in chunks whose
// quantized copy stays in L2 while the thread's slice of W streams once per chunk.
// tile.template operator()<RW, RX>(w_rows, xq_rows, y) computes RW x RX outputs. A template on
// the tile's (per translation unit) lambda type, so each ISA's copy stays its own.
template <typename Tile>
inline void quant_matmul_rows(const void* w, size_t w_row_bytes, const void* xq, size_t n, size_t cols, float* y,
                              size_t ldy, size_t r_begin, size_t r_end, Tile&& tile) {
  const size_t x_row = actq8::row_bytes(cols);
  const size_t chunk = std::max<size_t>(4, (size_t(256) << 10) / x_row / 4 * 4);
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(xq);
  for (size_t i0 = 0; i0 < n; i0 += chunk) {
    const size_t i1 = std::min(n, i0 + chunk);
    auto run_rows = [&](auto rw_tag, size_t row) {
      constexpr int RW = decltype(rw_tag)::value;
      const uint8_t* wr = wb + row * w_row_bytes;
      size_t i = i0;
      for (; i + 4 <= i1; i += 4) tile.template operator()<RW, 4>(wr, xb + i * x_row, y + i * ldy + row);
      switch (i1 - i) {
        case 3: tile.template operator()<RW, 3>(wr, xb + i * x_row, y + i * ldy + row); break;
        case 2: tile.template operator()<RW, 2>(wr, xb + i * x_row, y + i * ldy + row); break;
        case 1: tile.template operator()<RW, 1>(wr, xb + i * x_row, y + i * ldy + row); break;
        default: break;
      }
    };
    size_t r = r_begin;
    for (; r + 4 <= r_end; r += 4) run_rows(std::integral_constant<int, 4>{}, r);
    for (; r < r_end; ++r) run_rows(std::integral_constant<int, 1>{}, r);
  }
}

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

  // ---- block-quantized weights: portable path ----------------------------------------------
  // Weight blocks are unpacked to int8 in a small per-tile scratch (one block of RW rows, in L1;
  // never a whole matrix), then each weight block meets each activation block in a 32-element
  // int8 x int8 -> int32 dot product (plain loops the compiler vectorises for this TU's ISA:
  // pmaddwd on SSE2/AVX2/AVX-512BW), scaled per block and accumulated in f32.

  static float half_to_float(uint16_t h) {
    // Exact for normals, subnormals, inf and NaN: rebias the exponent, fix up the two extremes.
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t em = h & 0x7fffu;
    float f;
    if (em >= 0x7c00u) {  // inf / NaN
      const uint32_t bits = sign | 0x7f800000u | ((em & 0x3ffu) << 13);
      std::memcpy(&f, &bits, 4);
    } else {  // normal or subnormal: (em << 13) reinterpreted is the value / 2^112
      const uint32_t bits = em << 13;
      std::memcpy(&f, &bits, 4);
      f *= 0x1p112f;
      uint32_t out;
      std::memcpy(&out, &f, 4);
      out |= sign;
      std::memcpy(&f, &out, 4);
    }
    return f;
  }

  static int dot32(const int8_t* a, const int8_t* b) {
    int s = 0;
    for (int k = 0; k < 32; ++k) s += static_cast<int16_t>(a[k]) * static_cast<int16_t>(b[k]);
    return s;
  }

  static void quantize_activations(const float* x, size_t ldx, size_t n, size_t cols, void* xq) {
    const size_t row = actq8::row_bytes(cols);
    for (size_t i = 0; i < n; ++i) quantize_activation_row(x + i * ldx, cols, static_cast<uint8_t*>(xq) + i * row);
  }

  template <int RX>
  struct ActRows {
    const int8_t* q[RX];
    const float* d[RX];
    const float* s[RX];
    ActRows(const uint8_t* xq, size_t cols) {
      const size_t row = actq8::row_bytes(cols);
      for (int b = 0; b < RX; ++b) {
        const uint8_t* p = xq + static_cast<size_t>(b) * row;
        q[b] = actq8::qs(p);
        d[b] = actq8::d(p, cols);
        s[b] = actq8::s(p, cols);
      }
    }
  };

  template <int RW, int RX>
  static void store_tile(const float (&acc)[RW][RX], float* y, size_t ldy) {
    for (int a = 0; a < RW; ++a)
      for (int b = 0; b < RX; ++b) y[static_cast<size_t>(b) * ldy + static_cast<size_t>(a)] = acc[a][b];
  }

  // Q8_0 and Q4_0: unpack one 32-weight block of each of the RW rows to signed int8 (Q4_0: q - 8).
  template <DType T, int RW, int RX>
  static void tile_q32(const uint8_t* w, size_t w_row, const uint8_t* xq, size_t cols, float* y, size_t ldy) {
    constexpr size_t bb = T == DType::q8_0 ? sizeof(BlockQ8_0) : sizeof(BlockQ4_0);
    const ActRows<RX> x(xq, cols);
    float acc[RW][RX] = {};
    alignas(64) int8_t wq[RW][32];
    float wd[RW];
    const size_t nb = cols / kQK;
    for (size_t blk = 0; blk < nb; ++blk) {
      for (int a = 0; a < RW; ++a) {
        const uint8_t* p = w + static_cast<size_t>(a) * w_row + blk * bb;
        uint16_t dh;
        std::memcpy(&dh, p, 2);
        wd[a] = half_to_float(dh);
        if constexpr (T == DType::q8_0) {
          std::memcpy(wq[a], p + 2, 32);
        } else {
          for (int k = 0; k < 16; ++k) {
            wq[a][k] = static_cast<int8_t>((p[2 + k] & 15) - 8);
            wq[a][k + 16] = static_cast<int8_t>((p[2 + k] >> 4) - 8);
          }
        }
      }
      for (int b = 0; b < RX; ++b) {
        const int8_t* xb = x.q[b] + blk * kQK;
        const float dx = x.d[b][blk];
        for (int a = 0; a < RW; ++a) acc[a][b] += (wd[a] * dx) * static_cast<float>(dot32(wq[a], xb));
      }
    }
    store_tile<RW, RX>(acc, y, ldy);
  }

  // Q4_K: per 256-weight super-block, the RW rows' nibbles unpacked to 0..15 and their 8 scales
  // and mins; sub-block j contributes dx_j * (d sc_j) * sum(q x) - (dmin m_j) * s_j.
  template <int RW, int RX>
  static void tile_q4k(const uint8_t* w, size_t w_row, const uint8_t* xq, size_t cols, float* y, size_t ldy) {
    const ActRows<RX> x(xq, cols);
    float acc[RW][RX] = {};
    alignas(64) int8_t wq[RW][kQKK];
    float wsc[RW][8], wmin[RW][8];
    const size_t nb = cols / kQKK;
    for (size_t blk = 0; blk < nb; ++blk) {
      for (int a = 0; a < RW; ++a) {
        BlockQ4_K bk;
        std::memcpy(&bk, w + static_cast<size_t>(a) * w_row + blk * sizeof(BlockQ4_K), sizeof bk);
        const float d = half_to_float(bk.d), dmin = half_to_float(bk.dmin);
        for (int j = 0; j < 8; ++j) {
          uint8_t sc, m;
          q4k_scale_min(j, bk.scales, sc, m);
          wsc[a][j] = d * static_cast<float>(sc);
          wmin[a][j] = dmin * static_cast<float>(m);
        }
        for (int c = 0; c < 4; ++c)
          for (int l = 0; l < 32; ++l) {
            wq[a][64 * c + l] = static_cast<int8_t>(bk.qs[32 * c + l] & 15);
            wq[a][64 * c + 32 + l] = static_cast<int8_t>(bk.qs[32 * c + l] >> 4);
          }
      }
      for (int b = 0; b < RX; ++b) {
        const int8_t* xb = x.q[b] + blk * kQKK;
        const float* dx = x.d[b] + blk * 8;
        const float* sx = x.s[b] + blk * 8;
        for (int a = 0; a < RW; ++a) {
          float t = 0.0f;
          for (int j = 0; j < 8; ++j)
            t += dx[j] * wsc[a][j] * static_cast<float>(dot32(wq[a] + 32 * j, xb + 32 * j)) - wmin[a][j] * sx[j];
          acc[a][b] += t;
        }
      }
    }
    store_tile<RW, RX>(acc, y, ldy);
  }

  template <DType T>
  static void matmul_quant(const void* w, const void* xq, size_t n, size_t cols, float* y, size_t ldy, size_t r_begin,
                           size_t r_end) {
    const size_t w_row = dtype_row_bytes(T, cols);
    auto tile = [&]<int RW, int RX>(const uint8_t* wr, const uint8_t* xr, float* yr) {
      if constexpr (T == DType::q4_k) {
        tile_q4k<RW, RX>(wr, w_row, xr, cols, yr, ldy);
      } else {
        tile_q32<T, RW, RX>(wr, w_row, xr, cols, yr, ldy);
      }
    };
    quant_matmul_rows(w, w_row, xq, n, cols, y, ldy, r_begin, r_end, tile);
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
    t.quantize_activations = &quantize_activations;
    t.matmul_q8_0 = &matmul_quant<DType::q8_0>;
    t.matmul_q4_0 = &matmul_quant<DType::q4_0>;
    t.matmul_q4_k = &matmul_quant<DType::q4_k>;
    return t;
  }
};

}  // namespace zaya::cpu
