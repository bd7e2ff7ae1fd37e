// chat_template/raised_error.h - the exception raise_exception() throws, so that the renderer
// can pass the template's own message through unchanged (no line prefix).
#pragma once

#include <zaya/error.h>

#include <string>

namespace zaya::jinja {

class RaisedError : public Error {
 public:
  explicit RaisedError(const std::string& message) : Error(ErrorCode::template_error, message) {}
};

}  // namespace zaya::jinja
