// fuzz/fuzz_gguf.cpp - GgufFile::parse over arbitrary bytes (a whole GGUF file: header, metadata,
// tensor infos, padding and tensor data).
// Accepted: bad_format / unsupported, or metadata whose typed getters agree with the values, and
// tensors whose every view lies inside the data section at an aligned offset, whose byte size
// matches shape x dtype (blocks for the quantized types), and that overlap no other tensor.
// Seeds: fuzz/corpus/gguf, written by tests/test_gguf.cpp (ZAYA_WRITE_GGUF_SEEDS=DIR).
#include "fuzz_support.h"

#include <zaya/gguf.h>

#include <algorithm>
#include <span>
#include <vector>

namespace {

// Walks a value (nested arrays included) and checks the accessors are consistent with the type.
size_t walk(const zaya::GgufValue& v, size_t depth) {
  using zaya::GgufType;
  ZAYA_FUZZ_CHECK(depth <= 8);
  switch (v.type()) {
    case GgufType::string: return v.as_string().size();
    case GgufType::array: {
      size_t n = 1;
      for (const auto& e : v.as_array()) {
        ZAYA_FUZZ_CHECK(e.type() == v.element_type());
        n += walk(e, depth + 1);
      }
      return n;
    }
    case GgufType::f32: case GgufType::f64: (void)v.as_float(); return 1;
    case GgufType::bool_: return v.as_bool() ? 1 : 0;
    default:
      ZAYA_FUZZ_CHECK(v.is_integer());
      try {
        (void)v.as_int();
      } catch (const zaya::Error& e) {
        zaya::fuzz::expect_code(e, {zaya::ErrorCode::bad_format});  // a uint64 above INT64_MAX
        ZAYA_FUZZ_CHECK(v.type() == GgufType::u64);
      }
      return 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zaya;
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  GgufContents contents;
  try {
    contents = GgufFile::parse(bytes, "fuzz.gguf");
  } catch (const Error& e) {
    fuzz::expect_code(e, {ErrorCode::bad_format, ErrorCode::unsupported});
    return 0;
  }
  ZAYA_FUZZ_CHECK(size >= 24);
  ZAYA_FUZZ_CHECK(contents.version == 3);
  ZAYA_FUZZ_CHECK(contents.alignment >= 1 && contents.alignment <= (size_t(1) << 20));
  ZAYA_FUZZ_CHECK((contents.alignment & (contents.alignment - 1)) == 0);
  ZAYA_FUZZ_CHECK(contents.data_offset % contents.alignment == 0);

  size_t checksum = 0;
  for (const GgufKV& kv : contents.metadata.entries()) {
    ZAYA_FUZZ_CHECK(!kv.key.empty());
    ZAYA_FUZZ_CHECK(contents.metadata.find(kv.key) == &kv.value);
    checksum += walk(kv.value, 0);
    if (kv.value.is_string()) ZAYA_FUZZ_CHECK(&contents.metadata.get_string(kv.key) == &kv.value.as_string());
  }

  const std::byte* data_begin = bytes.data() + contents.data_offset;
  const std::byte* data_end = bytes.data() + size;
  if (!contents.tensors.empty()) ZAYA_FUZZ_CHECK(contents.data_offset <= size);
  unsigned sum = 0;
  for (const TensorInfo& t : contents.tensors) {
    ZAYA_FUZZ_CHECK(!t.name.empty() && t.file == "fuzz.gguf");
    ZAYA_FUZZ_CHECK(ggml_type_of(t.dtype).has_value());
    ZAYA_FUZZ_CHECK(t.shape.size() <= 4);
    ZAYA_FUZZ_CHECK(t.data >= data_begin && t.data <= data_end);
    ZAYA_FUZZ_CHECK(t.nbytes >= 1 && t.nbytes <= static_cast<size_t>(data_end - t.data));
    ZAYA_FUZZ_CHECK(static_cast<size_t>(t.data - data_begin) % contents.alignment == 0);
    size_t count = 1;
    for (int64_t d : t.shape) {
      ZAYA_FUZZ_CHECK(d >= 1);
      count *= static_cast<size_t>(d);  // cannot overflow: the parser checked the product
    }
    ZAYA_FUZZ_CHECK(count == t.element_count);
    const size_t row = t.shape.empty() ? 1 : static_cast<size_t>(t.shape.back());
    ZAYA_FUZZ_CHECK(row % dtype_block_elems(t.dtype) == 0);
    ZAYA_FUZZ_CHECK(count / row * dtype_row_bytes(t.dtype, row) == t.nbytes);
    for (size_t i = 0; i < t.nbytes; ++i) sum += static_cast<unsigned>(t.data[i]);  // ASan: in bounds
  }
  // No two tensors share a byte (checked pairwise, independently of the parser's sort).
  const size_t n = std::min<size_t>(contents.tensors.size(), 256);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) {
      const TensorInfo &a = contents.tensors[i], &b = contents.tensors[j];
      ZAYA_FUZZ_CHECK(a.name != b.name);
      ZAYA_FUZZ_CHECK(a.data + a.nbytes <= b.data || b.data + b.nbytes <= a.data);
    }
  volatile size_t sink = checksum + sum;
  (void)sink;
  return 0;
}
