// fuzz/fuzz_support.h - shared helpers of the libFuzzer targets.
//
// Every target feeds bytes to one parser and accepts exactly two outcomes: success, after which
// the result's invariants are checked, or a zaya::Error with one of the codes the API documents
// for that input. Anything else - another exception type, a wrong code, a broken invariant, a
// sanitizer report, a timeout (-timeout) or an allocation past -malloc_limit_mb - is a finding.
#pragma once

#include <zaya/error.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>
#include <string_view>

namespace zaya::fuzz {

[[noreturn]] inline void die(const char* file, int line, const char* what) {
  std::fprintf(stderr, "\nFUZZ CHECK FAILED %s:%d: %s\n", file, line, what);
  std::fflush(stderr);
  std::abort();
}

#define ZAYA_FUZZ_CHECK(cond) \
  do {                        \
    if (!(cond)) ::zaya::fuzz::die(__FILE__, __LINE__, #cond); \
  } while (0)

// Aborts unless `e` carries one of `allowed` (an unexpected code is a finding: e.g. `internal`).
inline void expect_code(const zaya::Error& e, std::initializer_list<zaya::ErrorCode> allowed) {
  for (auto code : allowed)
    if (e.code() == code) return;
  std::fprintf(stderr, "\nFUZZ: unexpected error code %d (%s): %s\n", static_cast<int>(e.code()),
               zaya::error_code_name(e.code()), e.what());
  std::fflush(stderr);
  std::abort();
}

// Test data shipped with the sources (tokenizers, templates used as fixed inputs).
inline std::filesystem::path data_dir() {
  if (const char* env = std::getenv("ZAYA_FUZZ_DATA_DIR")) return env;
  return ZAYA_FUZZ_DATA_DIR;
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "fuzz: cannot read %s (set ZAYA_FUZZ_DATA_DIR to the tests/data directory)\n",
                 path.string().c_str());
    std::abort();
  }
  return {std::istreambuf_iterator<char>(in), {}};
}

// Consumes the input from the front: a byte of flags, then the rest as text, or parts separated
// by a delimiter byte.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}
  uint8_t byte() {
    if (rest_.empty()) return 0;
    const auto b = static_cast<uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return b;
  }
  // Up to the first `delimiter` (dropped), or everything.
  std::string_view part(char delimiter) {
    const size_t at = rest_.find(delimiter);
    std::string_view out = rest_.substr(0, at);
    rest_.remove_prefix(at == std::string_view::npos ? rest_.size() : at + 1);
    return out;
  }
  std::string_view rest() const { return rest_; }
  bool empty() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

}  // namespace zaya::fuzz
