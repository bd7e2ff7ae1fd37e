// src/base/mapped_file.cpp - POSIX mmap behind zaya::MappedFile.
#include <zaya/error.h>
#include <zaya/mapped_file.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace zaya {

MappedFile::MappedFile(const std::filesystem::path& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ErrorCode::io, "cannot open {}: {}", path.string(), std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    fail(ErrorCode::io, "cannot stat {}: {}", path.string(), std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(ErrorCode::io, "{} is not a regular file", path.string());
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      fail(ErrorCode::io, "cannot map {}: {}", path.string(), std::strerror(err));
    }
    data_ = static_cast<const std::byte*>(p);
  }
  ::close(fd);  // the mapping keeps the file alive
}

MappedFile::~MappedFile() { release(); }

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)), data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

void MappedFile::release() noexcept {
  if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
}

std::string read_text_file(const std::filesystem::path& path, size_t max_bytes) {
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) fail(ErrorCode::io, "{} does not exist", path.string());
  if (!std::filesystem::is_regular_file(status)) fail(ErrorCode::io, "{} is not a regular file", path.string());
  auto size = std::filesystem::file_size(path, ec);
  if (ec) fail(ErrorCode::io, "cannot read the size of {}: {}", path.string(), ec.message());
  if (size > max_bytes) fail(ErrorCode::limit_exceeded, "{} is {} bytes, more than the {} allowed", path.string(), size, max_bytes);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorCode::io, "cannot open {}", path.string());
  std::string text(size, '\0');
  if (size > 0 && !in.read(text.data(), static_cast<std::streamsize>(size)))
    fail(ErrorCode::io, "cannot read {}", path.string());
  return text;
}

}  // namespace zaya
