// src/tokenizer/added_vocabulary.h - tokenizer.json "added_tokens": matched in the text before
// the model ever sees it (special tokens like <start_of_turn>, but also Gemma's "\n" and tab runs).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace zaya::tokenizer {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;
  bool single_word = false;  // only match when not inside a word (\w on either side)
  bool lstrip = false;       // also swallow the white space on the left
  bool rstrip = false;       // also swallow the white space on the right
  bool normalized = true;    // match against the normalized text instead of the raw text
};

// A piece of the text after added-token extraction: either an added token id, or a text range.
struct TextSplit {
  size_t begin = 0, end = 0;
  int32_t token_id = -1;  // -1: plain text to normalize / pre-tokenize / run through the model
};

// Leftmost-longest multi-pattern matcher over bytes (what upstream gets from aho-corasick with
// MatchKind::LeftmostLongest): scan left to right, at the first position where some pattern
// matches take the longest one, continue after it.
class AddedTokenMatcher {
 public:
  // `tokens` must outlive the matcher; patterns are given separately because normalized tokens are
  // matched by their normalized form.
  void build(const std::vector<const AddedToken*>& tokens, const std::vector<std::string>& patterns);
  bool empty() const noexcept { return tokens_.empty(); }

  // Splits `text` into pieces covering it, applying single_word / lstrip / rstrip like upstream.
  // Appends to `out`; offsets are relative to `text`, plus `base`.
  void split(std::string_view text, size_t base, std::vector<TextSplit>& out) const;

 private:
  struct Node {
    int32_t token = -1;          // index into tokens_ of the pattern ending here, or -1
    uint32_t first_edge = 0;     // edges_[first_edge, first_edge + edge_count) sorted by byte
    uint32_t edge_count = 0;
  };
  struct Edge {
    unsigned char byte;
    uint32_t child;
  };
  // Longest pattern starting at text[pos]: returns token index and sets length, or -1.
  int32_t longest_match(std::string_view text, size_t pos, size_t& length) const;

  std::vector<const AddedToken*> tokens_;
  std::vector<Node> nodes_;
  std::vector<Edge> edges_;
  bool can_start_[256] = {};
};

}  // namespace zaya::tokenizer
