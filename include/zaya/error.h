// zaya/error.h - the one error type of the C++ API.
//
// Inside the library every failure is a zaya::Error carrying a stable code and a message that
// names the file / tensor / argument involved. The C ABI (capi/) catches these at the boundary
// and turns them into status codes; nothing is ever thrown across it.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace zaya {

// Stable numeric values: the C ABI exposes them unchanged (append only).
enum class ErrorCode : int {
  ok = 0,
  invalid_argument = 1,  // caller passed something unusable (bad id, absurd size, bad option)
  io = 2,                // a file could not be opened, mapped, read or written
  bad_format = 3,        // a file is malformed: truncated, inconsistent, wrong shape, bad JSON
  unsupported = 4,       // well-formed but uses a feature zaya does not implement
  out_of_memory = 5,     // an allocation or a configured memory cap failed
  cancelled = 6,         // the caller asked to stop
  out_of_range = 7,      // a position, sequence or token id outside what exists
  limit_exceeded = 8,    // a configured resource limit (context, output size, time) was hit
  template_error = 9,    // a chat template failed to parse or raised
  internal = 10,         // a bug in zaya
};

inline const char* error_code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::ok: return "ok";
    case ErrorCode::invalid_argument: return "invalid argument";
    case ErrorCode::io: return "I/O error";
    case ErrorCode::bad_format: return "bad format";
    case ErrorCode::unsupported: return "unsupported";
    case ErrorCode::out_of_memory: return "out of memory";
    case ErrorCode::cancelled: return "cancelled";
    case ErrorCode::out_of_range: return "out of range";
    case ErrorCode::limit_exceeded: return "limit exceeded";
    case ErrorCode::template_error: return "template error";
    case ErrorCode::internal: return "internal error";
  }
  return "unknown error";
}

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

// Throws zaya::Error with a {fmt}-formatted message.
template <typename... Args>
[[noreturn]] void fail(ErrorCode code, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(code, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace zaya
