// src/tokenizer/pre_tokenizers.h - tokenizer.json "pre_tokenizer" components: they cut the
// normalized text into words (and may rewrite them) before the model sees each word.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace zaya::tokenizer {

struct Piece {
  std::string text;
  // True when the piece starts at offset 0 of the original input (what Metaspace's
  // prepend_scheme "first" checks).
  bool at_origin = false;
};

struct ByteRange {
  size_t begin, end;
};

// Something that finds the delimiters of a Split pre-tokenizer.
class SplitPattern {
 public:
  virtual ~SplitPattern() = default;
  // Appends the non-overlapping matches in `text`, left to right.
  virtual void find_matches(std::string_view text, std::vector<ByteRange>& matches) const = 0;
};

class LiteralPattern final : public SplitPattern {
 public:
  explicit LiteralPattern(std::string literal) : literal_(std::move(literal)) {}
  void find_matches(std::string_view text, std::vector<ByteRange>& matches) const override;

 private:
  std::string literal_;
};

// Hand-written matchers for the well-known word-splitting regexes of byte-level BPE tokenizers:
//   gpt2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   llama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   qwen2:  the llama3 pattern with \p{N} instead of \p{N}{1,3}
// Matching follows backtracking (leftmost-first alternation) semantics, as Oniguruma does.
class WordRegexPattern final : public SplitPattern {
 public:
  enum class Flavor { gpt2, llama3, qwen2 };
  explicit WordRegexPattern(Flavor flavor) : flavor_(flavor) {}
  void find_matches(std::string_view text, std::vector<ByteRange>& matches) const override;
  // Recognizes one of the patterns above (as written in tokenizer.json); nullptr otherwise.
  static std::unique_ptr<WordRegexPattern> recognize(std::string_view regex);

 private:
  size_t match_at(std::string_view text, size_t pos) const;
  Flavor flavor_;
};

enum class SplitBehavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

// Splits `text` around the matches of `pattern` (upstream NormalizedString::split). Appends the
// resulting non-empty ranges.
void split_text(std::string_view text, const SplitPattern& pattern, SplitBehavior behavior, bool invert,
                std::vector<ByteRange>& out);

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by their sub-pieces; empty pieces are dropped.
  virtual void pre_tokenize(std::vector<Piece>& pieces) const = 0;
};

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(std::unique_ptr<SplitPattern> pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override;

 private:
  std::unique_ptr<SplitPattern> pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

enum class PrependScheme { always, first, never };

class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override;

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex), regex_(WordRegexPattern::Flavor::gpt2) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override;

 private:
  bool add_prefix_space_, use_regex_;
  WordRegexPattern regex_;
};

// Splits digits from the rest (individual_digits: each digit on its own).
class DigitsPreTokenizer final : public PreTokenizer {
 public:
  explicit DigitsPreTokenizer(bool individual_digits) : individual_(individual_digits) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override;

 private:
  bool individual_;
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for (const auto& step : steps_) step->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

// GPT-2's reversible byte <-> printable character mapping used by ByteLevel components.
const std::array<std::string, 256>& byte_level_chars();
// Inverse mapping: code point -> byte, or -1 when the character is not part of the alphabet.
int byte_level_byte(char32_t cp);

}  // namespace zaya::tokenizer
