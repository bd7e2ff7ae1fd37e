// src/tokenizer/added_vocabulary.cpp - the added-token matcher.
#include "tokenizer/added_vocabulary.h"

#include "tokenizer/unicode.h"

#include <zaya/utf8.h>

#include <algorithm>
#include <map>

namespace zaya::tokenizer {
namespace {

// Code point ending at text[end) (text is valid UTF-8).
char32_t last_code_point(std::string_view text, size_t end) {
  size_t start = end;
  while (start > 0) {
    --start;
    if ((static_cast<unsigned char>(text[start]) & 0xC0) != 0x80) break;
  }
  size_t pos = start;
  return utf8::decode(text, pos);
}

char32_t first_code_point(std::string_view text, size_t begin) {
  size_t pos = begin;
  return utf8::decode(text, pos);
}

// Byte offset where the white space at the end of text[0, end) starts (upstream: `\s*$`).
size_t trailing_space_start(std::string_view text, size_t end) {
  size_t start = end;
  while (start > 0) {
    size_t char_start = start - 1;
    while (char_start > 0 && (static_cast<unsigned char>(text[char_start]) & 0xC0) == 0x80) --char_start;
    size_t pos = char_start;
    if (!unicode::is_white_space(utf8::decode(text, pos))) break;
    start = char_start;
  }
  return start;
}

// Length of the white space at the start of text[begin, ...) (upstream: `^\s*`).
size_t leading_space_length(std::string_view text, size_t begin) {
  size_t pos = begin;
  while (pos < text.size()) {
    size_t next = pos;
    if (!unicode::is_white_space(utf8::decode(text, next))) break;
    pos = next;
  }
  return pos - begin;
}

}  // namespace

void AddedTokenMatcher::build(const std::vector<const AddedToken*>& tokens, const std::vector<std::string>& patterns) {
  tokens_ = tokens;
  nodes_.clear();
  edges_.clear();
  std::fill(std::begin(can_start_), std::end(can_start_), false);

  // Build with ordered child maps, then flatten into sorted edge arrays.
  struct BuildNode {
    int32_t token = -1;
    std::map<unsigned char, uint32_t> children;
  };
  std::vector<BuildNode> build_nodes(1);
  for (size_t i = 0; i < patterns.size(); ++i) {
    const std::string& pattern = patterns[i];
    if (pattern.empty()) continue;  // upstream ignores empty added tokens
    can_start_[static_cast<unsigned char>(pattern[0])] = true;
    uint32_t node = 0;
    for (unsigned char byte : pattern) {
      auto it = build_nodes[node].children.find(byte);
      if (it == build_nodes[node].children.end()) {
        const uint32_t child = static_cast<uint32_t>(build_nodes.size());
        build_nodes[node].children.emplace(byte, child);
        build_nodes.emplace_back();
        node = child;
      } else {
        node = it->second;
      }
    }
    if (build_nodes[node].token < 0) build_nodes[node].token = static_cast<int32_t>(i);  // first one wins
  }
  nodes_.resize(build_nodes.size());
  for (size_t n = 0; n < build_nodes.size(); ++n) {
    nodes_[n].token = build_nodes[n].token;
    nodes_[n].first_edge = static_cast<uint32_t>(edges_.size());
    nodes_[n].edge_count = static_cast<uint32_t>(build_nodes[n].children.size());
    for (const auto& [byte, child] : build_nodes[n].children) edges_.push_back(Edge{byte, child});
  }
  if (build_nodes.size() == 1) tokens_.clear();
}

int32_t AddedTokenMatcher::longest_match(std::string_view text, size_t pos, size_t& length) const {
  int32_t best = -1;
  uint32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const unsigned char byte = static_cast<unsigned char>(text[i]);
    const Node& n = nodes_[node];
    const Edge* begin = edges_.data() + n.first_edge;
    const Edge* end = begin + n.edge_count;
    const Edge* it = std::lower_bound(begin, end, byte, [](const Edge& e, unsigned char b) { return e.byte < b; });
    if (it == end || it->byte != byte) break;
    node = it->child;
    if (nodes_[node].token >= 0) {
      best = nodes_[node].token;
      length = i + 1 - pos;
    }
  }
  return best;
}

void AddedTokenMatcher::split(std::string_view text, size_t base, std::vector<TextSplit>& out) const {
  if (text.empty()) return;
  if (tokens_.empty()) {
    out.push_back(TextSplit{base, base + text.size(), -1});
    return;
  }
  size_t start_offset = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    if (!can_start_[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    size_t length = 0;
    const int32_t index = longest_match(text, pos, length);
    if (index < 0) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = pos + length;
    pos = stop;  // the next match is searched after this one, whatever happens to it below
    const AddedToken& token = *tokens_[static_cast<size_t>(index)];
    if (token.single_word) {
      const bool space_before = start == 0 || !unicode::is_word_char(last_code_point(text, start));
      const bool space_after = stop == text.size() || !unicode::is_word_char(first_code_point(text, stop));
      if (!space_before || !space_after) continue;
    }
    if (token.lstrip) start = std::max(trailing_space_start(text, start), start_offset);
    if (token.rstrip) stop += leading_space_length(text, stop);
    if (start_offset < start) out.push_back(TextSplit{base + start_offset, base + start, -1});
    out.push_back(TextSplit{base + start, base + stop, token.id});
    start_offset = stop;
  }
  if (start_offset < text.size()) out.push_back(TextSplit{base + start_offset, base + text.size(), -1});
}

}  // namespace zaya::tokenizer
