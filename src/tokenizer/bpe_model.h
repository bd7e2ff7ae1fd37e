// src/tokenizer/bpe_model.h - the BPE model of tokenizer.json ("model": {"type": "BPE", ...}).
//
// Behaviour matches the reference implementation (tokenizers' models/bpe): each character of a
// word becomes its vocabulary id (or its <0xXX> byte tokens with byte_fallback, or the unknown
// token, fused with neighbouring unknowns when fuse_unk), then adjacent pairs are merged lowest
// rank first (ties: leftmost) until no merge applies.
#pragma once

#include "tokenizer/hash_tables.h"

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace zaya::tokenizer {

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};

class BpeModel {
 public:
  explicit BpeModel(BpeOptions options = {}) : options_(std::move(options)) {}

  // Loading, in this order: add_token for every vocabulary entry, build_vocab_index, then
  // add_merges for the merges in order (rank = position in the merges list). Errors are
  // zaya::Error(bad_format).
  void reserve(size_t tokens, size_t text_bytes);
  void add_token(std::string_view token, int64_t id);
  void build_vocab_index();
  void reserve_merges(size_t count) { merges_.reserve(count); }
  struct MergeText {
    std::string_view left, right;
  };
  // Merges ranked first_rank, first_rank + 1, ... Batches of a few dozen let the hash-table
  // lookups overlap their cache misses (loading half a million merges is mostly cache misses).
  void add_merges(std::span<const MergeText> merges, uint32_t first_rank);

  // Appends the ids of one pre-tokenized word.
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;

  int32_t find(std::string_view token) const noexcept { return vocab_.find(token); }
  // Empty for ids that are out of range or unused.
  std::string_view token(int32_t id) const noexcept {
    if (id < 0 || static_cast<size_t>(id) >= entries_.size() || entries_[static_cast<size_t>(id)].size == unused)
      return {};
    const Entry& e = entries_[static_cast<size_t>(id)];
    return std::string_view(arena_.data() + e.offset, e.size);
  }
  bool has_id(int32_t id) const noexcept {
    return id >= 0 && static_cast<size_t>(id) < entries_.size() && entries_[static_cast<size_t>(id)].size != unused;
  }
  // Highest id + 1 (0 for an empty vocabulary).
  size_t id_limit() const noexcept { return entries_.size(); }
  size_t token_count() const noexcept { return vocab_.size(); }
  size_t merge_count() const noexcept { return merges_.size(); }
  const BpeOptions& options() const noexcept { return options_; }

 private:
  static constexpr uint32_t unused = 0xFFFFFFFFu;
  struct Entry {
    uint32_t offset = 0;
    uint32_t size = unused;
  };

  // Id of the single character `ch` of a word (with prefix/suffix applied), or -1.
  int32_t char_id(std::string_view ch, bool first, bool last, std::string& scratch) const;
  [[noreturn]] void missing_unk() const;

  BpeOptions options_;
  std::string arena_;             // all token texts, back to back
  std::vector<Entry> entries_;    // id -> text in arena_
  struct PendingToken {
    uint32_t offset, size;
    int32_t id;
  };
  std::vector<PendingToken> pending_;  // added tokens until build_vocab_index
  StringIdMap vocab_;
  MergeMap merges_;
  std::string merged_scratch_;
  std::vector<uint32_t> merged_offsets_;
  std::vector<int32_t> batch_ids_;
  bool has_affixes_ = false;
  int32_t unk_id_ = -1;
  std::array<int32_t, 256> byte_ids_{};  // <0xXX> token ids, -1 if absent
  std::vector<int32_t> char_ids_;        // code point -> id for single-character tokens (BMP + SMP)
};

}  // namespace zaya::tokenizer
