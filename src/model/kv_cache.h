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
// Capacity is a whole number of key blocks; growth copies each head to its new place. Elements are
// f32, or f16 when the context asks for the smaller cache (ContextOptions::kv_cache_type).
#pragma once

#include <zaya/backend.h>
#include <zaya/dtype.h>

#include <algorithm>
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
  // type: DType::f32 (exact) or DType::f16 (half the bytes; values rounded to nearest even,
  // magnitudes beyond 65504 saturated).
  KvCache(size_t kv_heads, size_t head_dim, DType type = DType::f32)
      : kv_heads_(kv_heads), head_dim_(head_dim), element_(type == DType::f16 ? 2 : 4), type_(type) {}

  // Bytes of keys and values for a capacity of `positions` (rounded up to whole key blocks).
  static size_t bytes_for(size_t positions, size_t kv_heads, size_t head_dim, DType type) noexcept {
    return 2 * round_up(positions) * kv_heads * head_dim * (type == DType::f16 ? 2 : 4);
  }
  static size_t round_up(size_t positions) noexcept {
    return (positions + kv_key_block - 1) / kv_key_block * kv_key_block;
  }

  DType type() const noexcept { return type_; }
  size_t capacity() const noexcept { return capacity_; }  // positions
  size_t bytes() const noexcept { return keys_.size() + values_.size(); }
  size_t head_stride() const noexcept { return capacity_ * head_dim_; }  // elements
  const void* keys() const noexcept { return keys_.data(); }
  const void* values() const noexcept { return values_.data(); }

  // Capacity for at least `positions` (whole key blocks), keeping what is stored. May throw
  // std::bad_alloc, and then changes nothing.
  void reserve(size_t positions) {
    const size_t cap = round_up(positions);
    if (cap <= capacity_) return;
    Bytes keys(kv_heads_ * cap * head_dim_ * element_), values(kv_heads_ * cap * head_dim_ * element_);
    const size_t old_head = head_stride() * element_, new_head = cap * head_dim_ * element_;
    for (size_t j = 0; j < kv_heads_ && capacity_ > 0; ++j) {
      // Both layouts keep a head's first capacity_ positions in its first old_head bytes.
      std::memcpy(keys.data() + j * new_head, keys_.data() + j * old_head, old_head);
      std::memcpy(values.data() + j * new_head, values_.data() + j * old_head, old_head);
    }
    keys_.swap(keys);
    values_.swap(values);
    capacity_ = cap;
  }

  // key / value: [kv_heads * head_dim] floats, position pos < capacity(). The loops read the
  // members once into locals: through the std::byte stores (which may alias anything) the
  // compiler reloaded them for every element (perf: the reload was the loop's hot instruction).
  void store_key(size_t pos, const float* key) noexcept {
    std::byte* const base = keys_.data();
    const size_t stride = head_stride(), d = head_dim_, heads = kv_heads_;
    const bool half = type_ == DType::f16;
    for (size_t j = 0; j < heads; ++j) {
      const size_t first = kv_key_index(stride, d, j, pos, 0);
      for (size_t i = 0; i < d; ++i) put(base, half, first + i * kv_key_block, key[j * d + i]);
    }
  }
  void load_key(size_t pos, float* key) const noexcept {
    const std::byte* const base = keys_.data();
    const size_t stride = head_stride(), d = head_dim_, heads = kv_heads_;
    const bool half = type_ == DType::f16;
    for (size_t j = 0; j < heads; ++j) {
      const size_t first = kv_key_index(stride, d, j, pos, 0);
      for (size_t i = 0; i < d; ++i) key[j * d + i] = get(base, half, first + i * kv_key_block);
    }
  }
  void store_value(size_t pos, const float* value) noexcept {
    std::byte* const base = values_.data();
    const size_t d = head_dim_, heads = kv_heads_;
    const bool half = type_ == DType::f16;
    for (size_t j = 0; j < heads; ++j) {
      const size_t first = value_index(j, pos);
      for (size_t i = 0; i < d; ++i) put(base, half, first + i, value[j * d + i]);
    }
  }
  void load_value(size_t pos, float* value) const noexcept {
    const std::byte* const base = values_.data();
    const size_t d = head_dim_, heads = kv_heads_;
    const bool half = type_ == DType::f16;
    for (size_t j = 0; j < heads; ++j) {
      const size_t first = value_index(j, pos);
      for (size_t i = 0; i < d; ++i) value[j * d + i] = get(base, half, first + i);
    }
  }

 private:
  using Bytes = std::vector<std::byte, CacheLineAllocator<std::byte>>;

  // Element index of dimension 0 of kv head `head`'s value at position pos (the keys:
  // kv_key_index, zaya/backend.h).
  size_t value_index(size_t head, size_t pos) const noexcept { return head * head_stride() + pos * head_dim_; }

  static void put(std::byte* b, bool half, size_t index, float x) noexcept {
    if (half) {
      const uint16_t h = f32_to_f16(std::clamp(x, -65504.0f, 65504.0f));  // NaN stays NaN
      std::memcpy(b + 2 * index, &h, 2);
    } else {
      std::memcpy(b + 4 * index, &x, 4);
    }
  }
  static float get(const std::byte* b, bool half, size_t index) noexcept {
    if (half) {
      uint16_t h;
      std::memcpy(&h, b + 2 * index, 2);
      return f16_to_f32(h);
    }
    float x;
    std::memcpy(&x, b + 4 * index, 4);
    return x;
  }

  size_t kv_heads_ = 0, head_dim_ = 0, element_ = 4, capacity_ = 0;
  DType type_ = DType::f32;
  Bytes keys_, values_;
};

}  // namespace zaya::model
