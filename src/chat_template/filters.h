// chat_template/filters.h - the jinja2 filters chat templates use (`value | name(args)`).
#pragma once

#include "chat_template/jinja_value.h"

#include <string_view>

namespace zaya::jinja {

using FilterFn = Val (*)(Renderer& renderer, const Val& input, const CallArgs& args);

// nullptr for unknown names (jinja2 then fails with "No filter named 'x'." when it is used).
FilterFn find_filter(std::string_view name);

}  // namespace zaya::jinja
