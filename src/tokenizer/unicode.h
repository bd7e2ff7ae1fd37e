// src/tokenizer/unicode.h - the Unicode properties and normalization forms the tokenizer needs.
//
// Tables are generated from the Unicode Character Database by tools/tokenizer/gen_unicode_tables.py
// (into unicode_data.cpp), so no ICU or regex library is needed at run time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace zaya::tokenizer {

namespace unicode_data {
extern const uint16_t property_stage1[];
extern const size_t property_stage1_size;
extern const uint8_t property_stage2[];
extern const size_t property_stage2_size;
extern const uint32_t combining_class[];
extern const size_t combining_class_size;
extern const uint64_t canonical_index[];
extern const size_t canonical_index_size;
extern const uint32_t canonical_pool[];
extern const size_t canonical_pool_size;
extern const uint64_t compatibility_index[];
extern const size_t compatibility_index_size;
extern const uint32_t compatibility_pool[];
extern const size_t compatibility_pool_size;
extern const uint64_t composition_pairs[];
extern const size_t composition_pairs_size;
}  // namespace unicode_data

namespace unicode {

// Property bits (keep in sync with the generator).
enum Property : uint8_t {
  letter = 1,        // general category L*
  number = 2,        // general category N*
  mark = 4,          // general category M*
  white_space = 8,   // White_Space (what \s means in Oniguruma and Rust's regex)
  alphabetic = 16,   // Alphabetic (Rust's char::is_alphabetic)
  decimal = 32,      // general category Nd
  connector = 64,    // Pc or Join_Control (the rest of regex \w)
  punctuation = 128  // general category P*
};

inline uint8_t properties(char32_t cp) noexcept {
  if (cp >= 0x110000) return 0;
  return unicode_data::property_stage2[size_t{unicode_data::property_stage1[cp >> 8]} * 256 + (cp & 0xFF)];
}
inline bool is_letter(char32_t cp) noexcept { return properties(cp) & letter; }
inline bool is_number(char32_t cp) noexcept { return properties(cp) & number; }
inline bool is_white_space(char32_t cp) noexcept { return properties(cp) & white_space; }
// regex \w (Rust regex crate, Unicode mode): Alphabetic, M, Nd, Pc, Join_Control.
inline bool is_word_char(char32_t cp) noexcept {
  return properties(cp) & (alphabetic | mark | decimal | connector);
}

enum class NormalizationForm { nfc, nfd, nfkc, nfkd };

// Normalizes valid UTF-8 text. Appends to `out`.
void normalize(std::string_view text, NormalizationForm form, std::string& out);

}  // namespace unicode
}  // namespace zaya::tokenizer
