// zaya/safetensors.h - the safetensors checkpoint format: strict reader over a memory mapping,
// sharded stores (model.safetensors.index.json), and a streaming writer.
//
// File layout: u64 little-endian header length N | N bytes of JSON header | tensor bytes.
// Header: {"__metadata__": {...}, "<name>": {"dtype": "BF16", "shape": [..],
//          "data_offsets": [begin, end]}, ...} with offsets relative to the byte buffer.
// Every offset, size and shape is validated before any tensor byte is touched: a malformed file
// is a zaya::Error(bad_format) naming the file and tensor, never an out-of-bounds read.
#pragma once

#include <zaya/dtype.h>
#include <zaya/mapped_file.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace zaya {

class GgufFile;  // zaya/gguf.h

struct TensorInfo {
  std::string name;
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  const std::byte* data = nullptr;  // points into the mapping
  size_t nbytes = 0;
  size_t element_count = 0;
  std::string file;                 // shard file name, for messages
  // Block-quantized rows in zaya's row-interleaved layout (zaya/quant.h, repack_interleaved),
  // applied to each [rows, cols] matrix of the last two dimensions on its own: a GGUF tensor of a
  // zaya R16 type (zaya/gguf.h). Only weight matrices may be interleaved.
  bool interleaved = false;
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);  // maps and validates
  // Parses an in-memory buffer (used by the mapping constructor and by fuzzers / tests).
  static std::vector<TensorInfo> parse(std::span<const std::byte> bytes, const std::string& file_label,
                                       std::map<std::string, std::string>* metadata = nullptr);

  const std::vector<TensorInfo>& tensors() const noexcept { return tensors_; }
  const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
  const std::filesystem::path& path() const noexcept { return file_.path(); }
  size_t file_size() const noexcept { return file_.size(); }

 private:
  MappedFile file_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// All tensors of a checkpoint directory: `model.safetensors`, or the shards listed by
// `model.safetensors.index.json`. Tensor views stay valid as long as the store lives.
class TensorStore {
 public:
  static std::shared_ptr<TensorStore> open_directory(const std::filesystem::path& dir);
  static std::shared_ptr<TensorStore> open_file(const std::filesystem::path& file);
  // The tensors of one GGUF file (zaya/gguf.h; defined in src/io/gguf.cpp). The store keeps the
  // file alive; its tensors may have the block-quantized dtypes (nbytes from dtype_row_bytes).
  static std::shared_ptr<TensorStore> from_gguf(std::shared_ptr<const GgufFile> file);

  // The text of model.safetensors.index.json, validated (shard names are plain file names, the
  // weight map is not empty); used by open_directory and by the fuzzers. Throws zaya::Error.
  struct Index {
    std::map<std::string, std::string> shard_of;  // tensor name -> shard file name
    std::vector<std::string> shards;              // in order of first appearance
  };
  static Index parse_index(std::string_view json_text);

  const TensorInfo* find(const std::string& name) const;
  const std::map<std::string, const TensorInfo*>& tensors() const noexcept { return by_name_; }
  size_t total_bytes() const noexcept;
  size_t file_count() const noexcept { return files_.size() + gguf_files_.size(); }

 private:
  void add(std::unique_ptr<SafetensorsFile> file);
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::vector<std::shared_ptr<const GgufFile>> gguf_files_;
  std::map<std::string, const TensorInfo*> by_name_;
};

// ---- writing ----------------------------------------------------------------------------------
struct TensorSpec {
  std::string name;
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  // GGUF only: store each [rows, cols] matrix of the last two dimensions in zaya's R16 layout
  // (the filler still produces plain ggml rows; write_gguf interleaves them).
  bool interleaved = false;
  size_t element_count() const;
};

// Produces the bytes of tensor `index` from element `first_element` on, filling `out` completely
// (out.size() is a whole number of elements). Called in order, in chunks, so huge checkpoints
// are streamed to disk and never held in memory.
using TensorFiller = std::function<void(size_t index, size_t first_element, std::span<std::byte> out)>;

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorSpec>& specs,
                       const TensorFiller& fill, const std::map<std::string, std::string>& metadata = {});

// Convenience for small tensors already in memory (tests, `zaya logits`).
struct OwnedTensor {
  std::string name;
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  std::vector<std::byte> bytes;  // plain rows
  bool interleaved = false;      // GGUF only, as TensorSpec::interleaved
};
void write_safetensors(const std::filesystem::path& path, const std::vector<OwnedTensor>& tensors);

}  // namespace zaya
