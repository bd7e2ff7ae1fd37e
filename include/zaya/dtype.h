// zaya/dtype.h - element types of stored tensors and the scalar conversions between them.
#pragma once

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace zaya {

// The scalar types are those of safetensors. The block-quantized types (GGUF files and
// quantize-on-load only) have ggml's bit layouts: a row is cols / dtype_block_elems blocks of
// dtype_block_bytes bytes each (see zaya/quant.h).
//   q8_0: 32 weights = f16 scale d + 32 x int8            (34 bytes, 8.5 bits/weight)
//   q4_0: 32 weights = f16 scale d + 16 bytes of nibbles  (18 bytes, 4.5 bits/weight), w = d * (q - 8)
//   q4_k: 256 weights = f16 d, f16 dmin, 12 bytes of 6-bit sub-block scales/mins, 128 bytes of
//         nibbles (144 bytes, 4.5 bits/weight), w = d * sc_j * q - dmin * m_j per 32-weight sub-block
//   q2_0: 32 weights = f16 d + 8 bytes of 2-bit codes   (10 bytes, 2.5 bits/weight), w = d * (2q - 3);
//         zaya's own, in no file format: only the LM-head shortlist's approximation of a 4-bit
//         head uses it (src/model/head_shortlist.h)
enum class DType : uint8_t { f32, bf16, f16, i32, i64, u8, i8, bool_, q8_0, q4_0, q4_k, q2_0 };

inline bool is_quantized(DType t) noexcept {
  return t == DType::q8_0 || t == DType::q4_0 || t == DType::q4_k || t == DType::q2_0;
}

// Bytes per element of a scalar type; 0 for the block-quantized types (use dtype_row_bytes).
constexpr size_t dtype_size(DType t) noexcept {
  switch (t) {
    case DType::f32: case DType::i32: return 4;
    case DType::bf16: case DType::f16: return 2;
    case DType::i64: return 8;
    case DType::u8: case DType::i8: case DType::bool_: return 1;
    case DType::q8_0: case DType::q4_0: case DType::q4_k: case DType::q2_0: return 0;
  }
  return 0;
}

// Elements per block (1 for scalar types) and bytes per block.
constexpr size_t dtype_block_elems(DType t) noexcept {
  switch (t) {
    case DType::q8_0: case DType::q4_0: case DType::q2_0: return 32;
    case DType::q4_k: return 256;
    default: return 1;
  }
}
constexpr size_t dtype_block_bytes(DType t) noexcept {
  switch (t) {
    case DType::q8_0: return 34;
    case DType::q4_0: return 18;
    case DType::q4_k: return 144;
    case DType::q2_0: return 10;
    default: return dtype_size(t);
  }
}

// Bytes of `count` consecutive elements; count must be a multiple of dtype_block_elems(t).
constexpr size_t dtype_row_bytes(DType t, size_t count) noexcept {
  return count / dtype_block_elems(t) * dtype_block_bytes(t);
}

// Names as written in safetensors headers.
inline std::string_view dtype_name(DType t) noexcept {
  switch (t) {
    case DType::f32: return "F32";
    case DType::bf16: return "BF16";
    case DType::f16: return "F16";
    case DType::i32: return "I32";
    case DType::i64: return "I64";
    case DType::u8: return "U8";
    case DType::i8: return "I8";
    case DType::bool_: return "BOOL";
    case DType::q8_0: return "Q8_0";
    case DType::q4_0: return "Q4_0";
    case DType::q4_k: return "Q4_K";
    case DType::q2_0: return "Q2_0";
  }
  return "?";
}

// Safetensors dtype names only (the quantized types never come from a safetensors header).
inline bool parse_dtype(std::string_view name, DType& out) noexcept {
  for (DType t : {DType::f32, DType::bf16, DType::f16, DType::i32, DType::i64, DType::u8, DType::i8, DType::bool_}) {
    if (dtype_name(t) == name) { out = t; return true; }
  }
  return false;
}

inline bool is_float_dtype(DType t) noexcept { return t == DType::f32 || t == DType::bf16 || t == DType::f16; }

// ---- bfloat16: the upper 16 bits of an IEEE binary32 -------------------------------------------
inline float bf16_to_f32(uint16_t b) noexcept { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

// Round to nearest even, NaN kept quiet (as PyTorch does).
inline uint16_t f32_to_bf16(float f) noexcept {
  uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// ---- IEEE binary16 --------------------------------------------------------------------------
inline float f16_to_f32(uint16_t h) noexcept {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      int e = -1;
      do { ++e; mant <<= 1; } while ((mant & 0x400u) == 0);
      bits = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(bits);
}

inline uint16_t f32_to_f16(float f) noexcept {
  uint32_t u = std::bit_cast<uint32_t>(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);   // NaN
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (abs < 0x38800000u) {                                               // subnormal or zero
    float a = std::bit_cast<float>(abs);
    uint32_t m = static_cast<uint32_t>(std::nearbyint(a * 16777216.0f));  // a / 2^-24
    return static_cast<uint16_t>(sign | m);
  }
  uint32_t exp = (abs >> 23) - 127 + 15;
  uint32_t mant = abs & 0x7fffffu;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // round to nearest even
  return static_cast<uint16_t>(sign | h);
}

// Reads element i of a float tensor of type t as f32.
inline float load_as_f32(const void* data, DType t, size_t i) noexcept {
  switch (t) {
    case DType::f32: { float f; std::memcpy(&f, static_cast<const char*>(data) + 4 * i, 4); return f; }
    case DType::bf16: { uint16_t b; std::memcpy(&b, static_cast<const char*>(data) + 2 * i, 2); return bf16_to_f32(b); }
    case DType::f16: { uint16_t b; std::memcpy(&b, static_cast<const char*>(data) + 2 * i, 2); return f16_to_f32(b); }
    default: return NAN;
  }
}

}  // namespace zaya
