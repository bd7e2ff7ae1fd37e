// src/tokenizer/pre_tokenizers.cpp
#include "tokenizer/pre_tokenizers.h"

#include "tokenizer/unicode.h"

#include <zaya/utf8.h>

namespace zaya::tokenizer {
namespace {

enum CharClass : uint8_t { letter_class, number_class, space_class, other_class };

CharClass classify(char32_t cp) {
  if (cp < 0x80) {  // ASCII fast path
    if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') return letter_class;
    if (cp >= '0' && cp <= '9') return number_class;
    if (cp == ' ' || (cp >= '\t' && cp <= '\r')) return space_class;
    return other_class;
  }
  const uint8_t p = unicode::properties(cp);
  if (p & unicode::letter) return letter_class;
  if (p & unicode::number) return number_class;
  if (p & unicode::white_space) return space_class;
  return other_class;
}

// Code point at text[pos], with the position after it.
struct Char {
  char32_t cp;
  size_t next;
};
inline Char char_at(std::string_view text, size_t pos) {
  const unsigned char c = static_cast<unsigned char>(text[pos]);
  if (c < 0x80) return Char{c, pos + 1};
  size_t next = pos;
  char32_t cp = utf8::decode(text, next);
  return Char{cp, next};
}

// End of the run of characters of class `cls` starting at pos.
size_t run_end(std::string_view text, size_t pos, CharClass cls) {
  while (pos < text.size()) {
    const Char c = char_at(text, pos);
    if (classify(c.cp) != cls) break;
    pos = c.next;
  }
  return pos;
}

// (string::insert(0, ...) trips a false -Wrestrict in GCC 12.)
void prepend(std::string& text, std::string_view prefix) {
  std::string result;
  result.reserve(prefix.size() + text.size());
  result.append(prefix);
  result.append(text);
  text.swap(result);
}

char32_t ascii_lower(char32_t cp) { return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp; }

}  // namespace

void LiteralPattern::find_matches(std::string_view text, std::vector<ByteRange>& matches) const {
  if (literal_.empty()) return;
  for (size_t found = text.find(literal_); found != std::string_view::npos;
       found = text.find(literal_, found + literal_.size())) {
    matches.push_back(ByteRange{found, found + literal_.size()});
  }
}

std::unique_ptr<WordRegexPattern> WordRegexPattern::recognize(std::string_view regex) {
  static constexpr std::string_view gpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
  static constexpr std::string_view llama3 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  static constexpr std::string_view qwen2 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  if (regex == gpt2) return std::make_unique<WordRegexPattern>(Flavor::gpt2);
  if (regex == llama3) return std::make_unique<WordRegexPattern>(Flavor::llama3);
  if (regex == qwen2) return std::make_unique<WordRegexPattern>(Flavor::qwen2);
  return nullptr;
}

// Length in bytes of the match starting at pos (always > 0: every character is covered by one of
// the alternatives).
size_t WordRegexPattern::match_at(std::string_view text, size_t pos) const {
  const Char c0 = char_at(text, pos);
  const CharClass k0 = classify(c0.cp);
  const bool has_c1 = c0.next < text.size();
  const Char c1 = has_c1 ? char_at(text, c0.next) : Char{0, c0.next};
  const CharClass k1 = has_c1 ? classify(c1.cp) : other_class;
  const bool case_insensitive = flavor_ != Flavor::gpt2;

  // Contractions: 's 't 're 've 'm 'll 'd
  if (c0.cp == '\'' && has_c1) {
    const char32_t a = case_insensitive ? ascii_lower(c1.cp) : c1.cp;
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return c1.next - pos;
    if (c1.next < text.size()) {
      const Char c2 = char_at(text, c1.next);
      const char32_t b = case_insensitive ? ascii_lower(c2.cp) : c2.cp;
      if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return c2.next - pos;
    }
  }

  if (flavor_ == Flavor::gpt2) {
    //  ?\p{L}+ |  ?\p{N}+ |  ?[^\s\p{L}\p{N}]+
    if (c0.cp == ' ' && has_c1 && k1 != space_class) return run_end(text, c1.next, k1) - pos;
    if (k0 != space_class) return run_end(text, c0.next, k0) - pos;
  } else {
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (k0 != letter_class && k0 != number_class && c0.cp != '\r' && c0.cp != '\n' && has_c1 && k1 == letter_class)
      return run_end(text, c1.next, letter_class) - pos;
    if (k0 == letter_class) return run_end(text, c0.next, letter_class) - pos;
    // \p{N}{1,3}  or  \p{N}
    if (k0 == number_class) {
      size_t end = c0.next;
      const int max_digits = flavor_ == Flavor::llama3 ? 3 : 1;
      for (int n = 1; n < max_digits && end < text.size(); ++n) {
        const Char c = char_at(text, end);
        if (classify(c.cp) != number_class) break;
        end = c.next;
      }
      return end - pos;
    }
    //  ?[^\s\p{L}\p{N}]+[\r\n]*
    size_t other_end = 0;
    if (c0.cp == ' ' && has_c1 && k1 == other_class) {
      other_end = run_end(text, c1.next, other_class);
    } else if (k0 == other_class) {
      other_end = run_end(text, c0.next, other_class);
    }
    if (other_end != 0) {
      while (other_end < text.size() && (text[other_end] == '\r' || text[other_end] == '\n')) ++other_end;
      return other_end - pos;
    }
  }

  // White space: k0 == space_class here.
  size_t run = pos, last_newline_end = 0, chars = 0, before_last = pos;
  while (run < text.size()) {
    const Char c = char_at(text, run);
    if (classify(c.cp) != space_class) break;
    if (c.cp == '\r' || c.cp == '\n') last_newline_end = c.next;
    before_last = run;
    run = c.next;
    ++chars;
  }
  // \s*[\r\n]+ (llama3 / qwen2): up to and including the last line break of the run.
  if (flavor_ != Flavor::gpt2 && last_newline_end != 0) return last_newline_end - pos;
  // \s+(?!\S): the whole run at the end of the text, else all but its last character.
  if (run == text.size()) return run - pos;
  if (chars >= 2) return before_last - pos;
  // \s+
  return run - pos;
}

void WordRegexPattern::find_matches(std::string_view text, std::vector<ByteRange>& matches) const {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t length = match_at(text, pos);
    matches.push_back(ByteRange{pos, pos + length});
    pos += length;
  }
}

void split_text(std::string_view text, const SplitPattern& pattern, SplitBehavior behavior, bool invert,
                std::vector<ByteRange>& out) {
  if (text.empty()) return;
  thread_local std::vector<ByteRange> matches;
  thread_local std::vector<std::pair<ByteRange, bool>> pieces;  // (range, is_match) covering text
  matches.clear();
  pieces.clear();
  pattern.find_matches(text, matches);
  size_t previous = 0;
  for (const ByteRange& m : matches) {
    if (previous != m.begin) pieces.push_back({ByteRange{previous, m.begin}, invert});
    pieces.push_back({m, !invert});
    previous = m.end;
  }
  if (previous != text.size()) pieces.push_back({ByteRange{previous, text.size()}, invert});

  auto emit = [&out](ByteRange r) {
    if (r.end > r.begin) out.push_back(r);
  };
  switch (behavior) {
    case SplitBehavior::removed:
      for (const auto& [range, is_match] : pieces)
        if (!is_match) emit(range);
      break;
    case SplitBehavior::isolated:
      for (const auto& piece : pieces) emit(piece.first);
      break;
    case SplitBehavior::contiguous:
    case SplitBehavior::merged_with_previous: {
      // Contiguous joins runs of the same kind; MergedWithPrevious glues a match to what precedes.
      std::vector<ByteRange> merged;
      bool previous_match = false;
      for (const auto& [range, is_match] : pieces) {
        const bool join = behavior == SplitBehavior::contiguous ? is_match == previous_match
                                                                : is_match && !previous_match;
        if (join && !merged.empty()) {
          merged.back().end = range.end;
        } else {
          merged.push_back(range);
        }
        previous_match = is_match;
      }
      for (const ByteRange& r : merged) emit(r);
      break;
    }
    case SplitBehavior::merged_with_next: {
      std::vector<ByteRange> merged;  // built right to left
      bool previous_match = false;
      for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) {
        const auto& [range, is_match] = *it;
        if (is_match && !previous_match && !merged.empty()) {
          merged.back().begin = range.begin;
        } else {
          merged.push_back(range);
        }
        previous_match = is_match;
      }
      for (auto it = merged.rbegin(); it != merged.rend(); ++it) emit(*it);
      break;
    }
  }
}

namespace {

// Applies `split` to every piece; sub-pieces inherit at_origin only when they start the piece.
template <typename SplitFn>
void split_pieces(std::vector<Piece>& pieces, SplitFn&& split) {
  std::vector<Piece> result;
  result.reserve(pieces.size());
  std::vector<ByteRange> ranges;
  for (Piece& piece : pieces) {
    ranges.clear();
    split(piece, ranges);
    if (ranges.size() == 1 && ranges[0].begin == 0 && ranges[0].end == piece.text.size()) {
      result.push_back(std::move(piece));
      continue;
    }
    for (const ByteRange& r : ranges)
      result.push_back(Piece{piece.text.substr(r.begin, r.end - r.begin), piece.at_origin && r.begin == 0});
  }
  pieces.swap(result);
}

}  // namespace

void SplitPreTokenizer::pre_tokenize(std::vector<Piece>& pieces) const {
  split_pieces(pieces, [this](const Piece& piece, std::vector<ByteRange>& ranges) {
    split_text(piece.text, *pattern_, behavior_, invert_, ranges);
  });
}

void MetaspacePreTokenizer::pre_tokenize(std::vector<Piece>& pieces) const {
  for (Piece& piece : pieces) {
    std::string& text = piece.text;
    // Replace ' ' with the replacement character.
    if (text.find(' ') != std::string::npos) {
      std::string replaced;
      replaced.reserve(text.size() + text.size() / 2);
      for (char c : text) {
        if (c == ' ') {
          replaced += replacement_;
        } else {
          replaced.push_back(c);
        }
      }
      text.swap(replaced);
    }
    const bool starts_with_replacement = text.compare(0, replacement_.size(), replacement_) == 0;
    if (!starts_with_replacement &&
        (scheme_ == PrependScheme::always || (scheme_ == PrependScheme::first && piece.at_origin))) {
      prepend(text, replacement_);
    }
  }
  if (!split_) return;
  const LiteralPattern pattern(replacement_);
  split_pieces(pieces, [&pattern](const Piece& piece, std::vector<ByteRange>& ranges) {
    split_text(piece.text, pattern, SplitBehavior::merged_with_next, false, ranges);
  });
}

const std::array<std::string, 256>& byte_level_chars() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    char32_t next_extra = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      const char32_t cp = printable ? static_cast<char32_t>(b) : next_extra++;
      utf8::append(t[static_cast<size_t>(b)], cp);
    }
    return t;
  }();
  return table;
}

int byte_level_byte(char32_t cp) {
  static const std::array<int16_t, 324> inverse = [] {
    std::array<int16_t, 324> t;
    t.fill(-1);
    char32_t next_extra = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      const char32_t cp_of_b = printable ? static_cast<char32_t>(b) : next_extra++;
      t[cp_of_b] = static_cast<int16_t>(b);
    }
    return t;
  }();
  return cp < inverse.size() ? inverse[cp] : -1;
}

void ByteLevelPreTokenizer::pre_tokenize(std::vector<Piece>& pieces) const {
  if (add_prefix_space_) {
    for (Piece& piece : pieces)
      if (piece.text.empty() || piece.text[0] != ' ') prepend(piece.text, " ");
  }
  if (use_regex_) {
    split_pieces(pieces, [this](const Piece& piece, std::vector<ByteRange>& ranges) {
      split_text(piece.text, regex_, SplitBehavior::isolated, false, ranges);
    });
  }
  const auto& chars = byte_level_chars();
  for (Piece& piece : pieces) {
    std::string mapped;
    mapped.reserve(piece.text.size() * 2);
    for (unsigned char b : piece.text) mapped += chars[b];
    piece.text.swap(mapped);
  }
}

namespace {
class DigitPattern final : public SplitPattern {
 public:
  void find_matches(std::string_view text, std::vector<ByteRange>& matches) const override {
    for (size_t pos = 0; pos < text.size();) {
      const Char c = char_at(text, pos);
      if (classify(c.cp) == number_class) matches.push_back(ByteRange{pos, c.next});
      pos = c.next;
    }
  }
};
}  // namespace

void DigitsPreTokenizer::pre_tokenize(std::vector<Piece>& pieces) const {
  static const DigitPattern pattern;
  const SplitBehavior behavior = individual_ ? SplitBehavior::isolated : SplitBehavior::contiguous;
  split_pieces(pieces, [behavior](const Piece& piece, std::vector<ByteRange>& ranges) {
    split_text(piece.text, pattern, behavior, false, ranges);
  });
}

}  // namespace zaya::tokenizer
