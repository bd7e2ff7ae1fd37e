// fuzz/fuzz_safetensors_index.cpp - model.safetensors.index.json (TensorStore::parse_index).
// Accepted: bad_format, or an index whose shard names are plain file names (no directory part,
// so a shard can never be opened outside the checkpoint directory), each used by some tensor.
#include "fuzz_support.h"

#include <zaya/safetensors.h>

#include <algorithm>
#include <set>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zaya;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  TensorStore::Index index;
  try {
    index = TensorStore::parse_index(text);
  } catch (const Error& e) {
    fuzz::expect_code(e, {ErrorCode::bad_format});
    return 0;
  }
  ZAYA_FUZZ_CHECK(!index.shards.empty() && index.shards.size() <= 10000);
  ZAYA_FUZZ_CHECK(!index.shard_of.empty());
  const std::set<std::string> unique(index.shards.begin(), index.shards.end());
  ZAYA_FUZZ_CHECK(unique.size() == index.shards.size());
  std::set<std::string> used;
  for (const auto& [tensor, shard] : index.shard_of) {
    ZAYA_FUZZ_CHECK(unique.count(shard) == 1);
    used.insert(shard);
  }
  ZAYA_FUZZ_CHECK(used == unique);
  for (const std::string& shard : index.shards) {
    ZAYA_FUZZ_CHECK(!shard.empty() && shard != "." && shard != "..");
    ZAYA_FUZZ_CHECK(shard.find('/') == std::string::npos && shard.find('\\') == std::string::npos);
    ZAYA_FUZZ_CHECK(shard.find('\0') == std::string::npos);
  }
  return 0;
}
