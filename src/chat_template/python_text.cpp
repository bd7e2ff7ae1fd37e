// chat_template/python_text.cpp - see python_text.h.
#include "chat_template/python_text.h"

#include <zaya/utf8.h>

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdio>

namespace zaya::jinja {

std::string python_float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  // to_chars in scientific form gives the shortest round-trip digits: "-d.ddde+XX".
  char buf[64];
  auto result = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<size_t>(result.ptr - buf));
  bool negative = false;
  if (!sci.empty() && sci.front() == '-') {
    negative = true;
    sci.remove_prefix(1);
  }
  size_t e_pos = sci.find('e');
  std::string mantissa(sci.substr(0, e_pos));
  int exponent = 0;
  std::from_chars(sci.data() + e_pos + 1 + (sci[e_pos + 1] == '+' ? 1 : 0), sci.data() + sci.size(),
                  exponent);
  std::string digits;
  for (char c : mantissa)
    if (c != '.') digits.push_back(c);
  std::string out = negative ? "-" : "";
  // CPython's repr switches to exponent notation when the decimal exponent is < -4 or >= 16.
  if (exponent < -4 || exponent >= 16) {
    out += digits[0];
    if (digits.size() > 1) {
      out += '.';
      out += digits.substr(1);
    }
    out += fmt::format("e{}{:02d}", exponent < 0 ? '-' : '+', std::abs(exponent));
    return out;
  }
  if (exponent < 0) {
    out += "0.";
    out.append(static_cast<size_t>(-exponent - 1), '0');
    out += digits;
    return out;
  }
  size_t int_digits = static_cast<size_t>(exponent) + 1;
  if (digits.size() <= int_digits) {
    out += digits;
    out.append(int_digits - digits.size(), '0');
    out += ".0";
  } else {
    out += digits.substr(0, int_digits);
    out += '.';
    out += digits.substr(int_digits);
  }
  return out;
}

bool is_python_space(char32_t cp) {
  if (cp < 0x80) return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20);
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

namespace {

// Approximates str.isprintable() for non-ASCII code points: false for C1 controls, separators
// other than the ASCII space, common format characters, surrogates and private use.
bool is_printable_non_ascii(char32_t cp) {
  if (cp <= 0xA0) return false;  // C1 controls and NBSP
  if (cp == 0xAD) return false;
  if (is_python_space(cp)) return false;
  if ((cp >= 0x0600 && cp <= 0x0605) || cp == 0x061C || cp == 0x06DD || cp == 0x070F || cp == 0x180E)
    return false;
  if ((cp >= 0x200B && cp <= 0x200F) || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x206F))
    return false;
  if (cp == 0xFEFF || (cp >= 0xFFF9 && cp <= 0xFFFB) || cp == 0xFFFE || cp == 0xFFFF) return false;
  if (cp >= 0xE000 && cp <= 0xF8FF) return false;
  if (cp >= 0xF0000) return false;
  if (cp >= 0xE0000 && cp <= 0xE007F) return false;
  return true;
}

void append_escaped_code_point(std::string& out, char32_t cp) {
  if (cp <= 0xFF) {
    out += fmt::format("\\x{:02x}", static_cast<unsigned>(cp));
  } else if (cp <= 0xFFFF) {
    out += fmt::format("\\u{:04x}", static_cast<unsigned>(cp));
  } else {
    out += fmt::format("\\U{:08x}", static_cast<unsigned>(cp));
  }
}

}  // namespace

std::string python_string_repr(std::string_view text) {
  char quote = '\'';
  if (text.find('\'') != std::string_view::npos && text.find('"') == std::string_view::npos) quote = '"';
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back(quote);
  size_t pos = 0;
  while (pos < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[pos]);
    if (c < 0x80) {
      ++pos;
      if (c == static_cast<unsigned char>(quote) || c == '\\') {
        out.push_back('\\');
        out.push_back(static_cast<char>(c));
      } else if (c == '\t') {
        out += "\\t";
      } else if (c == '\n') {
        out += "\\n";
      } else if (c == '\r') {
        out += "\\r";
      } else if (c < 0x20 || c == 0x7F) {
        append_escaped_code_point(out, c);
      } else {
        out.push_back(static_cast<char>(c));
      }
      continue;
    }
    size_t start = pos;
    char32_t cp = utf8::decode(text, pos);
    if (cp == utf8::invalid) {
      append_escaped_code_point(out, c);
    } else if (is_printable_non_ascii(cp)) {
      out.append(text.substr(start, pos - start));
    } else {
      append_escaped_code_point(out, cp);
    }
  }
  out.push_back(quote);
  return out;
}

bool is_ascii(std::string_view text) {
  for (char c : text)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

size_t code_point_count(std::string_view text) {
  size_t count = 0;
  for (char c : text)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++count;
  return count;
}

std::vector<size_t> code_point_offsets(std::string_view text) {
  std::vector<size_t> offsets;
  offsets.reserve(text.size() + 1);
  for (size_t i = 0; i < text.size(); ++i)
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) offsets.push_back(i);
  offsets.push_back(text.size());
  return offsets;
}

std::u32string to_code_points(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    char32_t cp = utf8::decode(text, pos);
    out.push_back(cp == utf8::invalid ? U'\uFFFD' : cp);
  }
  return out;
}

std::string from_code_points(std::u32string_view cps) {
  std::string out;
  out.reserve(cps.size());
  for (char32_t cp : cps) utf8::append(out, cp);
  return out;
}

std::string python_strip(std::string_view text, const std::optional<std::string>& chars, bool left,
                         bool right) {
  std::u32string set;
  if (chars) set = to_code_points(*chars);
  auto strip_it = [&](char32_t cp) {
    return chars ? set.find(cp) != std::u32string::npos : is_python_space(cp);
  };
  size_t begin = 0, end = text.size();
  if (left) {
    while (begin < end) {
      size_t next = begin;
      char32_t cp = utf8::decode(text, next);
      if (!strip_it(cp)) break;
      begin = next;
    }
  }
  if (right) {
    while (end > begin) {
      size_t start = end - 1;
      while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
      size_t probe = start;
      char32_t cp = utf8::decode(text, probe);
      if (!strip_it(cp)) break;
      end = start;
    }
  }
  return std::string(text.substr(begin, end - begin));
}

namespace {

// Splits on runs of whitespace, left to right, at most maxsplit times (negative: unlimited).
std::vector<std::string> split_whitespace(std::string_view text, int64_t maxsplit) {
  std::vector<std::string> parts;
  size_t pos = 0;
  auto skip_space = [&] {
    while (pos < text.size()) {
      size_t next = pos;
      if (!is_python_space(utf8::decode(text, next))) break;
      pos = next;
    }
  };
  skip_space();
  while (pos < text.size()) {
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit) {
      // The remainder is kept as it is, trailing whitespace included.
      parts.emplace_back(text.substr(pos));
      return parts;
    }
    size_t start = pos;
    while (pos < text.size()) {
      size_t next = pos;
      if (is_python_space(utf8::decode(text, next))) break;
      pos = next;
    }
    parts.emplace_back(text.substr(start, pos - start));
    skip_space();
  }
  return parts;
}

}  // namespace

std::vector<std::string> python_split(std::string_view text, const std::optional<std::string>& sep,
                                      int64_t maxsplit) {
  if (!sep) return split_whitespace(text, maxsplit);
  std::vector<std::string> parts;
  size_t pos = 0;
  while (true) {
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit) break;
    size_t hit = text.find(*sep, pos);
    if (hit == std::string_view::npos) break;
    parts.emplace_back(text.substr(pos, hit - pos));
    pos = hit + sep->size();
  }
  parts.emplace_back(text.substr(pos));
  return parts;
}

std::vector<std::string> python_rsplit(std::string_view text, const std::optional<std::string>& sep,
                                       int64_t maxsplit) {
  if (maxsplit < 0) return python_split(text, sep, maxsplit);
  std::vector<std::string> parts;  // collected right to left
  if (!sep) {
    size_t end = text.size();
    auto space_before = [&](size_t at, size_t& start) {
      start = at - 1;
      while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
      size_t probe = start;
      return is_python_space(utf8::decode(text, probe));
    };
    size_t start = 0;
    while (end > 0 && space_before(end, start)) end = start;
    while (end > 0) {
      if (static_cast<int64_t>(parts.size()) >= maxsplit) {
        parts.emplace_back(text.substr(0, end));  // leading whitespace included
        break;
      }
      size_t word_start = end;
      while (word_start > 0 && !space_before(word_start, start)) {
        word_start = start;
      }
      parts.emplace_back(text.substr(word_start, end - word_start));
      end = word_start;
      while (end > 0 && space_before(end, start)) end = start;
    }
  } else {
    size_t end = text.size();
    while (static_cast<int64_t>(parts.size()) < maxsplit) {
      if (end < sep->size()) break;
      size_t hit = text.rfind(*sep, end - sep->size());
      if (hit == std::string_view::npos) break;
      parts.emplace_back(text.substr(hit + sep->size(), end - hit - sep->size()));
      end = hit;
    }
    parts.emplace_back(text.substr(0, end));
  }
  return std::vector<std::string>(parts.rbegin(), parts.rend());
}

std::vector<std::string> python_splitlines(std::string_view text, bool keepends) {
  std::vector<std::string> lines;
  size_t pos = 0, line_start = 0;
  while (pos < text.size()) {
    size_t cp_start = pos;
    char32_t cp = utf8::decode(text, pos);
    bool is_break = cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || cp == 0x1C || cp == 0x1D ||
                    cp == 0x1E || cp == 0x85 || cp == 0x2028 || cp == 0x2029;
    if (!is_break) continue;
    if (cp == '\r' && pos < text.size() && text[pos] == '\n') ++pos;
    lines.emplace_back(text.substr(line_start, (keepends ? pos : cp_start) - line_start));
    line_start = pos;
  }
  if (line_start < text.size()) lines.emplace_back(text.substr(line_start));
  return lines;
}

namespace {

struct CaseRange {
  char32_t upper_first, upper_last, lower_first;
};

// Blocks where upper and lower case letters sit in parallel ranges.
constexpr CaseRange kParallelRanges[] = {
    {0x41, 0x5A, 0x61},       {0xC0, 0xD6, 0xE0},       {0xD8, 0xDE, 0xF8},
    {0x391, 0x3A1, 0x3B1},    {0x3A3, 0x3AB, 0x3C3},    {0x400, 0x40F, 0x450},
    {0x410, 0x42F, 0x430},    {0x531, 0x556, 0x561},    {0xFF21, 0xFF3A, 0xFF41},
    {0x388, 0x38A, 0x3AD},
};

// Blocks where an upper case letter is followed by its lower case partner (U+0100 Ā, U+0101 ā).
struct PairedBlock {
  char32_t first, last;
};
constexpr PairedBlock kPairedBlocks[] = {
    {0x100, 0x12F}, {0x132, 0x137}, {0x14A, 0x177}, {0x3D8, 0x3EF}, {0x460, 0x481},
    {0x48A, 0x4BF}, {0x4D0, 0x52F}, {0x1E00, 0x1E95}, {0x1EA0, 0x1EFF},
};
// Blocks where the pairs start on an odd code point (U+0139 Ĺ, U+013A ĺ).
constexpr PairedBlock kOddPairedBlocks[] = {{0x139, 0x148}, {0x179, 0x17E}, {0x4C1, 0x4CE}};

}  // namespace

char32_t to_lower(char32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  for (const auto& r : kParallelRanges)
    if (cp >= r.upper_first && cp <= r.upper_last) return cp - r.upper_first + r.lower_first;
  for (const auto& b : kPairedBlocks)
    if (cp >= b.first && cp <= b.last) return (cp - b.first) % 2 == 0 ? cp + 1 : cp;
  for (const auto& b : kOddPairedBlocks)
    if (cp >= b.first && cp <= b.last) return (cp - b.first) % 2 == 0 ? cp + 1 : cp;
  switch (cp) {
    case 0x178: return 0xFF;
    case 0x130: return 0x69;
    case 0x386: return 0x3AC;
    case 0x38C: return 0x3CC;
    case 0x38E: return 0x3CD;
    case 0x38F: return 0x3CE;
    case 0x1E9E: return 0xDF;
    default: return cp;
  }
}

char32_t to_upper(char32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') ? cp - 32 : cp;
  if (cp == 0xB5) return 0x39C;
  if (cp == 0xFF) return 0x178;
  if (cp == 0x131) return 0x49;
  if (cp == 0x3C2) return 0x3A3;  // final sigma
  if (cp == 0x3AC) return 0x386;
  if (cp == 0x3CC) return 0x38C;
  if (cp == 0x3CD) return 0x38E;
  if (cp == 0x3CE) return 0x38F;
  if (cp == 0x17F) return 0x53;
  for (const auto& r : kParallelRanges) {
    char32_t lower_last = r.lower_first + (r.upper_last - r.upper_first);
    if (cp >= r.lower_first && cp <= lower_last) return cp - r.lower_first + r.upper_first;
  }
  for (const auto& b : kPairedBlocks)
    if (cp >= b.first && cp <= b.last) return (cp - b.first) % 2 == 1 ? cp - 1 : cp;
  for (const auto& b : kOddPairedBlocks)
    if (cp >= b.first && cp <= b.last) return (cp - b.first) % 2 == 1 ? cp - 1 : cp;
  return cp;
}

bool is_cased(char32_t cp) {
  return to_lower(cp) != cp || to_upper(cp) != cp || cp == 0xDF || (cp >= 0x61 && cp <= 0x7A);
}

namespace {

// Appends the upper case form; German sharp s expands to "SS" as in CPython.
void append_upper(std::string& out, char32_t cp) {
  if (cp == 0xDF) {
    out += "SS";
    return;
  }
  utf8::append(out, to_upper(cp));
}

template <typename F>
std::string map_code_points(std::string_view text, F&& map) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[pos]);
    if (c < 0x80) {
      ++pos;
      map(out, static_cast<char32_t>(c));
      continue;
    }
    size_t start = pos;
    char32_t cp = utf8::decode(text, pos);
    if (cp == utf8::invalid) {
      out.append(text.substr(start, pos - start));
    } else {
      map(out, cp);
    }
  }
  return out;
}

}  // namespace

std::string python_upper(std::string_view text) {
  return map_code_points(text, [](std::string& out, char32_t cp) { append_upper(out, cp); });
}

std::string python_lower(std::string_view text) {
  return map_code_points(text, [](std::string& out, char32_t cp) { utf8::append(out, to_lower(cp)); });
}

std::string python_swapcase(std::string_view text) {
  return map_code_points(text, [](std::string& out, char32_t cp) {
    char32_t lower = to_lower(cp);
    if (lower != cp) {
      utf8::append(out, lower);
    } else {
      append_upper(out, cp);
    }
  });
}

std::string python_capitalize(std::string_view text) {
  bool first = true;
  return map_code_points(text, [&](std::string& out, char32_t cp) {
    if (first) {
      append_upper(out, cp);
      first = false;
    } else {
      utf8::append(out, to_lower(cp));
    }
  });
}

std::string python_title(std::string_view text) {
  bool previous_cased = false;
  return map_code_points(text, [&](std::string& out, char32_t cp) {
    bool cased = is_cased(cp);
    if (cased && !previous_cased) {
      append_upper(out, cp);
    } else {
      utf8::append(out, to_lower(cp));
    }
    previous_cased = cased;
  });
}

}  // namespace zaya::jinja
