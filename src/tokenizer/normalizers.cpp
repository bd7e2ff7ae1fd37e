// src/tokenizer/normalizers.cpp
#include "tokenizer/normalizers.h"

#include <zaya/utf8.h>

namespace zaya::tokenizer {

void replace_all(std::string& text, const std::string& pattern, const std::string& content) {
  if (pattern.empty()) return;
  size_t found = text.find(pattern);
  if (found == std::string::npos) return;
  std::string out;
  out.reserve(text.size() + (content.size() > pattern.size() ? text.size() / 2 : 0));
  size_t copied = 0;
  while (found != std::string::npos) {
    out.append(text, copied, found - copied);
    out += content;
    copied = found + pattern.size();
    found = text.find(pattern, copied);
  }
  out.append(text, copied, std::string::npos);
  text.swap(out);
}

void ReplaceNormalizer::normalize(std::string& text) const { replace_all(text, pattern_, content_); }

void PrependNormalizer::normalize(std::string& text) const {
  if (text.empty()) return;
  std::string result;  // (string::insert(0, ...) trips a false -Wrestrict in GCC 12.)
  result.reserve(prefix_.size() + text.size());
  result.append(prefix_);
  result.append(text);
  text.swap(result);
}

void StripNormalizer::normalize(std::string& text) const {
  size_t begin = 0, end = text.size();
  if (left_) {
    while (begin < end) {
      size_t next = begin;
      if (!unicode::is_white_space(utf8::decode(text, next))) break;
      begin = next;
    }
  }
  if (right_) {
    while (end > begin) {
      size_t char_start = end - 1;
      while (char_start > begin && (static_cast<unsigned char>(text[char_start]) & 0xC0) == 0x80) --char_start;
      size_t pos = char_start;
      if (!unicode::is_white_space(utf8::decode(text, pos))) break;
      end = char_start;
    }
  }
  if (begin != 0 || end != text.size()) text = text.substr(begin, end - begin);
}

void UnicodeNormalizer::normalize(std::string& text) const {
  std::string out;
  out.reserve(text.size());
  unicode::normalize(text, form_, out);
  text.swap(out);
}

}  // namespace zaya::tokenizer
