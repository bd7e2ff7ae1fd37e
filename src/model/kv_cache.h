// src/model/kv_cache.h - one attention layer's cached keys and values for one sequence, in the
// layout the attention kernels stream (zaya/backend.h, AttentionRow):
//
//   values  [kv_heads][capacity][head_dim]
//   keys    [kv_heads][capacity / kv_key_block][head_dim][kv_key_block]
//
// Head-major, because decode splits attention by kv head (and a batch reads each head's positions
// in order): each head's positions are one contiguous stream. With the earlier
// [position][kv_head][head_dim] rows, one thread reading its head's half of every row got 3-4 GB/s
// from DRAM; the same bytes as one contiguous stream 12 GB/s (one thread, 608 positions, d = 128).
// Keys transposed in blocks of 16 positions, so the scores of 16 positions are 16-lane
// multiply-adds of a broadcast query element with no horizontal sums (1.6x faster from cache).
// Capacity is a whole number of key blocks; growth copies each head to its new place.
#pragma once

#include <zaya/backend.h>

#include <cstddef>
#include <cstring>
#include <new>
#include <vector>

namespace zaya::model {

// Cache-line aligned storage: a key vector of 16 floats is then one aligned 64-byte load.
template <class T>
struct CacheLineAllocator {
  using value_type = T;
  CacheLineAllocator() = default;
  template <class U>
  CacheLineAllocator(const CacheLineAllocator<U>&) noexcept {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64))); }
  void deallocate(T* p, size_t) noexcept { ::operator delete(p, std::align_val_t(64)); }
  template <class U>
  bool operator==(const CacheLineAllocator<U>&) const noexcept { return true; }
};

class KvCache {
 public:
  KvCache() = default;
  KvCache(size_t kv_heads, size_t head_dim) : kv_heads_(kv_heads), head_dim_(head_dim) {}

  // Bytes of keys and values for a capacity of `positions` (rounded up to whole key blocks).
  static size_t bytes_for(size_t positions, size_t kv_heads, size_t head_dim) noexcept {
    return 2 * round_up(positions) * kv_heads * head_dim * sizeof(float);
  }
  static size_t round_up(size_t positions) noexcept {
    return (positions + kv_key_block - 1) / kv_key_block * kv_key_block;
  }

  size_t capacity() const noexcept { return capacity_; }  // positions
  size_t bytes() const noexcept { return (keys_.size() + values_.size()) * sizeof(float); }
  size_t head_stride() const noexcept { return capacity_ * head_dim_; }
  const float* keys() const noexcept { return keys_.data(); }
  const float* values() const noexcept { return values_.data(); }

  // Capacity for at least `positions` (whole key blocks), keeping what is stored. May throw
  // std::bad_alloc, and then changes nothing.
  void reserve(size_t positions) {
    const size_t cap = round_up(positions);
    if (cap <= capacity_) return;
    Floats keys(kv_heads_ * cap * head_dim_, 0.0f), values(kv_heads_ * cap * head_dim_, 0.0f);
    const size_t old_stride = head_stride(), new_stride = cap * head_dim_;
    for (size_t j = 0; j < kv_heads_ && capacity_ > 0; ++j) {
      // Both layouts keep a head's first capacity_ positions in its first old_stride floats.
      std::memcpy(keys.data() + j * new_stride, keys_.data() + j * old_stride, old_stride * sizeof(float));
      std::memcpy(values.data() + j * new_stride, values_.data() + j * old_stride, old_stride * sizeof(float));
    }
    keys_.swap(keys);
    values_.swap(values);
    capacity_ = cap;
  }

  // key: [kv_heads * head_dim], position pos < capacity().
  void store_key(size_t pos, const float* key) noexcept {
    for (size_t j = 0; j < kv_heads_; ++j) {
      float* dst = keys_.data() + key_offset(j, pos);
      for (size_t i = 0; i < head_dim_; ++i) dst[i * kv_key_block] = key[j * head_dim_ + i];
    }
  }
  void load_key(size_t pos, float* key) const noexcept {
    for (size_t j = 0; j < kv_heads_; ++j) {
      const float* src = keys_.data() + key_offset(j, pos);
      for (size_t i = 0; i < head_dim_; ++i) key[j * head_dim_ + i] = src[i * kv_key_block];
    }
  }
  // value: [kv_heads * head_dim], position pos < capacity().
  void store_value(size_t pos, const float* value) noexcept {
    for (size_t j = 0; j < kv_heads_; ++j)
      std::memcpy(values_.data() + value_offset(j, pos), value + j * head_dim_, head_dim_ * sizeof(float));
  }
  void load_value(size_t pos, float* value) const noexcept {
    for (size_t j = 0; j < kv_heads_; ++j)
      std::memcpy(value + j * head_dim_, values_.data() + value_offset(j, pos), head_dim_ * sizeof(float));
  }

 private:
  // Element 0 of kv head `head` at position pos; the key's element i is kv_key_block floats on.
  size_t key_offset(size_t head, size_t pos) const noexcept {
    return head * head_stride() + pos / kv_key_block * kv_key_block * head_dim_ + pos % kv_key_block;
  }
  size_t value_offset(size_t head, size_t pos) const noexcept { return head * head_stride() + pos * head_dim_; }

  using Floats = std::vector<float, CacheLineAllocator<float>>;
  size_t kv_heads_ = 0, head_dim_ = 0, capacity_ = 0;
  Floats keys_, values_;
};

}  // namespace zaya::model
