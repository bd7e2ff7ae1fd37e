// zaya/tensor.h - the tensor core: non-owning views of weight matrices and small owned buffers.
#pragma once

#include <zaya/dtype.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

namespace zaya {

// A row-major weight matrix [rows, cols] (PyTorch Linear layout: one row per output feature),
// stored in `dtype`, usually a view into a memory-mapped checkpoint. For a block-quantized dtype
// each row is cols / dtype_block_elems(dtype) whole blocks.
struct WeightMatrix {
  DType dtype = DType::f32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  // Block-quantized rows stored in the row-interleaved layout (zaya/quant.h, repack_interleaved:
  // groups of interleave_rows(dtype) rows interleaved block by block, the rows past the last
  // whole group as usual): what the CPU kernels stream fastest. Set only by the weight arena for
  // the CPU backend; row() does not apply.
  bool interleaved = false;

  size_t row_bytes() const noexcept { return dtype_row_bytes(dtype, static_cast<size_t>(cols)); }
  size_t bytes() const noexcept { return static_cast<size_t>(rows) * row_bytes(); }
  const std::byte* row(int64_t r) const noexcept {
    return static_cast<const std::byte*>(data) + static_cast<size_t>(r) * row_bytes();
  }
  bool empty() const noexcept { return data == nullptr; }
};

// 64-byte aligned float buffer (cache-line and AVX-512 friendly). Move-only.
class FloatBuffer {
 public:
  FloatBuffer() = default;
  explicit FloatBuffer(size_t n) { resize(n); }
  void resize(size_t n) {
    if (n <= capacity_) { size_ = n; return; }
    size_t bytes = ((n * sizeof(float)) + 63) / 64 * 64;
    float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!p) throw std::bad_alloc();
    data_.reset(p);
    size_ = capacity_ = n;
  }
  float* data() noexcept { return data_.get(); }
  const float* data() const noexcept { return data_.get(); }
  size_t size() const noexcept { return size_; }
  float& operator[](size_t i) noexcept { return data_.get()[i]; }
  const float& operator[](size_t i) const noexcept { return data_.get()[i]; }

 private:
  struct Free { void operator()(float* p) const noexcept { std::free(p); } };
  std::unique_ptr<float, Free> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace zaya
