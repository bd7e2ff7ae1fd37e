// zaya/mapped_file.h - read-only memory mapping of a whole file (RAII, move-only).
// Model weights are never copied when their stored dtype is what compute uses: tensors are
// views into these mappings.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>

namespace zaya {

class MappedFile {
 public:
  MappedFile() = default;
  // Throws zaya::Error(io) naming the path when it cannot be opened or mapped. A file of 2 MiB or
  // more is mapped at a 2 MiB boundary with huge pages advised (mapped_file.cpp says why).
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const noexcept { return data_; }
  size_t size() const noexcept { return size_; }
  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  void release() noexcept;
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

// Reads a whole (small) file into a string; throws zaya::Error(io). `max_bytes` guards against
// absurd inputs (e.g. a config.json that is really a 10 GB file).
std::string read_text_file(const std::filesystem::path& path, size_t max_bytes = size_t(256) << 20);

}  // namespace zaya
