// src/tokenizer/unicode.cpp - Unicode normalization (UAX #15) over the generated tables.
#include "tokenizer/unicode.h"

#include <zaya/utf8.h>

#include <algorithm>
#include <vector>

namespace zaya::tokenizer::unicode {
namespace {

using namespace unicode_data;

// Hangul syllables decompose and compose algorithmically (UAX #15, section 3.12).
constexpr char32_t hangul_s_base = 0xAC00, hangul_l_base = 0x1100, hangul_v_base = 0x1161,
                   hangul_t_base = 0x11A7;
constexpr char32_t hangul_l_count = 19, hangul_v_count = 21, hangul_t_count = 28;
constexpr char32_t hangul_n_count = hangul_v_count * hangul_t_count;
constexpr char32_t hangul_s_count = hangul_l_count * hangul_n_count;

uint8_t combining_class_of(char32_t cp) {
  if (cp < 0x300) return 0;  // nothing below U+0300 has a non-zero class
  const uint32_t* end = combining_class + combining_class_size;
  const uint32_t key = static_cast<uint32_t>(cp) << 8;
  const uint32_t* it = std::lower_bound(combining_class, end, key);
  if (it != end && (*it >> 8) == cp) return static_cast<uint8_t>(*it & 0xFF);
  return 0;
}

// Appends the full decomposition of cp (or cp itself) to out.
void decompose_one(char32_t cp, bool compatibility, std::vector<char32_t>& out) {
  if (cp < 0xC0) {  // Latin-1 below À has no canonical decomposition; compat ones start at U+00A0
    if (!compatibility || cp < 0xA0) {
      out.push_back(cp);
      return;
    }
  }
  if (cp >= hangul_s_base && cp < hangul_s_base + hangul_s_count) {
    const char32_t index = cp - hangul_s_base;
    out.push_back(hangul_l_base + index / hangul_n_count);
    out.push_back(hangul_v_base + (index % hangul_n_count) / hangul_t_count);
    if (index % hangul_t_count != 0) out.push_back(hangul_t_base + index % hangul_t_count);
    return;
  }
  const uint64_t* index = compatibility ? compatibility_index : canonical_index;
  const size_t size = compatibility ? compatibility_index_size : canonical_index_size;
  const uint32_t* pool = compatibility ? compatibility_pool : canonical_pool;
  const uint64_t key = static_cast<uint64_t>(cp) << 32;
  const uint64_t* end = index + size;
  const uint64_t* it = std::lower_bound(index, end, key);
  if (it != end && (*it >> 32) == cp) {
    const size_t offset = (*it >> 8) & 0xFFFFFF;
    const size_t length = *it & 0xFF;
    for (size_t i = 0; i < length; ++i) out.push_back(pool[offset + i]);
    return;
  }
  out.push_back(cp);
}

// Returns the primary composite of (first, second), or 0 if there is none.
char32_t compose_pair(char32_t first, char32_t second) {
  if (first >= hangul_l_base && first < hangul_l_base + hangul_l_count && second >= hangul_v_base &&
      second < hangul_v_base + hangul_v_count) {
    return hangul_s_base + ((first - hangul_l_base) * hangul_v_count + (second - hangul_v_base)) * hangul_t_count;
  }
  if (first >= hangul_s_base && first < hangul_s_base + hangul_s_count &&
      (first - hangul_s_base) % hangul_t_count == 0 && second > hangul_t_base &&
      second < hangul_t_base + hangul_t_count) {
    return first + (second - hangul_t_base);
  }
  const uint64_t key = ((static_cast<uint64_t>(first) << 21) | second) << 21;
  const uint64_t* end = composition_pairs + composition_pairs_size;
  const uint64_t* it = std::lower_bound(composition_pairs, end, key);
  if (it != end && (*it >> 21) == (key >> 21)) return static_cast<char32_t>(*it & 0x1FFFFF);
  return 0;
}

// Canonical ordering: stable-sort each run of non-starters by combining class.
void reorder(std::vector<char32_t>& cps, std::vector<uint8_t>& classes) {
  classes.resize(cps.size());
  for (size_t i = 0; i < cps.size(); ++i) classes[i] = combining_class_of(cps[i]);
  size_t i = 0;
  while (i < cps.size()) {
    if (classes[i] == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < cps.size() && classes[j] != 0) ++j;
    if (j - i > 1) {  // insertion sort: runs are tiny and it is stable
      for (size_t a = i + 1; a < j; ++a) {
        char32_t cp = cps[a];
        uint8_t cc = classes[a];
        size_t b = a;
        while (b > i && classes[b - 1] > cc) {
          cps[b] = cps[b - 1];
          classes[b] = classes[b - 1];
          --b;
        }
        cps[b] = cp;
        classes[b] = cc;
      }
    }
    i = j;
  }
}

// Canonical composition, following the reference algorithm of UAX #15.
void compose(std::vector<char32_t>& cps, const std::vector<uint8_t>& classes) {
  if (cps.empty()) return;
  size_t starter_pos = 0;
  int last_class = classes[0] == 0 ? 0 : 256;  // 256: a leading non-starter blocks everything
  size_t write = 1;
  for (size_t read = 1; read < cps.size(); ++read) {
    const char32_t cp = cps[read];
    const int cc = classes[read];
    const char32_t composite = compose_pair(cps[starter_pos], cp);
    if (composite != 0 && (last_class < cc || last_class == 0)) {
      cps[starter_pos] = composite;
      continue;
    }
    if (cc == 0) starter_pos = write;
    last_class = cc;
    cps[write++] = cp;
  }
  cps.resize(write);
}

}  // namespace

void normalize(std::string_view text, NormalizationForm form, std::string& out) {
  // Fast path: ASCII is invariant under every normalization form.
  size_t ascii = 0;
  while (ascii < text.size() && static_cast<unsigned char>(text[ascii]) < 0x80) ++ascii;
  if (ascii == text.size()) {
    out.append(text);
    return;
  }
  const bool compatibility = form == NormalizationForm::nfkc || form == NormalizationForm::nfkd;
  const bool composed = form == NormalizationForm::nfc || form == NormalizationForm::nfkc;
  std::vector<char32_t> cps;
  cps.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const char32_t cp = utf8::decode(text, pos);
    decompose_one(cp == utf8::invalid ? 0xFFFD : cp, compatibility, cps);
  }
  std::vector<uint8_t> classes;
  reorder(cps, classes);
  if (composed) compose(cps, classes);
  for (char32_t cp : cps) utf8::append(out, cp);
}

}  // namespace zaya::tokenizer::unicode
