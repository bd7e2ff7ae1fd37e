// src/tokenizer/decoders.cpp
#include "tokenizer/decoders.h"

#include "tokenizer/normalizers.h"
#include "tokenizer/pre_tokenizers.h"

#include <zaya/utf8.h>

namespace zaya::tokenizer {
namespace {

constexpr std::string_view replacement_character = "\xEF\xBF\xBD";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::vector<char32_t> code_points(std::string_view text) {
  std::vector<char32_t> cps;
  for (size_t pos = 0; pos < text.size();) cps.push_back(utf8::decode(text, pos));
  return cps;
}

}  // namespace

bool parse_byte_token(std::string_view token, unsigned char& byte) {
  // Upstream: len == 6, "<0x" prefix, ">" suffix, u8::from_str_radix(&token[3..5], 16).
  // from_str_radix also accepts a leading '+' ("<0x+A>" is byte 0x0A), so we do too.
  if (token.size() != 6 || token.substr(0, 3) != "<0x" || token[5] != '>') return false;
  const int hi = hex_value(token[3]), lo = hex_value(token[4]);
  if (hi >= 0 && lo >= 0) {
    byte = static_cast<unsigned char>(hi * 16 + lo);
    return true;
  }
  if (token[3] == '+' && lo >= 0) {
    byte = static_cast<unsigned char>(lo);
    return true;
  }
  return false;
}

void append_utf8_lossy(std::string& out, std::string_view bytes) {
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  auto at = [&](size_t i) -> unsigned char { return i < n ? s[i] : 0; };
  auto is_continuation = [](unsigned char c) { return (c & 0xC0) == 0x80; };
  size_t i = 0;
  while (i < n) {
    const unsigned char lead = s[i];
    const size_t start = i;
    ++i;
    if (lead < 0x80) {
      out.push_back(static_cast<char>(lead));
      continue;
    }
    bool valid = false;
    if (lead >= 0xC2 && lead <= 0xDF) {
      if (is_continuation(at(i))) {
        ++i;
        valid = true;
      }
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      const unsigned char c1 = at(i);
      const bool ok = (lead == 0xE0 && c1 >= 0xA0 && c1 <= 0xBF) || (lead >= 0xE1 && lead <= 0xEC && is_continuation(c1)) ||
                      (lead == 0xED && c1 >= 0x80 && c1 <= 0x9F) || (lead >= 0xEE && is_continuation(c1));
      if (ok) {
        ++i;
        if (is_continuation(at(i))) {
          ++i;
          valid = true;
        }
      }
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      const unsigned char c1 = at(i);
      const bool ok = (lead == 0xF0 && c1 >= 0x90 && c1 <= 0xBF) || (lead >= 0xF1 && lead <= 0xF3 && is_continuation(c1)) ||
                      (lead == 0xF4 && c1 >= 0x80 && c1 <= 0x8F);
      if (ok) {
        ++i;
        if (is_continuation(at(i))) {
          ++i;
          if (is_continuation(at(i))) {
            ++i;
            valid = true;
          }
        }
      }
    }
    if (valid) {
      out.append(bytes.substr(start, i - start));
    } else {
      out.append(replacement_character);  // the lead plus the continuation bytes that fit
    }
  }
}

void ReplaceDecoder::decode_chain(std::vector<std::string>& tokens, DecodeContext&) const {
  for (std::string& token : tokens) replace_all(token, pattern_, content_);
}

void ReplaceDecoder::streaming_traits(StreamingTraits& traits, bool& fused) const {
  // Per token it is exact; on a fused fragment a multi-character pattern could straddle windows.
  size_t pattern_chars = 0;
  for (size_t pos = 0; pos < pattern_.size();) {
    utf8::decode(pattern_, pos);
    ++pattern_chars;
  }
  if (fused && pattern_chars > 1) traits.window_safe = false;
}

void ByteFallbackDecoder::decode_chain(std::vector<std::string>& tokens, DecodeContext&) const {
  std::vector<std::string> result;
  result.reserve(tokens.size());
  std::string pending_bytes;
  auto flush = [&] {
    if (pending_bytes.empty()) return;
    if (utf8::is_valid(pending_bytes)) {
      result.push_back(pending_bytes);
    } else {
      // Upstream replaces every byte of an invalid run, not just the invalid part.
      for (size_t i = 0; i < pending_bytes.size(); ++i) result.emplace_back(replacement_character);
    }
    pending_bytes.clear();
  };
  for (std::string& token : tokens) {
    unsigned char byte = 0;
    if (parse_byte_token(token, byte)) {
      pending_bytes.push_back(static_cast<char>(byte));
    } else {
      flush();
      result.push_back(std::move(token));
    }
  }
  flush();
  tokens.swap(result);
}

void ByteFallbackDecoder::streaming_traits(StreamingTraits& traits, bool& fused) const {
  traits.has_byte_fallback = true;
  // After a Fuse the whole text is one token, which is a byte token only if it is all of the text.
  if (fused) traits.window_safe = false;
}

void FuseDecoder::decode_chain(std::vector<std::string>& tokens, DecodeContext& context) const {
  std::string joined;
  size_t total = 0;
  for (const std::string& token : tokens) total += token.size();
  joined.reserve(total);
  for (const std::string& token : tokens) joined += token;
  tokens.clear();
  tokens.push_back(std::move(joined));
  context.fused = true;
}

void StripDecoder::decode_chain(std::vector<std::string>& tokens, DecodeContext& context) const {
  for (std::string& token : tokens) {
    const std::vector<char32_t> cps = code_points(token);
    size_t start_cut = 0;
    // On a fused fragment that does not start the text, the start was already stripped.
    const bool may_strip_start = !context.fused || context.at_start;
    if (may_strip_start) {
      for (size_t i = 0; i < start_ && i < cps.size(); ++i) {
        if (cps[i] != content_) break;
        start_cut = i + 1;
      }
    }
    size_t stop_cut = cps.size();
    for (size_t i = 0; i < stop_ && i < cps.size(); ++i) {
      const size_t index = cps.size() - i - 1;
      if (cps[index] != content_) break;
      stop_cut = index;
    }
    if (start_cut == 0 && stop_cut == cps.size()) continue;
    std::string stripped;
    for (size_t i = start_cut; i < stop_cut; ++i) utf8::append(stripped, cps[i]);
    token.swap(stripped);
  }
}

void StripDecoder::streaming_traits(StreamingTraits& traits, bool& fused) const {
  if (fused && stop_ > 0) traits.window_safe = false;  // the end of the text is only known at finish
}

void MetaspaceDecoder::decode_chain(std::vector<std::string>& tokens, DecodeContext& context) const {
  for (size_t i = 0; i < tokens.size(); ++i) {
    std::string& token = tokens[i];
    // Upstream drops every replacement character of the first token (they stand for the space the
    // encoder prepended) and turns the others into spaces.
    const bool drop = strip_leading_ && i == 0 && context.at_start;
    std::string out;
    out.reserve(token.size());
    for (size_t pos = 0; pos < token.size();) {
      const size_t start = pos;
      const char32_t cp = utf8::decode(token, pos);
      if (cp == replacement_) {
        if (!drop) out.push_back(' ');
      } else {
        out.append(token, start, pos - start);
      }
    }
    token.swap(out);
  }
}

void ByteLevelDecoder::decode_chain(std::vector<std::string>& tokens, DecodeContext& context) const {
  std::string bytes;
  for (const std::string& token : tokens) {
    // A token made only of byte-level characters maps back to its bytes; anything else (e.g. an
    // added token like "<|im_start|>" with characters outside the alphabet) is kept as it is.
    const size_t mark = bytes.size();
    bool all_mapped = true;
    for (size_t pos = 0; pos < token.size();) {
      const int b = byte_level_byte(utf8::decode(token, pos));
      if (b < 0) {
        all_mapped = false;
        break;
      }
      bytes.push_back(static_cast<char>(b));
    }
    if (!all_mapped) {
      bytes.resize(mark);
      bytes += token;
    }
  }
  context.incomplete_tail = utf8::incomplete_tail(bytes) > 0;
  std::string text;
  text.reserve(bytes.size());
  append_utf8_lossy(text, bytes);
  tokens.clear();
  tokens.push_back(std::move(text));
  context.fused = true;
}

}  // namespace zaya::tokenizer
