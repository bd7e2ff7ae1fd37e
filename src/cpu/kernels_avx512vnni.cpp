// src/cpu/kernels_avx512vnni.cpp - AVX-512 VNNI kernels for the block-quantized weights
// (compiled with -mavx512vnni -mavx512bf16 ...; only run when cpu_has_avx512vnni()). The f32
// and bf16 entries are those of the AVX-512 table.
//
// vpdpbusd multiplies unsigned bytes by signed bytes and adds each group of 4 products to an
// int32 lane. A zmm holds 64 elements = two 32-element blocks (Q4_K: two sub-blocks), so lanes
// 0-7 belong to the first block and 8-15 to the second; each block's int32 lanes are converted
// once, multiplied by [d_w * d_x of block 0 (x8) | of block 1 (x8)] and accumulated in f32.
//   Q8_0: signed weights x signed activations: the activation bytes are flipped to x + 128
//         (unsigned) and the lanes start at -128 * sum(w) (one vpdpbusd per weight vector),
//         so every lane is exactly sum(x * w).
//   Q4_0: the nibbles q (0..15) are the unsigned operand; lanes start at -8 * sum(x) (one
//         vpdpbusd per activation vector), so they are exactly sum((q - 8) * x).
//   Q4_K: nibbles x activations directly; the mins term -dmin * m_j * (d_x sum(x))_j is one
//         masked FMA per 256-element super-block.
// Register tiles (walk_rows): 8 weight rows x 1-2 activation rows for decode, else 4 x 4.
// The row-interleaved layout (R16, the arena's copy for the CPU) has kernels of its own below:
// one int32 lane per output row.
#include "kernels.h"
#include "kernels_impl.h"

#include <zaya/quant.h>

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>


namespace zaya::cpu {

namespace {

inline float half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// [a x8 | b x8] from two consecutive floats in memory.
inline __m512 pair_from_floats(const float* p) {
  const __m128 two = _mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  return _mm512_permutexvar_ps(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                               _mm512_castps128_ps512(two));
}

// (Not _mm512_reduce_add_ps: GCC 12 warns inside it about its own undefined operand.)
inline float hsum(__m512 v) {
  const __m512 h = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  const __m256 h8 = _mm512_castps512_ps256(h);
  __m128 h4 = _mm_add_ps(_mm256_castps256_ps128(h8), _mm256_extractf128_ps(h8, 1));
  h4 = _mm_add_ps(h4, _mm_movehl_ps(h4, h4));
  h4 = _mm_add_ss(h4, _mm_movehdup_ps(h4));
  return _mm_cvtss_f32(h4);
}

template <int RW, int RX>
inline void store(__m512 (&acc)[RW][RX], float* y, size_t ldy) {
  for (int a = 0; a < RW; ++a)
    for (int b = 0; b < RX; ++b)
      y[static_cast<size_t>(b) * ldy + static_cast<size_t>(a)] = hsum(acc[a][b]);
}

// ActQ8 rows (zaya/quant.h), the same bytes as quantize_activation_row: per block of 32,
// amax over |x|, d = amax / 127, q = round-half-even(x * (1 / d)) (vcvtps2dq in the default
// rounding mode, as nearbyint), s = d * sum(q).
void quantize_activations(const float* x, size_t ldx, size_t n, size_t cols, void* xq) {
  const size_t row = actq8::row_bytes(cols), nb = cols / kQK;
  for (size_t i = 0; i < n; ++i) {
    const float* xr = x + i * ldx;
    auto* out = static_cast<uint8_t*>(xq) + i * row;
    auto* qs = reinterpret_cast<int8_t*>(out);
    float* d = reinterpret_cast<float*>(out + cols);
    float* s = d + nb;
    for (size_t b = 0; b < nb; ++b) {
      const __m512 v0 = _mm512_loadu_ps(xr + b * kQK), v1 = _mm512_loadu_ps(xr + b * kQK + 16);
      const __m512 a = _mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1));
      __m256 m8 = _mm256_max_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
      __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
      m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
      m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
      const float amax = _mm_cvtss_f32(m4);
      const float db = amax / 127.0f;
      const float id = db != 0.0f ? 1.0f / db : 0.0f;
      const __m512 vid = _mm512_set1_ps(id);
      const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vid));
      const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vid));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + b * kQK), _mm512_cvtsepi32_epi8(q0));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + b * kQK + 16), _mm512_cvtsepi32_epi8(q1));
      d[b] = db;
      s[b] = db * static_cast<float>(_mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1)));
    }
    const size_t used = cols + 8 * nb;
    std::memset(out + used, 0, row - used);
  }
}

// Q8_0 and Q4_0. Blocks are taken in groups of G (Q4_0: 8, Q8_0: 4) whose f16 scales all lie
// in the group's first 128 bytes: one vpermt2w picks them, one vcvtph2ps widens them, and each
// block pair's [d_A | d_B] lanes are one permute away. Both formats use the unsigned operand for
// the weights and start the lanes at -k * sum(x) (k = 128 for Q8_0 weights flipped to w + 128,
// k = 8 for Q4_0 nibbles), computed once per activation vector and shared by all RW rows.
// Q4_0's 64 nibbles of a block pair become [A lo | B lo | A hi | B hi] (128-bit lanes); the
// activation vector is permuted to match instead (once per pair, not per weight row), so the
// int32 lanes are [A x4 | B x4 | A x4 | B x4]. Q8_0 lanes are [A x8 | B x8].
template <bool Q8>
struct Q32 {
  static constexpr size_t BB = Q8 ? sizeof(BlockQ8_0) : sizeof(BlockQ4_0);
  static constexpr size_t G = Q8 ? 4 : 8;
  // Lane -> block-of-the-pair index for pair j of a group.
  static __m512i pair_index(int j) {
    const int a = 2 * j, b = 2 * j + 1;
    if constexpr (Q8) {
      return _mm512_set_epi32(b, b, b, b, b, b, b, b, a, a, a, a, a, a, a, a);
    } else {
      return _mm512_set_epi32(b, b, b, b, a, a, a, a, b, b, b, b, a, a, a, a);
    }
  }
  // The G scale words of a group starting at p (word k * BB / 2 for block k).
  static __m512i scale_words_index() {
    alignas(64) int16_t idx[32] = {};
    for (size_t k = 0; k < G; ++k) idx[k] = static_cast<int16_t>(k * BB / 2);
    return _mm512_load_si512(idx);
  }
  // Weights of blocks A (at p) and B (at p + BB) as the unsigned operand.
  static __m512i weights(const uint8_t* p) {
    if constexpr (Q8) {
      const __m512i v = _mm512_inserti64x4(
          _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2))),
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + BB + 2)), 1);
      return _mm512_xor_si512(v, _mm512_set1_epi8(static_cast<char>(0x80)));
    } else {
      const __m256i v = _mm256_inserti128_si256(
          _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2))),
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + BB + 2)), 1);  // [A | B]
      const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, 4), 1);
      return _mm512_and_si512(z, _mm512_set1_epi8(15));  // [A lo | B lo | A hi | B hi]
    }
  }
  static __m512i activations(const int8_t* q) {
    const __m512i v = _mm512_loadu_si512(q);
    if constexpr (Q8) {
      return v;
    } else {
      return _mm512_shuffle_i64x2(v, v, _MM_SHUFFLE(3, 1, 2, 0));  // [A 0-15 | B 0-15 | A 16-31 | B 16-31]
    }
  }
  static __m512i offset_bytes() { return _mm512_set1_epi8(Q8 ? static_cast<char>(0x80) : 8); }
  // One block (tail): weights as 32 unsigned bytes in natural order.
  static __m256i weights1(const uint8_t* p) {
    if constexpr (Q8) {
      return _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2)),
                              _mm256_set1_epi8(static_cast<char>(0x80)));
    } else {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
      const __m128i m = _mm_set1_epi8(15);
      return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(v, m)),
                                     _mm_and_si128(_mm_srli_epi16(v, 4), m), 1);
    }
  }
};

template <bool Q8, int RW, int RX>
void tile_q32(const uint8_t* w, size_t w_row, const uint8_t* xq, size_t cols, float* y, size_t ldy) {
  using K = Q32<Q8>;
  constexpr size_t BB = K::BB, G = K::G;
  const ActRows<RX> x(xq, cols);
  __m512 acc[RW][RX];
  for (int a = 0; a < RW; ++a)
    for (int b = 0; b < RX; ++b) acc[a][b] = _mm512_setzero_ps();
  const __m512i zero = _mm512_setzero_si512();
  const __m512i koff = K::offset_bytes();
  const __m512i widx = K::scale_words_index();
  const size_t nb = cols / kQK;
  size_t blk = 0;
  for (; blk + G <= nb; blk += G) {
    __m512 wd[RW];  // the group's G weight scales (times the activation scale when RX == 1)
    __m512 xd[RX];
    for (int b = 0; b < RX; ++b) {
      if constexpr (Q8) {
        xd[b] = _mm512_zextps128_ps512(_mm_loadu_ps(x.d[b] + blk));
      } else {
        xd[b] = _mm512_zextps256_ps512(_mm256_loadu_ps(x.d[b] + blk));
      }
    }
    for (int a = 0; a < RW; ++a) {
      const uint8_t* p = w + static_cast<size_t>(a) * w_row + blk * BB;
      // The next tile's rows start RW rows further: fetch them while this one computes.
      const __m512i words = _mm512_permutex2var_epi16(_mm512_loadu_si512(p), widx, _mm512_loadu_si512(p + 64));
      wd[a] = _mm512_zextps256_ps512(_mm256_cvtph_ps(_mm512_castsi512_si128(words)));
      if constexpr (RX == 1) wd[a] = _mm512_mul_ps(wd[a], xd[0]);
    }
    for (int j = 0; j < static_cast<int>(G / 2); ++j) {
      const __m512i pidx = K::pair_index(j);
      const size_t e = (blk + 2 * static_cast<size_t>(j)) * kQK;
      __m512i xv[RX], init[RX];
      __m512 xs[RX];
      for (int b = 0; b < RX; ++b) {
        xv[b] = K::activations(x.q[b] + e);
        init[b] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, koff, xv[b]));
        if constexpr (RX > 1) xs[b] = _mm512_permutexvar_ps(pidx, xd[b]);
      }
      for (int a = 0; a < RW; ++a) {
        const uint8_t* p = w + static_cast<size_t>(a) * w_row + blk * BB + 2 * static_cast<size_t>(j) * BB;
        // Two tiles ahead (the next tile's rows start RW rows further): measured best on Zen 5.
        _mm_prefetch(reinterpret_cast<const char*>(p + 2 * RW * w_row), _MM_HINT_T0);
        if constexpr (Q8) _mm_prefetch(reinterpret_cast<const char*>(p + 2 * RW * w_row + 64), _MM_HINT_T0);
        const __m512i wv = K::weights(p);
        const __m512 ws = _mm512_permutexvar_ps(pidx, wd[a]);
        for (int b = 0; b < RX; ++b) {
          const __m512 s = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(init[b], wv, xv[b]));
          if constexpr (RX == 1) {
            acc[a][b] = _mm512_fmadd_ps(s, ws, acc[a][b]);
          } else {
            acc[a][b] = _mm512_fmadd_ps(_mm512_mul_ps(s, xs[b]), ws, acc[a][b]);
          }
        }
      }
    }
  }
  for (; blk < nb; ++blk) {  // fewer than G blocks left: one at a time, in the low 256 bits
    __m256i xv[RX], init[RX];
    for (int b = 0; b < RX; ++b) {
      xv[b] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q[b] + blk * kQK));
      init[b] = _mm256_sub_epi32(_mm256_setzero_si256(),
                                 _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm512_castsi512_si256(koff), xv[b]));
    }
    for (int a = 0; a < RW; ++a) {
      const uint8_t* p = w + static_cast<size_t>(a) * w_row + blk * BB;
      const __m256i wv = K::weights1(p);
      const float dw = half(p);
      for (int b = 0; b < RX; ++b) {
        const __m256 s = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(init[b], wv, xv[b]));
        acc[a][b] = _mm512_fmadd_ps(_mm512_zextps256_ps512(s), _mm512_set1_ps(dw * x.d[b][blk]), acc[a][b]);
      }
    }
  }
  store<RW, RX>(acc, y, ldy);
}

// 8 sub-block scales and mins of a Q4_K block as floats (times d and dmin).
inline void q4k_scales(const uint8_t* blk, __m256& sc, __m256& mn) {
  uint32_t u[3];
  std::memcpy(u, blk + 4, 12);
  const uint32_t sc_lo = u[0] & 0x3f3f3f3fu;
  const uint32_t sc_hi = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
  const uint32_t m_lo = u[1] & 0x3f3f3f3fu;
  const uint32_t m_hi = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
  const __m128i s8 = _mm_cvtsi64_si128(static_cast<long long>(sc_lo | (static_cast<uint64_t>(sc_hi) << 32)));
  const __m128i m8 = _mm_cvtsi64_si128(static_cast<long long>(m_lo | (static_cast<uint64_t>(m_hi) << 32)));
  sc = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(s8)), _mm256_set1_ps(half(blk)));
  mn = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(m8)), _mm256_set1_ps(half(blk + 2)));
}

template <int RW, int RX>
void tile_q4k(const uint8_t* w, size_t w_row, const uint8_t* xq, size_t cols, float* y, size_t ldy) {
  const ActRows<RX> x(xq, cols);
  __m512 acc[RW][RX];
  for (int a = 0; a < RW; ++a)
    for (int b = 0; b < RX; ++b) acc[a][b] = _mm512_setzero_ps();
  const __m256i lo4 = _mm256_set1_epi8(15);
  const size_t nb = cols / kQKK;
  for (size_t sb = 0; sb < nb; ++sb) {
    __m512 sc[RW], mn[RW];
    for (int a = 0; a < RW; ++a) {
      __m256 s, m;
      q4k_scales(w + static_cast<size_t>(a) * w_row + sb * sizeof(BlockQ4_K), s, m);
      sc[a] = _mm512_castps256_ps512(s);
      mn[a] = _mm512_zextps256_ps512(m);
    }
    for (int b = 0; b < RX; ++b) {  // the mins: acc -= (dmin m_j) * s_j over the 8 sub-blocks
      const __m512 sx = _mm512_zextps256_ps512(_mm256_loadu_ps(x.s[b] + sb * 8));
      for (int a = 0; a < RW; ++a) acc[a][b] = _mm512_fnmadd_ps(mn[a], sx, acc[a][b]);
    }
    for (int c = 0; c < 4; ++c) {
      const __m512i idx = _mm512_set_epi32(2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1,
                                           2 * c + 1, 2 * c + 1, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c);
      __m512i wv[RW];
      __m512 ws[RW];
      for (int a = 0; a < RW; ++a) {
        const uint8_t* qs = w + static_cast<size_t>(a) * w_row + sb * sizeof(BlockQ4_K) + 16 + 32 * static_cast<size_t>(c);
        _mm_prefetch(reinterpret_cast<const char*>(qs + RW * w_row), _MM_HINT_T0);
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs));
        wv[a] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(v, lo4)),
                                   _mm256_and_si256(_mm256_srli_epi16(v, 4), lo4), 1);
        ws[a] = _mm512_permutexvar_ps(idx, sc[a]);
      }
      for (int b = 0; b < RX; ++b) {
        const size_t e = sb * kQKK + 64 * static_cast<size_t>(c);
        const __m512i xv = _mm512_loadu_si512(x.q[b] + e);
        const __m512 xs = pair_from_floats(x.d[b] + e / kQK);
        for (int a = 0; a < RW; ++a) {
          const __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv[a], xv);
          acc[a][b] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(s), xs), ws[a], acc[a][b]);
        }
      }
    }
  }
  store<RW, RX>(acc, y, ldy);
}

// Output rows in tiles of RW = 8 weight rows for up to 2 activation rows (the matvec of decode:
// 8 independent weight streams, one activation vector), 4 otherwise; remainders with 4 and 1.
// Activation rows in groups of 4 (remainder 1..3) within chunks whose quantized copy stays in L2
// while the thread's slice of W streams once per chunk.
template <int DecodeRows, typename Tile>
void walk_rows(const uint8_t* w, size_t w_row, const uint8_t* xq, size_t n, size_t cols, float* y, size_t ldy,
               size_t r_begin, size_t r_end, Tile&& tile) {
  const size_t x_row = actq8::row_bytes(cols);
  const size_t chunk = std::max<size_t>(4, (size_t(256) << 10) / x_row / 4 * 4);
  for (size_t i0 = 0; i0 < n; i0 += chunk) {
    const size_t i1 = std::min(n, i0 + chunk);
    auto group = [&]<int RX>(size_t i) {
      constexpr int BIG = RX <= 2 ? DecodeRows : 4;
      const uint8_t* xr = xq + i * x_row;
      float* yr = y + i * ldy;
      size_t r = r_begin;
      for (; r + BIG <= r_end; r += BIG) tile.template operator()<BIG, RX>(w + r * w_row, xr, yr + r);
      if constexpr (BIG > 4) {
        for (; r + 4 <= r_end; r += 4) tile.template operator()<4, RX>(w + r * w_row, xr, yr + r);
      }
      for (; r < r_end; ++r) tile.template operator()<1, RX>(w + r * w_row, xr, yr + r);
    };
    if (i1 - i0 <= 2) {  // decode: one pass over the rows with all activation rows
      if (i1 - i0 == 2) {
        group.template operator()<2>(i0);
      } else {
        group.template operator()<1>(i0);
      }
      continue;
    }
    // Larger batches: per row tile, every activation group of the chunk (the tile's weights stay in L1).
    auto tile_rows = [&]<int RW>(size_t r) {
      size_t i = i0;
      const uint8_t* wr = w + r * w_row;
      for (; i + 4 <= i1; i += 4) tile.template operator()<RW, 4>(wr, xq + i * x_row, y + i * ldy + r);
      switch (i1 - i) {
        case 3: tile.template operator()<RW, 3>(wr, xq + i * x_row, y + i * ldy + r); break;
        case 2: tile.template operator()<RW, 2>(wr, xq + i * x_row, y + i * ldy + r); break;
        case 1: tile.template operator()<RW, 1>(wr, xq + i * x_row, y + i * ldy + r); break;
        default: break;
      }
    };
    size_t r = r_begin;
    for (; r + 4 <= r_end; r += 4) tile_rows.template operator()<4>(r);
    for (; r < r_end; ++r) tile_rows.template operator()<1>(r);
  }
}

template <DType T>
void matmul_quant(const void* w, const void* xq, size_t n, size_t cols, float* y, size_t ldy, size_t r_begin,
                  size_t r_end) {
  const size_t w_row = cols / dtype_block_elems(T) * dtype_block_bytes(T);
  auto tile = [&]<int RW, int RX>(const uint8_t* wr, const uint8_t* xr, float* yr) {
    if constexpr (T == DType::q4_k) {
      tile_q4k<RW, RX>(wr, w_row, xr, cols, yr, ldy);
    } else {
      tile_q32<T == DType::q8_0, RW, RX>(wr, w_row, xr, cols, yr, ldy);
    }
  };
  // Q4_K streams better with 4 rows per decode tile (measured), Q8_0 / Q4_0 with 8.
  walk_rows<T == DType::q4_k ? 4 : 8>(static_cast<const uint8_t*>(w), w_row, static_cast<const uint8_t*>(xq), n, cols, y, ldy, r_begin, r_end,
            tile);
}

// ---- R16 layout (zaya/quant.h): Q4_0 / Q8_0 with 16 rows interleaved in 4-byte pieces --------
// Every int32 lane of a zmm is one output row: one vpdpbusd multiplies 4 code bytes of each of 16
// rows by the same 4 activation bytes (one vpbroadcastd from memory, no shuffle). A block of 32
// elements is 8 vpdpbusd per activation row, one int32 chain per row of X started at the block's
// -k * sum(x) (k = 8 for Q4_0's unsigned nibbles, 128 for Q8_0's codes stored flipped to w + 128;
// computed once per call for all blocks), so every lane is exactly the block's integer dot
// product; then cvt, scale (16 rows' d_w times d_x) and FMA into the f32 accumulator: 11 vector
// ops per 512 multiply-adds, against 16 ops per 256 for the 8-row layout it replaced. The weights
// of a block are loaded (and Q4_0's nibbles split) once for up to 8 rows of X. Measured with
// bench_kernels, one thread, cache-resident 4096x2048 weights, 16 rows of X: Q4_0 332 GFLOP/s
// (the 8-row layout: 148), Q8_0 316 (104); about 46 of the core's 64 int8 multiply-adds per
// cycle (vpdpbusd zmm issues once per cycle on this Zen 5).
// The scales of a block pair share one cache line ahead of the pair's codes, so all loads are
// aligned and the group is one linear stream. The matvec has no software prefetch (0.5-4 KB
// ahead measured no better than the hardware prefetcher); with >= 8 rows of X, where a group is
// computed in bursts of 64 vpdpbusd per block, the first pass over a group prefetches the next
// group into L2 (bench_kernels, 2 threads, 4096x2048 from DRAM, three alternating runs: Q8_0
// n=16 +4-29%, Q4_0 +7-22%; it made n=4 slower, so it is off there).

inline __m512i broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// The 16 rows' integer dot products of one 32-element block: lanes start at init, then the 8 code
// vectors w[j] (elements 4j..4j+3 of each row) meet 4-byte pieces of the activations xb. With few
// rows of X (TwoChains) two chains hide vpdpbusd's latency.
template <bool TwoChains>
inline __m512i block_dot16(__m512i init, const __m512i (&w)[8], const int8_t* xb) {
  __m512i s = init;
  if constexpr (TwoChains) {
    __m512i s2 = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int j = 0; j < 8; j += 2) {
      s = _mm512_dpbusd_epi32(s, w[j], broadcast4(xb + 4 * j));
      s2 = _mm512_dpbusd_epi32(s2, w[j + 1], broadcast4(xb + 4 * j + 4));
    }
    return _mm512_add_epi32(s, s2);
  } else {
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) s = _mm512_dpbusd_epi32(s, w[j], broadcast4(xb + 4 * j));
    return s;
  }
}

// out[b * ldo + r] for the 16 rows of the group at gp (nb blocks) whose mask bit r is set;
// next: the following group, prefetched into L2 alongside (or nullptr).
// Q2_0 (the LM-head shortlist's approximation of a 4-bit head): 128 code bytes a block, two
// vectors whose bit pairs s = 0..3 are code vectors 4p + s; each is expanded to 2q (0, 2, 4, 6)
// with one 16-bit shift and a mask (bits crossing a byte boundary land outside the mask), and
// the lanes start at -3 * sum(x), so every lane is the block's sum of (2q - 3) x.
template <DType T, int RX>
void group_r16(const uint8_t* gp, size_t nb, const ActRows<RX>& x, const int32_t* const* sums, float* out,
               size_t ldo, __mmask16 rows, const uint8_t* next) {
  constexpr bool Q8 = T == DType::q8_0;
  constexpr size_t CB = 16 * (dtype_block_bytes(T) - 2);  // code bytes per block of 16 rows
  __m512 acc[RX];
#pragma GCC unroll 8
  for (int b = 0; b < RX; ++b) acc[b] = _mm512_setzero_ps();
  const __m512i lo4 = _mm512_set1_epi8(15);
  for (size_t blk = 0; blk < nb; ++blk) {
    // Blocks in pairs [scales 2i | scales 2i+1 | codes 2i | codes 2i+1], an odd last block alone.
    const R16Block at = r16_block(blk, nb, CB);
    const uint8_t* sc = gp + at.scales;
    const uint8_t* c = gp + at.codes;
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(sc)));
    if (next) {
      const uint8_t* pf = next + (sc - gp);
      for (size_t o = 0; o < 32 + CB; o += 64) _mm_prefetch(reinterpret_cast<const char*>(pf + o), _MM_HINT_T1);
    }
    __m512i w[8];  // w[j]: elements 4j..4j+3 of the 16 rows
    if constexpr (Q8) {
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) w[j] = _mm512_loadu_si512(c + 64 * j);
    } else if constexpr (T == DType::q2_0) {
      const __m512i six = _mm512_set1_epi8(6);
#pragma GCC unroll 2
      for (int p = 0; p < 2; ++p) {
        const __m512i v = _mm512_loadu_si512(c + 64 * p);
        w[4 * p] = _mm512_and_si512(_mm512_slli_epi16(v, 1), six);
        w[4 * p + 1] = _mm512_and_si512(_mm512_srli_epi16(v, 1), six);
        w[4 * p + 2] = _mm512_and_si512(_mm512_srli_epi16(v, 3), six);
        w[4 * p + 3] = _mm512_and_si512(_mm512_srli_epi16(v, 5), six);
      }
    } else {
#pragma GCC unroll 4
      for (int p = 0; p < 4; ++p) {
        const __m512i v = _mm512_loadu_si512(c + 64 * p);
        w[p] = _mm512_and_si512(v, lo4);
        w[4 + p] = _mm512_and_si512(_mm512_srli_epi16(v, 4), lo4);
      }
    }
#pragma GCC unroll 8
    for (int b = 0; b < RX; ++b) {
      const __m512i s = block_dot16<RX <= 2>(_mm512_set1_epi32(sums[b][blk]), w, x.q[b] + blk * kQK);
      acc[b] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_set1_ps(x.d[b][blk])), acc[b]);
    }
  }
#pragma GCC unroll 8
  for (int b = 0; b < RX; ++b) _mm512_mask_storeu_ps(out + static_cast<size_t>(b) * ldo, rows, acc[b]);
}

// Q4_K in R16: per super-block the 16 rows' scale words decode with 512-bit integer ops (a lane
// per row) into d * sc_j and dmin * m_j for all rows at once; the mins term is one FMA per
// sub-block and row of X. Sub-block j = 2c + h is 8 vpdpbusd on the low (h = 0) or high (h = 1)
// nibbles of code vectors 8c..8c+7, chains starting at zero (the codes are unsigned).
inline __m512 q4k_byte(__m512i words, int j, __m512 scale) {
  const __m512i b = _mm512_and_si512(_mm512_srl_epi32(words, _mm_cvtsi32_si128(8 * (j & 3))), _mm512_set1_epi32(0xff));
  return _mm512_mul_ps(_mm512_cvtepi32_ps(b), scale);
}

template <int RX>
void group_q4k_r16(const uint8_t* gp, size_t nsb, const ActRows<RX>& x, float* out, size_t ldo, __mmask16 rows,
                   const uint8_t* next) {
  constexpr size_t SB = 16 * sizeof(BlockQ4_K);  // bytes per super-block of 16 rows
  __m512 acc[RX];
#pragma GCC unroll 8
  for (int b = 0; b < RX; ++b) acc[b] = _mm512_setzero_ps();
  const __m512i lo4 = _mm512_set1_epi8(15), k3f = _mm512_set1_epi32(0x3f3f3f3f), k0f = _mm512_set1_epi32(0x0f0f0f0f),
                k03 = _mm512_set1_epi32(0x03030303);
  for (size_t sb = 0; sb < nsb; ++sb) {
    const uint8_t* p = gp + sb * SB;
    if (next)
      for (size_t o = 0; o < SB; o += 64) _mm_prefetch(reinterpret_cast<const char*>(next + sb * SB + o), _MM_HINT_T1);
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32)));
    const __m512i u0 = _mm512_loadu_si512(p + 64), u1 = _mm512_loadu_si512(p + 128), u2 = _mm512_loadu_si512(p + 192);
    // ggml's get_scale_min_k4 for all 16 rows: bytes j of sc_lo / m_lo (j < 4), of sc_hi / m_hi (j >= 4).
    const __m512i sc_lo = _mm512_and_si512(u0, k3f);
    const __m512i sc_hi = _mm512_or_si512(_mm512_and_si512(u2, k0f),
                                          _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u0, 6), k03), 4));
    const __m512i m_lo = _mm512_and_si512(u1, k3f);
    const __m512i m_hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(u2, 4), k0f),
                                         _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u1, 6), k03), 4));
    for (int j = 0; j < 8; ++j) {
      const __m512 mj = q4k_byte(j < 4 ? m_lo : m_hi, j, dmin);
#pragma GCC unroll 8
      for (int b = 0; b < RX; ++b)
        acc[b] = _mm512_fnmadd_ps(mj, _mm512_set1_ps(x.s[b][sb * 8 + static_cast<size_t>(j)]), acc[b]);
    }
    for (int j = 0; j < 8; ++j) {  // sub-block j: nibble half j % 2 of code vectors 8 (j / 2) ..
      const __m512 ws = q4k_byte(j < 4 ? sc_lo : sc_hi, j, d);
      const uint8_t* c = p + 256 + 512 * static_cast<size_t>(j / 2);
      __m512i wv[8];
#pragma GCC unroll 8
      for (int q = 0; q < 8; ++q) {
        const __m512i v = _mm512_loadu_si512(c + 64 * q);
        wv[q] = _mm512_and_si512(j % 2 == 0 ? v : _mm512_srli_epi16(v, 4), lo4);
      }
#pragma GCC unroll 8
      for (int b = 0; b < RX; ++b) {
        const __m512i s0 = block_dot16<RX <= 2>(_mm512_setzero_si512(), wv, x.q[b] + sb * kQKK + kQK * static_cast<size_t>(j));
        acc[b] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0),
                                 _mm512_mul_ps(ws, _mm512_set1_ps(x.d[b][sb * 8 + static_cast<size_t>(j)])), acc[b]);
      }
    }
  }
#pragma GCC unroll 8
  for (int b = 0; b < RX; ++b) _mm512_mask_storeu_ps(out + static_cast<size_t>(b) * ldo, rows, acc[b]);
}

template <DType T>
void matmul_quant_r16(const void* w, size_t rows, const void* xq, size_t n, size_t cols, float* y, size_t ldy,
                      size_t r_begin, size_t r_end) {
  constexpr bool Q8 = T == DType::q8_0, K = T == DType::q4_k;
  constexpr size_t G = 16;
  const size_t nb = cols / dtype_block_elems(T);
  const size_t w_row = nb * dtype_block_bytes(T);
  const size_t whole = rows / G * G;
  const size_t x_row = actq8::row_bytes(cols);
  const size_t chunk = std::max<size_t>(8, (size_t(256) << 10) / x_row / 8 * 8);
  const size_t nb32 = cols / kQK;
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(xq);
  const size_t g_end = std::min(r_end, whole);
  // -k * sum(x) per block of each row of X in the chunk (the lanes' starting values).
  thread_local std::vector<int32_t> block_sums;
  const __m256i ones = _mm256_set1_epi8(1);
  const int32_t k = Q8 ? -128 : T == DType::q2_0 ? -3 : -8;
  for (size_t i0 = 0; i0 < n && r_begin < g_end; i0 += chunk) {
    const size_t i1 = std::min(n, i0 + chunk);
    block_sums.resize(K ? 0 : (i1 - i0) * nb32);
    for (size_t i = i0; i < i1 && !K; ++i) {
      const int8_t* q = actq8::qs(xb + i * x_row);
      for (size_t b = 0; b < nb32; ++b) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + b * kQK));
        const __m256i s8 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ones, v);
        const __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
        const __m128i s2 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
        block_sums[(i - i0) * nb32 + b] = k * (_mm_cvtsi128_si32(s2) + _mm_extract_epi32(s2, 1));
      }
    }
    for (size_t g = r_begin / G * G; g < g_end; g += G) {
      const uint8_t* gp = wb + g * w_row;
      const size_t lo = std::max(g, r_begin) - g, hi = std::min(g + G, r_end) - g;
      const auto mask = static_cast<__mmask16>(((1u << hi) - 1u) & ~((1u << lo) - 1u));
      auto run = [&]<int RX>(size_t i) {
        const ActRows<RX> x(xb + i * x_row, cols);
        // With 8 or more rows of X the first pass over a group also pulls the next group into L2.
        const uint8_t* next = i == i0 && i1 - i0 >= 8 && g + G < g_end ? gp + G * w_row : nullptr;
        if constexpr (K) {
          group_q4k_r16<RX>(gp, nb, x, y + i * ldy + g, ldy, mask, next);
        } else {
          const int32_t* sums[RX];
          for (int b = 0; b < RX; ++b) sums[b] = block_sums.data() + (i - i0 + static_cast<size_t>(b)) * nb32;
          group_r16<T, RX>(gp, nb, x, sums, y + i * ldy + g, ldy, mask, next);
        }
      };
      size_t i = i0;
      for (; i + 8 <= i1; i += 8) run.template operator()<8>(i);
      switch (i1 - i) {
        case 7: run.template operator()<7>(i); break;
        case 6: run.template operator()<6>(i); break;
        case 5: run.template operator()<5>(i); break;
        case 4: run.template operator()<4>(i); break;
        case 3: run.template operator()<3>(i); break;
        case 2: run.template operator()<2>(i); break;
        case 1: run.template operator()<1>(i); break;
        default: break;
      }
    }
  }
  if (r_end <= whole) return;
  if constexpr (T == DType::q2_0) {  // no plain-row kernel of its own: the portable one
    kernels_avx512().matmul_q2_0(w, xq, n, cols, y, ldy, std::max(r_begin, whole), r_end);
  } else {
    matmul_quant<T>(w, xq, n, cols, y, ldy, std::max(r_begin, whole), r_end);
  }
}

// ---- bf16 weights x bf16 activations (vdpbf16ps), for prefill ---------------------------------
// 32 elements per step: a zmm of one weight row meets a zmm of one activation row, each f32 lane
// accumulating two adjacent products. Register tile 4 weight rows x 6 activation rows (24
// accumulators, 4 weight and 1 activation register); the column tail uses masked (zeroing)
// loads. Activation rows in chunks that stay in L2 while the thread's weight rows stream once
// per chunk; a 4-row weight tile (4 x 2 x cols bytes) stays in L1 across the chunk's tiles.
// Vector casts (same size, no code): references to locals made GCC keep the accumulators in memory.
inline __m512bh as_bh(__m512i v) { return (__m512bh)v; }
inline __m512i as_si(__m512bh v) { return (__m512i)v; }

void to_bf16(const float* x, size_t ldx, size_t n, size_t cols, uint16_t* out, size_t ldo) {
  for (size_t i = 0; i < n; ++i) {
    const float* xr = x + i * ldx;
    uint16_t* o = out + i * ldo;
    size_t k = 0;
    for (; k + 32 <= cols; k += 32) {
      const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(xr + k + 16), _mm512_loadu_ps(xr + k));
      _mm512_storeu_si512(o + k, as_si(v));
    }
    if (k < cols) {
      const size_t left = cols - k;
      const __mmask16 m0 = static_cast<__mmask16>(left >= 16 ? 0xFFFFu : (1u << left) - 1u);
      const __mmask16 m1 = static_cast<__mmask16>(left <= 16 ? 0u : (1u << (left - 16)) - 1u);
      const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(m1, xr + k + 16), _mm512_maskz_loadu_ps(m0, xr + k));
      const __mmask32 m = static_cast<__mmask32>((uint64_t(1) << left) - 1u);
      _mm512_mask_storeu_epi16(o + k, m, as_si(v));
    }
  }
}

template <int RW, int RX>
void tile_bf16_dp(const uint16_t* w, size_t cols, const uint16_t* x, size_t ldx, float* y, size_t ldy) {
  // One array per weight row (a 2-D accumulator array made GCC 12 store every accumulator to the
  // stack on each step).
  __m512 a0[RX], a1[RX], a2[RX], a3[RX];
  for (int b = 0; b < RX; ++b) a0[b] = a1[b] = a2[b] = a3[b] = _mm512_setzero_ps();
  const uint16_t* w0 = w;
  const uint16_t* w1 = w + (RW > 1 ? cols : 0);
  const uint16_t* w2 = w + (RW > 2 ? 2 * cols : 0);
  const uint16_t* w3 = w + (RW > 3 ? 3 * cols : 0);
  // One loop with masked loads throughout (a full mask costs nothing).
  for (size_t k = 0; k < cols; k += 32) {
    const __mmask32 m = k + 32 <= cols ? ~__mmask32(0) : static_cast<__mmask32>((uint64_t(1) << (cols - k)) - 1u);
    const __m512bh v0 = as_bh(_mm512_maskz_loadu_epi16(m, w0 + k));
    __m512bh v1 = v0, v2 = v0, v3 = v0;
    if constexpr (RW > 1) v1 = as_bh(_mm512_maskz_loadu_epi16(m, w1 + k));
    if constexpr (RW > 2) v2 = as_bh(_mm512_maskz_loadu_epi16(m, w2 + k));
    if constexpr (RW > 3) v3 = as_bh(_mm512_maskz_loadu_epi16(m, w3 + k));
    for (int b = 0; b < RX; ++b) {
      const __m512bh xv = as_bh(_mm512_maskz_loadu_epi16(m, x + static_cast<size_t>(b) * ldx + k));
      a0[b] = _mm512_dpbf16_ps(a0[b], v0, xv);
      if constexpr (RW > 1) a1[b] = _mm512_dpbf16_ps(a1[b], v1, xv);
      if constexpr (RW > 2) a2[b] = _mm512_dpbf16_ps(a2[b], v2, xv);
      if constexpr (RW > 3) a3[b] = _mm512_dpbf16_ps(a3[b], v3, xv);
    }
  }
  for (int b = 0; b < RX; ++b) {
    float* yb = y + static_cast<size_t>(b) * ldy;
    yb[0] = hsum(a0[b]);
    if constexpr (RW > 1) yb[1] = hsum(a1[b]);
    if constexpr (RW > 2) yb[2] = hsum(a2[b]);
    if constexpr (RW > 3) yb[3] = hsum(a3[b]);
  }
}

void matmul_bf16_dp(const uint16_t* w, const uint16_t* xb, size_t ldx, size_t n, size_t cols, float* y, size_t ldy,
                    size_t r_begin, size_t r_end) {
  constexpr size_t TX = 4;
  const size_t chunk = std::max<size_t>(TX, (size_t(512) << 10) / (2 * ldx) / TX * TX);
  for (size_t i0 = 0; i0 < n; i0 += chunk) {
    const size_t i1 = std::min(n, i0 + chunk);
    auto rows = [&]<int RW>(size_t r) {
      const uint16_t* wr = w + r * cols;
      size_t i = i0;
      for (; i + TX <= i1; i += TX) tile_bf16_dp<RW, TX>(wr, cols, xb + i * ldx, ldx, y + i * ldy + r, ldy);
      switch (i1 - i) {
        case 3: tile_bf16_dp<RW, 3>(wr, cols, xb + i * ldx, ldx, y + i * ldy + r, ldy); break;
        case 2: tile_bf16_dp<RW, 2>(wr, cols, xb + i * ldx, ldx, y + i * ldy + r, ldy); break;
        case 1: tile_bf16_dp<RW, 1>(wr, cols, xb + i * ldx, ldx, y + i * ldy + r, ldy); break;
        default: break;
      }
    };
    size_t r = r_begin;
    for (; r + 4 <= r_end; r += 4) rows.template operator()<4>(r);
    for (; r < r_end; ++r) rows.template operator()<1>(r);
  }
}

}  // namespace

const KernelTable& kernels_avx512vnni() {
  static const KernelTable table = [] {
    KernelTable t = kernels_avx512();
    t.isa = "avx512vnni";
    t.quantize_activations = &quantize_activations;
    t.matmul_q8_0 = &matmul_quant<DType::q8_0>;
    t.matmul_q4_0 = &matmul_quant<DType::q4_0>;
    t.matmul_q4_k = &matmul_quant<DType::q4_k>;
    t.matmul_q8_0_r16 = &matmul_quant_r16<DType::q8_0>;
    t.matmul_q4_0_r16 = &matmul_quant_r16<DType::q4_0>;
    t.matmul_q4_k_r16 = &matmul_quant_r16<DType::q4_k>;
    t.matmul_q2_0_r16 = &matmul_quant_r16<DType::q2_0>;
    t.to_bf16 = &to_bf16;
    t.matmul_bf16_dp = &matmul_bf16_dp;
    // Recommended threshold when enabled (the golden parity test's 20-token batches stay exact).
    t.bf16_dp_min_rows = 32;
    return t;
  }();
  return table;
}

}  // namespace zaya::cpu
