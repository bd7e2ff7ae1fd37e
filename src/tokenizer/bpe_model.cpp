// src/tokenizer/bpe_model.cpp - vocabulary/merge tables and the BPE merge loop.
#include "tokenizer/bpe_model.h"

#include <zaya/error.h>
#include <zaya/utf8.h>

#include <algorithm>
#include <limits>

namespace zaya::tokenizer {
namespace {

// Single-character tokens below this code point get a direct lookup table (covers every script
// in the BMP and the emoji / supplementary planes that real vocabularies use); others go through
// the hash map.
constexpr char32_t direct_char_limit = 0x30000;

size_t utf8_sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  return 4;
}

struct Symbol {
  int32_t id;
  int32_t prev;
  int32_t next;
  bool alive;
};

// A possible merge of the symbol at `pos` with its right neighbour.
struct Candidate {
  uint32_t rank;
  uint32_t pos;
  int32_t merged_id;
};

// std heap functions build a max-heap; this order pops the lowest rank, then the leftmost position.
struct LaterCandidate {
  bool operator()(const Candidate& a, const Candidate& b) const noexcept {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  }
};

struct MergeScratch {
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
  std::string affixed;
};

}  // namespace

void BpeModel::reserve(size_t tokens, size_t text_bytes) {
  pending_.reserve(tokens);
  arena_.reserve(text_bytes);
}

void BpeModel::add_token(std::string_view token, int64_t id) {
  if (id < 0 || id > std::numeric_limits<int32_t>::max())
    fail(ErrorCode::bad_format, "tokenizer.json: model.vocab: id {} of token '{}' is out of range", id, token);
  if (arena_.size() + token.size() > std::numeric_limits<uint32_t>::max())
    fail(ErrorCode::bad_format, "tokenizer.json: model.vocab is too large");
  pending_.push_back(PendingToken{static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(token.size()),
                                  static_cast<int32_t>(id)});
  arena_.append(token);
}

void BpeModel::build_vocab_index() {
  int64_t max_id = -1;
  for (const PendingToken& t : pending_) max_id = std::max<int64_t>(max_id, t.id);
  // A sparse vocabulary is allowed, an absurd one is not: it would make every id-indexed table huge.
  if (max_id >= static_cast<int64_t>(pending_.size()) * 4 + 65536)
    fail(ErrorCode::bad_format, "tokenizer.json: model.vocab: id {} is out of range for a vocabulary of {} tokens",
         max_id, pending_.size());
  entries_.assign(static_cast<size_t>(max_id + 1), Entry{});
  vocab_.reserve(pending_.size());
  for (size_t i = 0; i < pending_.size(); ++i) {
    const PendingToken& t = pending_[i];
    // Overlap the cache misses of the random slot writes a few tokens ahead.
    if (i + 16 < pending_.size()) {
      const PendingToken& ahead = pending_[i + 16];
      vocab_.prefetch(std::string_view(arena_.data() + ahead.offset, ahead.size));
    }
    const std::string_view text(arena_.data() + t.offset, t.size);
    Entry& entry = entries_[static_cast<size_t>(t.id)];
    if (entry.size != unused)
      fail(ErrorCode::bad_format, "tokenizer.json: model.vocab: id {} is used by both '{}' and '{}'", t.id,
           std::string_view(arena_.data() + entry.offset, entry.size), text);
    entry = Entry{t.offset, t.size};
    if (vocab_.insert(text, t.id) >= 0)
      fail(ErrorCode::bad_format, "tokenizer.json: model.vocab: token '{}' appears twice", text);
  }
  pending_.clear();
  pending_.shrink_to_fit();

  has_affixes_ = !options_.continuing_subword_prefix.empty() || !options_.end_of_word_suffix.empty();
  if (options_.unk_token) unk_id_ = vocab_.find(*options_.unk_token);
  for (int byte = 0; byte < 256; ++byte) {
    static const char hex[] = "0123456789ABCDEF";
    const char name[6] = {'<', '0', 'x', hex[byte >> 4], hex[byte & 15], '>'};
    byte_ids_[static_cast<size_t>(byte)] = vocab_.find(std::string_view(name, 6));
  }
  if (!has_affixes_) {
    char_ids_.assign(direct_char_limit, -1);
    for (size_t id = 0; id < entries_.size(); ++id) {
      const Entry& e = entries_[id];
      if (e.size == unused || e.size == 0 || e.size > 4) continue;
      const std::string_view text(arena_.data() + e.offset, e.size);
      size_t pos = 0;
      const char32_t cp = utf8::decode(text, pos);
      if (cp != utf8::invalid && pos == text.size() && cp < direct_char_limit)
        char_ids_[cp] = static_cast<int32_t>(id);
    }
  }
}

void BpeModel::add_merges(std::span<const MergeText> merges, uint32_t first_rank) {
  // Stage 1: start fetching the slots of every left and right token.
  for (const MergeText& m : merges) {
    vocab_.prefetch(m.left);
    vocab_.prefetch(m.right);
  }
  // Stage 2: resolve them and build the merged texts (the concatenation, with the right part's
  // continuing-subword prefix removed, as upstream does), prefetching their slots.
  batch_ids_.resize(merges.size() * 2);
  merged_scratch_.clear();
  merged_offsets_.resize(merges.size() + 1);
  const std::string& prefix = options_.continuing_subword_prefix;
  for (size_t i = 0; i < merges.size(); ++i) {
    const MergeText& m = merges[i];
    const uint32_t rank = first_rank + static_cast<uint32_t>(i);
    const int32_t left_id = vocab_.find(m.left);
    if (left_id < 0)
      fail(ErrorCode::bad_format, "tokenizer.json: model.merges[{}]: '{}' is not in the vocabulary", rank, m.left);
    const int32_t right_id = vocab_.find(m.right);
    if (right_id < 0)
      fail(ErrorCode::bad_format, "tokenizer.json: model.merges[{}]: '{}' is not in the vocabulary", rank, m.right);
    batch_ids_[2 * i] = left_id;
    batch_ids_[2 * i + 1] = right_id;
    merged_offsets_[i] = static_cast<uint32_t>(merged_scratch_.size());
    merged_scratch_.append(m.left);
    if (!prefix.empty() && m.right.substr(0, prefix.size()) == prefix) {
      merged_scratch_.append(m.right.substr(prefix.size()));
    } else {
      merged_scratch_.append(m.right);
    }
  }
  merged_offsets_[merges.size()] = static_cast<uint32_t>(merged_scratch_.size());
  auto merged_text = [this](size_t i) {
    return std::string_view(merged_scratch_).substr(merged_offsets_[i], merged_offsets_[i + 1] - merged_offsets_[i]);
  };
  for (size_t i = 0; i < merges.size(); ++i) {
    vocab_.prefetch(merged_text(i));
    merges_.prefetch(batch_ids_[2 * i], batch_ids_[2 * i + 1]);
  }
  // Stage 3: resolve the merged tokens and record the merges.
  for (size_t i = 0; i < merges.size(); ++i) {
    const uint32_t rank = first_rank + static_cast<uint32_t>(i);
    const int32_t merged_id = vocab_.find(merged_text(i));
    if (merged_id < 0)
      fail(ErrorCode::bad_format,
           "tokenizer.json: model.merges[{}]: '{}' + '{}' gives '{}', which is not in the vocabulary", rank,
           merges[i].left, merges[i].right, merged_text(i));
    merges_.insert(batch_ids_[2 * i], batch_ids_[2 * i + 1], MergeMap::Merge{rank, merged_id});
  }
}

int32_t BpeModel::char_id(std::string_view ch, bool first, bool last, std::string& scratch) const {
  if (!has_affixes_) {
    size_t pos = 0;
    const char32_t cp = utf8::decode(ch, pos);
    if (cp < direct_char_limit) return char_ids_[cp];
    return vocab_.find(ch);
  }
  scratch.clear();
  if (!first) scratch += options_.continuing_subword_prefix;
  scratch += ch;
  if (last) scratch += options_.end_of_word_suffix;
  return vocab_.find(scratch);
}

void BpeModel::missing_unk() const {
  fail(ErrorCode::bad_format, "tokenizer.json: model.unk_token '{}' is not in the vocabulary", *options_.unk_token);
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    const int32_t id = vocab_.find(word);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }

  thread_local MergeScratch scratch;
  std::vector<Symbol>& symbols = scratch.symbols;
  std::vector<Candidate>& heap = scratch.heap;
  symbols.clear();
  heap.clear();
  auto add = [&symbols](int32_t id) {
    const int32_t index = static_cast<int32_t>(symbols.size());
    if (!symbols.empty()) symbols.back().next = index;
    symbols.push_back(Symbol{id, index - 1, -1, true});
  };

  // 1. Characters -> initial symbols.
  bool unk_pending = false;
  for (size_t pos = 0; pos < word.size();) {
    const size_t start = pos;
    pos += utf8_sequence_length(static_cast<unsigned char>(word[pos]));
    if (pos > word.size()) pos = word.size();  // defensive: input is validated UTF-8
    const bool first = start == 0, last = pos == word.size();
    const std::string_view ch = word.substr(start, pos - start);
    const int32_t id = char_id(ch, first, last, scratch.affixed);
    if (id >= 0) {
      if (unk_pending) {
        add(unk_id_);
        unk_pending = false;
      }
      add(id);
      continue;
    }
    if (options_.byte_fallback) {
      // The bytes of the character as looked up, i.e. with prefix/suffix applied.
      std::string_view bytes = ch;
      if (has_affixes_) {
        scratch.affixed.clear();
        if (!first) scratch.affixed += options_.continuing_subword_prefix;
        scratch.affixed += ch;
        if (last) scratch.affixed += options_.end_of_word_suffix;
        bytes = scratch.affixed;
      }
      bool all_bytes_known = true;
      for (unsigned char b : bytes) all_bytes_known = all_bytes_known && byte_ids_[b] >= 0;
      if (all_bytes_known) {
        // Upstream does not flush a pending unknown here; it is emitted after these bytes.
        for (unsigned char b : bytes) add(byte_ids_[b]);
        continue;
      }
    }
    if (options_.unk_token) {
      if (unk_id_ < 0) missing_unk();
      if (unk_pending && !options_.fuse_unk) add(unk_id_);
      unk_pending = true;
    }
    // No byte fallback and no unknown token: the character produces nothing (as upstream).
  }
  if (unk_pending) add(unk_id_);

  // 2. Merge lowest-rank pairs first.
  if (symbols.size() > 1 && merges_.size() > 0) {
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      if (const MergeMap::Merge* m = merges_.find(symbols[i].id, symbols[i + 1].id))
        heap.push_back(Candidate{m->rank, static_cast<uint32_t>(i), m->merged_id});
    }
    std::make_heap(heap.begin(), heap.end(), LaterCandidate{});
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), LaterCandidate{});
      const Candidate top = heap.back();
      heap.pop_back();
      Symbol& current = symbols[top.pos];
      if (!current.alive || current.next < 0) continue;
      const int32_t right_pos = current.next;
      const Symbol right = symbols[static_cast<size_t>(right_pos)];
      // Skip stale candidates: the pair at this position changed since it was queued. Like
      // upstream, a stale entry whose new pair merges into the same id still counts as valid.
      const MergeMap::Merge* now = merges_.find(current.id, right.id);
      if (now == nullptr || now->merged_id != top.merged_id) continue;

      current.id = top.merged_id;
      current.next = right.next;
      symbols[static_cast<size_t>(right_pos)].alive = false;
      if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = static_cast<int32_t>(top.pos);

      if (current.prev >= 0) {
        if (const MergeMap::Merge* m = merges_.find(symbols[static_cast<size_t>(current.prev)].id, current.id)) {
          heap.push_back(Candidate{m->rank, static_cast<uint32_t>(current.prev), m->merged_id});
          std::push_heap(heap.begin(), heap.end(), LaterCandidate{});
        }
      }
      if (current.next >= 0) {
        if (const MergeMap::Merge* m = merges_.find(current.id, symbols[static_cast<size_t>(current.next)].id)) {
          heap.push_back(Candidate{m->rank, top.pos, m->merged_id});
          std::push_heap(heap.begin(), heap.end(), LaterCandidate{});
        }
      }
    }
  }

  for (const Symbol& s : symbols)
    if (s.alive) out.push_back(s.id);
}

}  // namespace zaya::tokenizer
