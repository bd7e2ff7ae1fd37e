// fuzz/fuzz_safetensors.cpp - SafetensorsFile::parse over arbitrary bytes (a whole file: the u64
// header length, the JSON header and the tensor bytes).
// Accepted: bad_format / unsupported, or a tensor list whose every view lies inside the data
// buffer, matches shape x dtype, and overlaps no other non-empty tensor.
#include "fuzz_support.h"

#include <zaya/safetensors.h>

#include <algorithm>
#include <map>
#include <span>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zaya;
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  std::map<std::string, std::string> metadata;
  std::vector<TensorInfo> tensors;
  try {
    tensors = SafetensorsFile::parse(bytes, "fuzz.safetensors", &metadata);
  } catch (const Error& e) {
    fuzz::expect_code(e, {ErrorCode::bad_format, ErrorCode::unsupported});
    return 0;
  }
  ZAYA_FUZZ_CHECK(size >= 8);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | data[i];
  const std::byte* data_begin = bytes.data() + 8 + header_len;
  const std::byte* data_end = bytes.data() + size;
  unsigned checksum = 0;
  for (const TensorInfo& t : tensors) {
    ZAYA_FUZZ_CHECK(t.data >= data_begin && t.data <= data_end);
    ZAYA_FUZZ_CHECK(t.nbytes <= static_cast<size_t>(data_end - t.data));
    ZAYA_FUZZ_CHECK(t.element_count * dtype_size(t.dtype) == t.nbytes);
    size_t count = 1;
    for (int64_t d : t.shape) {
      ZAYA_FUZZ_CHECK(d >= 0);
      count *= static_cast<size_t>(d);  // cannot overflow: the parser checked the product
    }
    ZAYA_FUZZ_CHECK(count == t.element_count);
    for (size_t i = 0; i < t.nbytes; ++i) checksum += static_cast<unsigned>(t.data[i]);  // ASan: in bounds
  }
  // No two non-empty tensors share a byte (checked pairwise, independently of the parser's sort).
  const size_t n = std::min<size_t>(tensors.size(), 256);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) {
      const TensorInfo &a = tensors[i], &b = tensors[j];
      if (a.nbytes == 0 || b.nbytes == 0) continue;
      ZAYA_FUZZ_CHECK(a.data + a.nbytes <= b.data || b.data + b.nbytes <= a.data);
    }
  volatile unsigned sink = checksum;
  (void)sink;
  return 0;
}
