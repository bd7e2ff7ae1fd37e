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
// Register tile: 4 weight rows x 4 activation rows (16 zmm accumulators), as in the portable path.
#include "kernels.h"
#include "kernels_impl.h"

#include <zaya/quant.h>

#include <immintrin.h>

#include <cstring>

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
inline __m512 pair_from_values(float a, float b) {
  return _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(a), _mm512_set1_ps(b));
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

template <int RX>
struct Act {
  const int8_t* q[RX];
  const float* d[RX];
  const float* s[RX];
  Act(const uint8_t* xq, size_t cols) {
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
inline void store(__m512 (&acc)[RW][RX], float* y, size_t ldy) {
  for (int a = 0; a < RW; ++a)
    for (int b = 0; b < RX; ++b)
      y[static_cast<size_t>(b) * ldy + static_cast<size_t>(a)] = hsum(acc[a][b]);
}

// Q8_0 and Q4_0.
template <bool Q8, int RW, int RX>
void tile_q32(const uint8_t* w, size_t w_row, const uint8_t* xq, size_t cols, float* y, size_t ldy) {
  constexpr size_t BB = Q8 ? sizeof(BlockQ8_0) : sizeof(BlockQ4_0);
  const Act<RX> x(xq, cols);
  __m512 acc[RW][RX];
  for (int a = 0; a < RW; ++a)
    for (int b = 0; b < RX; ++b) acc[a][b] = _mm512_setzero_ps();
  const __m512i zero = _mm512_setzero_si512();
  const __m512i k80 = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i k08 = _mm512_set1_epi8(8);
  const __m512i lo4 = _mm512_set1_epi8(15);
  const size_t nb = cols / kQK;
  size_t blk = 0;
  // One step: weights wv[a] (64 or 32 elements), their scales, activations and their scales.
  auto step = [&](const __m512i (&wv)[RW], const __m512 (&ws)[RW], const __m512i (&xv)[RX], const __m512 (&xs)[RX]) {
    __m512i init_w[RW];
    if constexpr (Q8) {
      for (int a = 0; a < RW; ++a) init_w[a] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, k80, wv[a]));
    }
    for (int b = 0; b < RX; ++b) {
      __m512i xu, init_x = zero;
      if constexpr (Q8) {
        xu = _mm512_xor_si512(xv[b], k80);
      } else {
        init_x = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, k08, xv[b]));
      }
      for (int a = 0; a < RW; ++a) {
        __m512i s;
        if constexpr (Q8) {
          s = _mm512_dpbusd_epi32(init_w[a], xu, wv[a]);
        } else {
          s = _mm512_dpbusd_epi32(init_x, wv[a], xv[b]);
        }
        acc[a][b] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(s), xs[b]), ws[a], acc[a][b]);
      }
    }
  };
  for (; blk + 2 <= nb; blk += 2) {
    __m512i wv[RW];
    __m512 ws[RW];
    for (int a = 0; a < RW; ++a) {
      const uint8_t* p = w + static_cast<size_t>(a) * w_row + blk * BB;
      // The next tile's rows start RW rows further: fetch them while this one computes (short
      // rows of 4-bit blocks end before the hardware prefetcher has ramped up).
      _mm_prefetch(reinterpret_cast<const char*>(p + RW * w_row), _MM_HINT_T0);
      ws[a] = pair_from_values(half(p), half(p + BB));
      if constexpr (Q8) {
        const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2));
        const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + BB + 2));
        wv[a] = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
      } else {
        const __m256i v = _mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2))),
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + BB + 2)), 1);  // [A | B]
        __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, 4), 1);
        z = _mm512_and_si512(z, lo4);                               // [A lo | B lo | A hi | B hi]
        wv[a] = _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));  // [A lo | A hi | B lo | B hi]
      }
    }
    __m512i xv[RX];
    __m512 xs[RX];
    for (int b = 0; b < RX; ++b) {
      xv[b] = _mm512_loadu_si512(x.q[b] + blk * kQK);
      xs[b] = pair_from_floats(x.d[b] + blk);
    }
    step(wv, ws, xv, xs);
  }
  if (blk < nb) {  // odd block count: one block in the low half, zeros above
    __m512i wv[RW];
    __m512 ws[RW];
    for (int a = 0; a < RW; ++a) {
      const uint8_t* p = w + static_cast<size_t>(a) * w_row + blk * BB;
      ws[a] = _mm512_set1_ps(half(p));
      if constexpr (Q8) {
        wv[a] = _mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2)));
      } else {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
        const __m128i m = _mm_set1_epi8(15);
        const __m256i lohi = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(v, m)),
                                                     _mm_and_si128(_mm_srli_epi16(v, 4), m), 1);
        wv[a] = _mm512_zextsi256_si512(lohi);
      }
    }
    __m512i xv[RX];
    __m512 xs[RX];
    for (int b = 0; b < RX; ++b) {
      xv[b] = _mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q[b] + blk * kQK)));
      xs[b] = _mm512_set1_ps(x.d[b][blk]);
    }
    step(wv, ws, xv, xs);
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
  const Act<RX> x(xq, cols);
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
  quant_matmul_rows(w, w_row, xq, n, cols, y, ldy, r_begin, r_end, tile);
}

}  // namespace

const KernelTable& kernels_avx512vnni() {
  static const KernelTable table = [] {
    KernelTable t = kernels_avx512();
    t.isa = "avx512vnni";
    t.matmul_q8_0 = &matmul_quant<DType::q8_0>;
    t.matmul_q4_0 = &matmul_quant<DType::q4_0>;
    t.matmul_q4_k = &matmul_quant<DType::q4_k>;
    return t;
  }();
  return table;
}

}  // namespace zaya::cpu
