// zaya/utf8.h - UTF-8 validation, decoding and encoding (header-only, strict RFC 3629:
// no overlong forms, no surrogates, nothing above U+10FFFF).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace zaya::utf8 {

inline constexpr char32_t invalid = 0xFFFFFFFFu;

// Decodes the code point starting at text[pos]; on success advances pos past it. On an invalid
// or truncated sequence returns `invalid` and advances pos by one byte.
inline char32_t decode(std::string_view text, size_t& pos) noexcept {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  unsigned char c = s[pos];
  if (c < 0x80) { ++pos; return c; }
  int len = 0;
  char32_t cp = 0, min_cp = 0;
  if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min_cp = 0x80; }
  else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min_cp = 0x800; }
  else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min_cp = 0x10000; }
  else { ++pos; return invalid; }
  if (pos + static_cast<size_t>(len) > n) { ++pos; return invalid; }
  for (int i = 1; i < len; ++i) {
    unsigned char cc = s[pos + static_cast<size_t>(i)];
    if ((cc & 0xC0) != 0x80) { ++pos; return invalid; }
    cp = (cp << 6) | (cc & 0x3F);
  }
  if (cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) { ++pos; return invalid; }
  pos += static_cast<size_t>(len);
  return cp;
}

// Offset of the first byte that does not start a valid sequence, or text.size() if all valid.
inline size_t first_invalid(std::string_view text) noexcept {
  size_t pos = 0;
  while (pos < text.size()) {
    // fast path for ASCII runs
    if (static_cast<unsigned char>(text[pos]) < 0x80) { ++pos; continue; }
    size_t start = pos;
    if (decode(text, pos) == invalid) return start;
  }
  return text.size();
}

inline bool is_valid(std::string_view text) noexcept { return first_invalid(text) == text.size(); }

// Number of bytes at the end of `text` that form the start of a multi-byte sequence that is
// not yet complete (0..3). Streaming decoders hold these back until more bytes arrive.
inline size_t incomplete_tail(std::string_view text) noexcept {
  const size_t n = text.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    unsigned char c = static_cast<unsigned char>(text[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead byte
    size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

inline void append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace zaya::utf8
