// src/tokenizer/hash_tables.h - the two hot lookup tables of the BPE model.
//
// A 262k-entry vocabulary and half a million merges have to be built in well under a second and
// looked up millions of times per megabyte of text, so both tables are flat open-addressing
// arrays (linear probing, power-of-two capacity, load factor <= 0.5) instead of node-based maps:
// one allocation each, no per-entry heap churn, and a probe usually touches one cache line.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace zaya::tokenizer {

inline uint64_t mix64(uint64_t x) noexcept {
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ull;
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ull;
  x ^= x >> 32;
  return x;
}

// Hash of a byte string: 8 bytes at a time, then the tail.
inline uint64_t hash_bytes(std::string_view s) noexcept {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (s.size() * 0xff51afd7ed558ccdull);
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, s.data() + i, 8);
    h = mix64(h ^ word) + i;
  }
  uint64_t tail = 0;
  if (i < s.size()) {
    std::memcpy(&tail, s.data() + i, s.size() - i);
    h = mix64(h ^ tail ^ 0xA5A5A5A5ull);
  }
  return mix64(h);
}

inline size_t capacity_for(size_t count) {
  size_t capacity = 16;
  while (capacity < count * 2) capacity *= 2;
  return capacity;
}

// string -> id. Keys of up to 24 bytes (almost every token) are stored inside the 32-byte slot,
// so a lookup touches one cache line instead of two; longer keys point into storage owned
// elsewhere (the vocabulary arena), which must outlive the map.
class StringIdMap {
 public:
  void reserve(size_t count) {
    slots_.assign(capacity_for(count), Slot{});
    mask_ = slots_.size() - 1;
    size_ = 0;
  }

  // Inserts or overwrites; returns the previous id or -1.
  int32_t insert(std::string_view key, int32_t id) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    for (size_t i = hash_bytes(key) & mask_;; i = (i + 1) & mask_) {
      Slot& slot = slots_[i];
      if (slot.id < 0) {
        slot.id = id;
        slot.size = static_cast<uint32_t>(key.size());
        if (key.size() <= inline_capacity) {
          std::memcpy(slot.inline_key, key.data(), key.size());
        } else {
          slot.external_key = key.data();
        }
        ++size_;
        return -1;
      }
      if (slot.matches(key)) {
        int32_t previous = slot.id;
        slot.id = id;
        return previous;
      }
    }
  }

  int32_t find(std::string_view key) const noexcept {
    if (slots_.empty()) return -1;
    const size_t start = hash_bytes(key) & mask_;
    if (key.size() <= inline_capacity) {
      // Inline keys are zero-padded, so comparing three words replaces a memcmp call per probe.
      uint64_t words[3] = {0, 0, 0};
      std::memcpy(words, key.data(), key.size());
      for (size_t i = start;; i = (i + 1) & mask_) {
        const Slot& slot = slots_[i];
        if (slot.id < 0) return -1;
        if (slot.size == key.size()) {
          uint64_t stored[3];
          std::memcpy(stored, slot.inline_key, sizeof(stored));
          if (((stored[0] ^ words[0]) | (stored[1] ^ words[1]) | (stored[2] ^ words[2])) == 0) return slot.id;
        }
      }
    }
    for (size_t i = start;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.id < 0) return -1;
      if (slot.matches(key)) return slot.id;
    }
  }

  // Prefetches the slot where `key` would start probing (for batched lookups).
  void prefetch(std::string_view key) const noexcept {
    if (!slots_.empty()) __builtin_prefetch(&slots_[hash_bytes(key) & mask_]);
  }

  size_t size() const noexcept { return size_; }

 private:
  static constexpr size_t inline_capacity = 24;
  struct Slot {
    int32_t id = -1;
    uint32_t size = 0;
    union {
      char inline_key[inline_capacity];
      const char* external_key;
    };
    Slot() : inline_key{} {}
    std::string_view key() const noexcept {
      return size <= inline_capacity ? std::string_view(inline_key, size) : std::string_view(external_key, size);
    }
    bool matches(std::string_view k) const noexcept {
      return size == k.size() && std::memcmp(size <= inline_capacity ? inline_key : external_key, k.data(), size) == 0;
    }
  };
  static_assert(sizeof(Slot) == 32);

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    reserve(old.empty() ? 8 : old.size());
    for (const Slot& slot : old)
      if (slot.id >= 0) insert(slot.key(), slot.id);
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

// (left id, right id) -> (rank, merged id). Key and value share a 16-byte slot so a hit costs
// one cache miss.
class MergeMap {
 public:
  struct Merge {
    uint32_t rank;
    int32_t merged_id;
  };

  void reserve(size_t count) {
    slots_.assign(capacity_for(count), Slot{});
    mask_ = slots_.size() - 1;
    size_ = 0;
  }

  static uint64_t key_of(int32_t left, int32_t right) noexcept {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }

  // Later merges of the same pair overwrite earlier ones (as a hash map collect does upstream).
  void insert(int32_t left, int32_t right, Merge merge) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    const uint64_t key = key_of(left, right);
    for (size_t i = mix64(key) & mask_;; i = (i + 1) & mask_) {
      Slot& slot = slots_[i];
      if (slot.key == empty_key) {
        slot = Slot{key, merge};
        ++size_;
        return;
      }
      if (slot.key == key) {
        slot.merge = merge;
        return;
      }
    }
  }

  void prefetch(int32_t left, int32_t right) const noexcept {
    if (!slots_.empty()) __builtin_prefetch(&slots_[mix64(key_of(left, right)) & mask_]);
  }

  const Merge* find(int32_t left, int32_t right) const noexcept {
    if (slots_.empty()) return nullptr;
    const uint64_t key = key_of(left, right);
    for (size_t i = mix64(key) & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.key == key) return &slot.merge;
      if (slot.key == empty_key) return nullptr;
    }
  }

  size_t size() const noexcept { return size_; }

 private:
  static constexpr uint64_t empty_key = ~uint64_t{0};  // ids are < 2^31, so (-1,-1) never occurs
  struct Slot {
    uint64_t key = empty_key;
    Merge merge{0, -1};
  };

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    reserve(old.empty() ? 8 : old.size());
    for (const Slot& slot : old)
      if (slot.key != empty_key)
        insert(static_cast<int32_t>(slot.key >> 32), static_cast<int32_t>(slot.key & 0xFFFFFFFF), slot.merge);
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace zaya::tokenizer
