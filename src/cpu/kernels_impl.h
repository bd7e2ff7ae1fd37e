// src/cpu/kernels_impl.h - CPU kernels written once as templates over an xsimd architecture.
// Included only by the per-ISA translation units, each compiled with its own -m flags.
#pragma once

#include "kernels.h"

#include <zaya/backend.h>
#include <zaya/quant.h>

#include <xsimd/xsimd.hpp>

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

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

// Integer building blocks of the portable quantized kernels, one specialization per x86 ISA
// this header is compiled for. A Blk holds one 32-element block as int16 codes in registers
// (4 x SSE2, 2 x AVX2, 1 x AVX-512BW); madd multiplies two blocks and sums pairs into int32
// lanes (pmaddwd) reduced to one register of the float width, so the block's integer sum is
// spread over the lanes and needs no horizontal add until the end of the row.
template <class Arch>
struct IntOps;

#if defined(__AVX512BW__)
template <>
struct IntOps<xsimd::avx512bw> {
  struct Blk { __m512i v; };
  static Blk widen_s8(const int8_t* p) { return {_mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)))}; }
  static Blk widen_u8(__m256i bytes) { return {_mm512_cvtepu8_epi16(bytes)}; }
  // Q4_0: 16 bytes of nibbles -> q - 8 for elements 0..31.
  static Blk q4_0(const uint8_t* p) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i m = _mm_set1_epi8(15);
    const __m256i lohi = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(v, m)),
                                                 _mm_and_si128(_mm_srli_epi16(v, 4), m), 1);
    return {_mm512_sub_epi16(_mm512_cvtepu8_epi16(lohi), _mm512_set1_epi16(8))};
  }
  // Q4_K: 32 bytes -> sub-block of the low nibbles and of the high nibbles.
  static void q4_k(const uint8_t* p, Blk& lo, Blk& hi) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const __m256i m = _mm256_set1_epi8(15);
    lo = widen_u8(_mm256_and_si256(v, m));
    hi = widen_u8(_mm256_and_si256(_mm256_srli_epi16(v, 4), m));
  }
  static __m512 madd_f(const Blk& a, const Blk& b) { return _mm512_cvtepi32_ps(_mm512_madd_epi16(a.v, b.v)); }
};
#endif

#if defined(__AVX2__)
template <>
struct IntOps<xsimd::fma3<xsimd::avx2>> {
  struct Blk { __m256i v[2]; };
  static Blk widen_s8(const int8_t* p) {
    return {{_mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))),
             _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)))}};
  }
  static Blk q4_0(const uint8_t* p) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i m = _mm_set1_epi8(15);
    const __m256i eight = _mm256_set1_epi16(8);
    return {{_mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_and_si128(v, m)), eight),
             _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(v, 4), m)), eight)}};
  }
  static void q4_k(const uint8_t* p, Blk& lo, Blk& hi) {
    const __m128i m = _mm_set1_epi8(15);
    for (int h = 0; h < 2; ++h) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * h));
      lo.v[h] = _mm256_cvtepu8_epi16(_mm_and_si128(v, m));
      hi.v[h] = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(v, 4), m));
    }
  }
  static __m256 madd_f(const Blk& a, const Blk& b) {
    return _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_madd_epi16(a.v[0], b.v[0]), _mm256_madd_epi16(a.v[1], b.v[1])));
  }
};
#endif

template <>
struct IntOps<xsimd::sse2> {
  struct Blk { __m128i v[4]; };
  static __m128i sx_lo(__m128i x) { return _mm_srai_epi16(_mm_unpacklo_epi8(x, x), 8); }
  static __m128i sx_hi(__m128i x) { return _mm_srai_epi16(_mm_unpackhi_epi8(x, x), 8); }
  static Blk widen_s8(const int8_t* p) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16));
    return {{sx_lo(a), sx_hi(a), sx_lo(b), sx_hi(b)}};
  }
  static Blk q4_0(const uint8_t* p) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i m = _mm_set1_epi8(15), z = _mm_setzero_si128(), eight = _mm_set1_epi16(8);
    const __m128i lo = _mm_and_si128(v, m), hi = _mm_and_si128(_mm_srli_epi16(v, 4), m);
    return {{_mm_sub_epi16(_mm_unpacklo_epi8(lo, z), eight), _mm_sub_epi16(_mm_unpackhi_epi8(lo, z), eight),
             _mm_sub_epi16(_mm_unpacklo_epi8(hi, z), eight), _mm_sub_epi16(_mm_unpackhi_epi8(hi, z), eight)}};
  }
  static void q4_k(const uint8_t* p, Blk& lo, Blk& hi) {
    const __m128i m = _mm_set1_epi8(15), z = _mm_setzero_si128();
    for (int h = 0; h < 2; ++h) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * h));
      const __m128i l = _mm_and_si128(v, m), u = _mm_and_si128(_mm_srli_epi16(v, 4), m);
      lo.v[2 * h] = _mm_unpacklo_epi8(l, z);
      lo.v[2 * h + 1] = _mm_unpackhi_epi8(l, z);
      hi.v[2 * h] = _mm_unpacklo_epi8(u, z);
      hi.v[2 * h + 1] = _mm_unpackhi_epi8(u, z);
    }
  }
  static __m128 madd_f(const Blk& a, const Blk& b) {
    const __m128i s01 = _mm_add_epi32(_mm_madd_epi16(a.v[0], b.v[0]), _mm_madd_epi16(a.v[1], b.v[1]));
    const __m128i s23 = _mm_add_epi32(_mm_madd_epi16(a.v[2], b.v[2]), _mm_madd_epi16(a.v[3], b.v[3]));
    return _mm_cvtepi32_ps(_mm_add_epi32(s01, s23));
  }
};

// Loads of cached keys and values (zaya/backend.h): f32 as stored, or f16 widened with vcvtph2ps
// (AVX-512F; F16C, which the AVX2 table is compiled with); SSE2 has no conversion instruction.
template <class Arch>
struct CacheLoad {
  using F = xsimd::batch<float, Arch>;
  static F load(const float* p) { return F::load_unaligned(p); }
  static F load(const uint16_t* p) {
    if constexpr (std::is_same_v<Arch, xsimd::sse2>) {
      alignas(16) float f[F::size];
      for (size_t i = 0; i < F::size; ++i) f[i] = f16_to_f32(p[i]);
      return F::load_aligned(f);
    } else if constexpr (F::size == 8) {
      return F(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
    } else {
      return F(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))));
    }
  }
  static float scalar(float x) { return x; }
  static float scalar(uint16_t h) { return f16_to_f32(h); }
};

// Pointers to the codes, scales and sums of RX consecutive ActQ8 activation rows (zaya/quant.h);
// shared by the portable kernels below and the VNNI ones (kernels_avx512vnni.cpp).
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

  // ---- attention (see KernelTable::attend) ----
  // Scores of NH query vectors (q[a * d + i]) against the NV * L positions t .. of one kv head's
  // transposed key blocks (kt: its first block, zaya/backend.h): positions sit in the lanes, so
  // every key vector meets a broadcast query element and no horizontal sums are needed.
  template <int NH, int NV, typename T>
  static void score_tile(const float* q, size_t d, const T* kt, size_t t, float scale, float* s, size_t lds) {
    constexpr size_t B = kv_key_block;
    static_assert(B % L == 0, "a key block is whole vectors");
    const T* kp[NV];
    for (int j = 0; j < NV; ++j) kp[j] = kt + kv_key_index(0, d, 0, t + static_cast<size_t>(j) * L, 0);
    F acc[NH][NV];
    for (int a = 0; a < NH; ++a)
      for (int j = 0; j < NV; ++j) acc[a][j] = F(0.0f);
    // Each key vector's line two blocks ahead is prefetched: the hardware prefetcher alone left
    // the f16 kernel 17% slower from DRAM (bench_kernels BENCH_ATTENTION=600: 27 -> 22.5 us per
    // call; f32 38-41 -> 38 us; one and three blocks ahead measured between).
    constexpr size_t ahead = 2 * B;
    for (size_t i = 0; i < d; ++i) {
      F kv[NV];
      for (int j = 0; j < NV; ++j) __builtin_prefetch(kp[j] + i * B + ahead * d);
      for (int j = 0; j < NV; ++j) kv[j] = CacheLoad<Arch>::load(kp[j] + i * B);
      for (int a = 0; a < NH; ++a) {
        const F qa(q[static_cast<size_t>(a) * d + i]);
        for (int j = 0; j < NV; ++j) acc[a][j] = xsimd::fma(qa, kv[j], acc[a][j]);
      }
    }
    const F sv(scale);
    for (int a = 0; a < NH; ++a)
      for (int j = 0; j < NV; ++j) (acc[a][j] * sv).store_unaligned(s + static_cast<size_t>(a) * lds + t + static_cast<size_t>(j) * L);
  }

  // Adds sum_t p[a * lenp + t] * v[t * ld + j * L ..] over t < tn to out[a * d + j * L ..] (or
  // starts from zero when first) for NH heads and NV vectors of the value rows; when last, the
  // sums are multiplied by inv[a].
  template <int NH, int NV, typename T>
  static void value_tile(const float* p, size_t lenp, size_t tn, const T* v, size_t ld, const float* inv, float* out,
                         size_t d, bool first, bool last) {
    F acc[NH][NV];
    for (int a = 0; a < NH; ++a)
      for (int j = 0; j < NV; ++j)
        acc[a][j] = first ? F(0.0f) : F::load_unaligned(out + static_cast<size_t>(a) * d + static_cast<size_t>(j) * L);
    for (size_t t = 0; t < tn; ++t) {
      F vv[NV];
      for (int j = 0; j < NV; ++j) vv[j] = CacheLoad<Arch>::load(v + t * ld + static_cast<size_t>(j) * L);
      for (int a = 0; a < NH; ++a) {
        const F pa(p[static_cast<size_t>(a) * lenp + t]);
        for (int j = 0; j < NV; ++j) acc[a][j] = xsimd::fma(pa, vv[j], acc[a][j]);
      }
    }
    for (int a = 0; a < NH; ++a)
      for (int j = 0; j < NV; ++j) {
        if (last) acc[a][j] = acc[a][j] * F(inv[a]);
        acc[a][j].store_unaligned(out + static_cast<size_t>(a) * d + static_cast<size_t>(j) * L);
      }
  }

  template <typename T>
  static void attend(const float* q, size_t kv_heads, size_t group, size_t d, const T* keys, const T* values,
                     size_t head_stride, size_t len, float scale, float* scores, float* out) {
    // Register budgets: 32 vector registers with AVX-512, 16 below it.
    constexpr int VV = L >= 16 ? 8 : 4;  // value vectors per tile (x 2 heads)
    const size_t heads = kv_heads * group;
    // Scores in rows of lds: whole vectors of positions, the lanes past len unused.
    const size_t lds = (len + L - 1) / L * L;
    for (size_t kvh = 0; kvh < kv_heads; ++kvh) {
      const T* kt = keys + kvh * head_stride;
      auto score_heads = [&]<int NV>(size_t t) {
        for (size_t g0 = 0; g0 < group; g0 += 4) {
          const size_t h0 = kvh * group + g0;
          const float* qh = q + h0 * d;
          float* sh = scores + h0 * lds;
          switch (std::min<size_t>(4, group - g0)) {
            case 4: score_tile<4, NV, T>(qh, d, kt, t, scale, sh, lds); break;
            case 3: score_tile<3, NV, T>(qh, d, kt, t, scale, sh, lds); break;
            case 2: score_tile<2, NV, T>(qh, d, kt, t, scale, sh, lds); break;
            default: score_tile<1, NV, T>(qh, d, kt, t, scale, sh, lds); break;
          }
        }
      };
      size_t t = 0;
      for (; t + 2 * L <= lds; t += 2 * L) score_heads.template operator()<2>(t);
      if (t < lds) score_heads.template operator()<1>(t);
    }
    // Softmax numerators in place; inv[h] = 1 / sum (the division is applied to the output).
    float inv_store[64];
    std::vector<float> inv_heap;
    float* inv = inv_store;
    if (heads > 64) {
      inv_heap.resize(heads);
      inv = inv_heap.data();
    }
    for (size_t h = 0; h < heads; ++h) {
      float* sc = scores + h * lds;
      const size_t vec_end = len / L * L;
      F m(-INFINITY);
      for (size_t k = 0; k < vec_end; k += L) m = xsimd::max(m, F::load_unaligned(sc + k));
      alignas(64) float lanes[L];
      m.store_aligned(lanes);
      float mx = *std::max_element(lanes, lanes + L);
      for (size_t k = vec_end; k < len; ++k) mx = std::max(mx, sc[k]);
      F sum(0.0f);
      const F mv(mx);
      for (size_t k = 0; k < vec_end; k += L) {
        const F e = xsimd::exp(F::load_unaligned(sc + k) - mv);
        e.store_unaligned(sc + k);
        sum += e;
      }
      double total = xsimd::hadd(sum);
      for (size_t k = vec_end; k < len; ++k) {
        sc[k] = std::exp(sc[k] - mx);
        total += sc[k];
      }
      inv[h] = static_cast<float>(1.0 / total);
    }
    // Weighted values, per kv head in blocks of positions (a block's value rows are re-read from
    // L1 by the next pair of heads; the outputs are re-read between blocks).
    constexpr size_t TB = 64;
    for (size_t kvh = 0; kvh < kv_heads; ++kvh)
      for (size_t t0 = 0; t0 < len; t0 += TB) {
        const size_t tn = std::min(TB, len - t0);
        const bool first = t0 == 0, last = t0 + tn == len;
        for (size_t g0 = 0; g0 < group; g0 += 2) {
          const size_t h0 = kvh * group + g0;
          auto value_rows = [&]<int NH>() {
            const float* ph = scores + h0 * lds + t0;
            const T* vh = values + kvh * head_stride + t0 * d;
            float* oh = out + h0 * d;
            size_t i = 0;
            for (; i + VV * L <= d; i += VV * L) value_tile<NH, VV, T>(ph, lds, tn, vh + i, d, inv + h0, oh + i, d, first, last);
            for (; i + L <= d; i += L) value_tile<NH, 1, T>(ph, lds, tn, vh + i, d, inv + h0, oh + i, d, first, last);
            for (; i < d; ++i)  // a head size that is not whole vectors
              for (int a = 0; a < NH; ++a) {
                float acc = first ? 0.0f : oh[static_cast<size_t>(a) * d + i];
                for (size_t k = 0; k < tn; ++k) acc += ph[static_cast<size_t>(a) * lds + k] * CacheLoad<Arch>::scalar(vh[k * d + i]);
                oh[static_cast<size_t>(a) * d + i] = last ? acc * inv[h0 + static_cast<size_t>(a)] : acc;
              }
          };
          if (group - g0 >= 2) {
            value_rows.template operator()<2>();
          } else {
            value_rows.template operator()<1>();
          }
        }
      }
  }

  static void swiglu(const float* gate, const float* up, float* out, size_t n) {
    size_t j = 0;
    const F one(1.0f);
    for (; j + L <= n; j += L) {
      const F g = F::load_unaligned(gate + j);
      (g / (one + xsimd::exp(-g)) * F::load_unaligned(up + j)).store_unaligned(out + j);
    }
    for (; j < n; ++j) out[j] = gate[j] / (1.0f + std::exp(-gate[j])) * up[j];
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

  // out[j] = lane sum of rows[j] for the L vectors, through one transposing tree (haddp) instead
  // of a reduction per vector. xsimd 8.1's AVX-512 haddp puts sums 2-5 and 10-13 in each
  // other's places (checked against hadd), so 16-lane vectors are folded to 8 lanes first and
  // go through the AVX2 one, twice.
  static void lane_sums(const F (&rows)[L], float* out) {
    if constexpr (L == 16) {
      // Dependent on Arch, so that the SSE2 and AVX2 instantiations never name an AVX2 batch.
      using Half = xsimd::batch<float, std::conditional_t<L == 16, xsimd::avx2, Arch>>;
      for (int h = 0; h < 2; ++h) {
        Half folded[8];
        for (int j = 0; j < 8; ++j) {
          const __m512 v = rows[8 * h + j];
          folded[j] = Half(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
        }
        xsimd::haddp(folded).store_unaligned(out + 8 * h);
      }
    } else {
      xsimd::haddp(rows).store_unaligned(out);
    }
  }

  // y[b * ldy + a] = tail(a, b, lane sum of acc[a][b]) for a register tile's accumulators, L at a
  // time through lane_sums. With short rows the separate reductions cost more than the loop
  // (bench_kernels, a 128 x 256 bf16 matrix at n = 16, one thread: see the commit). Every sum is
  // added in the same order whatever its place in the tile (the unused places are zero vectors),
  // so a row's result does not depend on the tile shape.
  template <int RW, int RX, typename Tail>
  static void store_sums(const F (&acc)[RW][RX], float* y, size_t ldy, Tail&& tail) {
    constexpr int N = RW * RX, NL = static_cast<int>(L);
    float sums[(N + NL - 1) / NL * NL];
    for (int base = 0; base < N; base += NL) {
      F rows[L];
      for (int j = 0; j < NL; ++j) rows[j] = base + j < N ? acc[(base + j) / RX][(base + j) % RX] : F(0.0f);
      lane_sums(rows, sums + base);
    }
    for (int a = 0; a < RW; ++a)
      for (int b = 0; b < RX; ++b) y[static_cast<size_t>(b) * ldy + static_cast<size_t>(a)] = tail(a, b, sums[a * RX + b]);
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
    store_sums(acc, y, ldy, [&](int a, int b, float s) {
      const float* wr = w + static_cast<size_t>(a) * cols;
      const float* xr = x + static_cast<size_t>(b) * ldx;
      for (size_t k = vec_end; k < cols; ++k) s += wr[k] * xr[k];
      return s;
    });
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
    store_sums(acc, y, ldy, [&](int a, int b, float s) {
      const uint16_t* wr = w + static_cast<size_t>(a) * cols;
      const float* xr = xp + static_cast<size_t>(b) * ldx;
      for (size_t k = vec_end; k < cols; ++k) {
        uint32_t bits = static_cast<uint32_t>(wr[k]) << 16;
        float wf;
        std::memcpy(&wf, &bits, 4);
        s += wf * xr[k];
      }
      return s;
    });
  }

  // Walks output rows in groups of 4 (8 for a single activation row) and activation rows in
  // groups of 4 (remainders with smaller tiles). Activation rows are processed in chunks that
  // stay in L2 while a thread streams its slice of W once per chunk.
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
      // A matvec (decode at batch 1) streams 8 weight rows at once: bench_kernels, bf16 n = 1, one
      // thread from DRAM, 15.5-17.8 GB/s with 4 rows against 19.0-20.1 with 8 (16: no better).
      // Each row's sums are the same operations in the same order whatever the tile height.
      if (i1 - i0 == 1)
        for (; r + 8 <= r_end; r += 8) run_rows(std::integral_constant<int, 8>{}, r);
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
  // Weight blocks (RW rows) and activation blocks (RX rows) are widened to int16 codes in
  // registers (IntOps; never a whole matrix in memory), each pair meets in pmaddwd, and the
  // int32 lanes are scaled per block and accumulated in f32 lanes, summed once per output.

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

  static void quantize_activations(const float* x, size_t ldx, size_t n, size_t cols, void* xq) {
    const size_t row = actq8::row_bytes(cols);
    for (size_t i = 0; i < n; ++i) quantize_activation_row(x + i * ldx, cols, static_cast<uint8_t*>(xq) + i * row);
  }

  template <int RW, int RX>
  static void store_tile(const float (&acc)[RW][RX], float* y, size_t ldy) {
    for (int a = 0; a < RW; ++a)
      for (int b = 0; b < RX; ++b) y[static_cast<size_t>(b) * ldy + static_cast<size_t>(a)] = acc[a][b];
  }
  template <int RW, int RX>
  static void store_tile(const F (&acc)[RW][RX], float* y, size_t ldy) {
    for (int a = 0; a < RW; ++a)
      for (int b = 0; b < RX; ++b) y[static_cast<size_t>(b) * ldy + static_cast<size_t>(a)] = xsimd::hadd(acc[a][b]);
  }

  // Q8_0 and Q4_0 (Q4_0's codes become q - 8): per block, RW weight blocks and RX activation
  // blocks as int16 registers, RW x RX pmaddwd products scaled by d_w * d_x into f32 lanes.
  // Q2_0 (the shortlist's approximation, portable path only): codes expanded to 2q - 3 in scalar.
  template <DType T, int RW, int RX>
  static void tile_q32(const uint8_t* w, size_t w_row, const uint8_t* xq, size_t cols, float* y, size_t ldy) {
    using Ops = IntOps<Arch>;
    constexpr size_t bb = dtype_block_bytes(T);
    const ActRows<RX> x(xq, cols);
    F acc[RW][RX];
    for (int a = 0; a < RW; ++a)
      for (int b = 0; b < RX; ++b) acc[a][b] = F(0.0f);
    const size_t nb = cols / kQK;
    for (size_t blk = 0; blk < nb; ++blk) {
      typename Ops::Blk wv[RW];
      float wd[RW];
      for (int a = 0; a < RW; ++a) {
        const uint8_t* p = w + static_cast<size_t>(a) * w_row + blk * bb;
        uint16_t dh;
        std::memcpy(&dh, p, 2);
        wd[a] = half_to_float(dh);
        if constexpr (T == DType::q8_0) {
          wv[a] = Ops::widen_s8(reinterpret_cast<const int8_t*>(p + 2));
        } else if constexpr (T == DType::q2_0) {
          int8_t v[kQK];
          for (size_t k = 0; k < kQK; ++k) v[k] = static_cast<int8_t>(q2_0_level(p + 2, k));
          wv[a] = Ops::widen_s8(v);
        } else {
          wv[a] = Ops::q4_0(p + 2);
        }
      }
      for (int b = 0; b < RX; ++b) {
        const typename Ops::Blk xv = Ops::widen_s8(x.q[b] + blk * kQK);
        const float dx = x.d[b][blk];
        for (int a = 0; a < RW; ++a) acc[a][b] = xsimd::fma(F(Ops::madd_f(wv[a], xv)), F(wd[a] * dx), acc[a][b]);
      }
    }
    store_tile<RW, RX>(acc, y, ldy);
  }

  // Q4_K: per 256-weight super-block the RW rows' 8 scales and mins; per 64-weight chunk the
  // two sub-blocks' nibbles as int16 registers. Sub-block j adds dx_j * (d sc_j) * sum(q x);
  // the mins term -(dmin m_j) * s_j is added in scalar once per super-block.
  template <int RW, int RX>
  static void tile_q4k(const uint8_t* w, size_t w_row, const uint8_t* xq, size_t cols, float* y, size_t ldy) {
    using Ops = IntOps<Arch>;
    const ActRows<RX> x(xq, cols);
    F acc[RW][RX];
    float mins[RW][RX] = {};
    for (int a = 0; a < RW; ++a)
      for (int b = 0; b < RX; ++b) acc[a][b] = F(0.0f);
    float wsc[RW][8], wmin[RW][8];
    const size_t nb = cols / kQKK;
    for (size_t blk = 0; blk < nb; ++blk) {
      const uint8_t* wb[RW];
      for (int a = 0; a < RW; ++a) {
        wb[a] = w + static_cast<size_t>(a) * w_row + blk * sizeof(BlockQ4_K);
        uint16_t dh[2];
        std::memcpy(dh, wb[a], 4);
        const float d = half_to_float(dh[0]), dmin = half_to_float(dh[1]);
        for (int j = 0; j < 8; ++j) {
          uint8_t sc, m;
          q4k_scale_min(j, wb[a] + 4, sc, m);
          wsc[a][j] = d * static_cast<float>(sc);
          wmin[a][j] = dmin * static_cast<float>(m);
        }
      }
      for (int b = 0; b < RX; ++b) {
        const float* sx = x.s[b] + blk * 8;
        for (int a = 0; a < RW; ++a)
          for (int j = 0; j < 8; ++j) mins[a][b] += wmin[a][j] * sx[j];
      }
      for (int c = 0; c < 4; ++c) {
        typename Ops::Blk lo[RW], hi[RW];
        for (int a = 0; a < RW; ++a) Ops::q4_k(wb[a] + 16 + 32 * c, lo[a], hi[a]);
        for (int b = 0; b < RX; ++b) {
          const size_t e = blk * kQKK + 64 * static_cast<size_t>(c);
          const typename Ops::Blk x0 = Ops::widen_s8(x.q[b] + e), x1 = Ops::widen_s8(x.q[b] + e + 32);
          const float d0 = x.d[b][e / kQK], d1 = x.d[b][e / kQK + 1];
          for (int a = 0; a < RW; ++a) {
            acc[a][b] = xsimd::fma(F(Ops::madd_f(lo[a], x0)), F(wsc[a][2 * c] * d0), acc[a][b]);
            acc[a][b] = xsimd::fma(F(Ops::madd_f(hi[a], x1)), F(wsc[a][2 * c + 1] * d1), acc[a][b]);
          }
        }
      }
    }
    float out[RW][RX];
    for (int a = 0; a < RW; ++a)
      for (int b = 0; b < RX; ++b) out[a][b] = xsimd::hadd(acc[a][b]) - mins[a][b];
    store_tile<RW, RX>(out, y, ldy);
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

  // Interleaved weights (portable path): each group of G rows is unpacked to the ggml layout in a
  // per-thread buffer and multiplied as above; rows past the last whole group are plain ggml rows.
  template <DType T>
  static void matmul_quant_interleaved(const void* w, size_t rows, const void* xq, size_t n, size_t cols, float* y,
                                       size_t ldy, size_t r_begin, size_t r_end) {
    constexpr size_t G = 16;  // interleave_rows(T)
    const size_t w_row = dtype_row_bytes(T, cols);
    const size_t whole = rows / G * G;
    const auto* wb = static_cast<const uint8_t*>(w);
    thread_local std::vector<uint8_t> plain;
    thread_local std::vector<float> out;
    plain.resize(G * w_row);
    out.resize(n * G);
    for (size_t g = r_begin / G * G; g < std::min(r_end, whole); g += G) {
      unpack_interleaved(T, wb + g * w_row, G, cols, plain.data());
      matmul_quant<T>(plain.data(), xq, n, cols, out.data(), G, 0, G);
      for (size_t i = 0; i < n; ++i)
        for (size_t r = std::max(g, r_begin); r < std::min(g + G, r_end); ++r) y[i * ldy + r] = out[i * G + r - g];
    }
    if (r_end > whole) matmul_quant<T>(w, xq, n, cols, y, ldy, std::max(r_begin, whole), r_end);
  }

  static KernelTable table(const char* name) {
    KernelTable t;
    t.isa = name;
    t.lanes = L;
    t.matmul_f32 = &matmul_f32;
    t.matmul_bf16 = &matmul_bf16;
    t.permute_for_bf16 = &permute_for_bf16;
    t.dot = &dot;
    t.attend = &attend<float>;
    t.attend_f16 = &attend<uint16_t>;
    t.swiglu = &swiglu;
    t.stream_sum = &stream_sum;
    t.quantize_activations = &quantize_activations;
    t.matmul_q8_0 = &matmul_quant<DType::q8_0>;
    t.matmul_q4_0 = &matmul_quant<DType::q4_0>;
    t.matmul_q4_k = &matmul_quant<DType::q4_k>;
    t.matmul_q2_0 = &matmul_quant<DType::q2_0>;
    t.matmul_q8_0_r16 = &matmul_quant_interleaved<DType::q8_0>;
    t.matmul_q4_0_r16 = &matmul_quant_interleaved<DType::q4_0>;
    t.matmul_q4_k_r16 = &matmul_quant_interleaved<DType::q4_k>;
    t.matmul_q2_0_r16 = &matmul_quant_interleaved<DType::q2_0>;
    return t;
  }
};

}  // namespace zaya::cpu
