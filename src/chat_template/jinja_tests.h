// chat_template/jinja_tests.h - the jinja2 tests (`value is name(args)`): defined, string,
// mapping, none, equalto, ...
#pragma once

#include "chat_template/jinja_value.h"

#include <string_view>

namespace zaya::jinja {

using TestFn = bool (*)(Renderer& renderer, const Val& value, const CallArgs& args);

// nullptr for unknown names (jinja2 then fails with "No test named 'x'." when it is used).
TestFn find_test(std::string_view name);

}  // namespace zaya::jinja
