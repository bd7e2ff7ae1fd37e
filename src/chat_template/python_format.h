// chat_template/python_format.h - Python's `format % args` and str.format(...), for templates
// that build text with them.
#pragma once

#include "chat_template/jinja_value.h"

#include <string>
#include <string_view>

namespace zaya::jinja {

// "%s and %05.2f" % args: args is a tuple, a dict (for "%(name)s") or a single value.
std::string python_percent_format(Renderer& renderer, std::string_view format, const Val& args);

// "{} {name:>5}".format(*args, **kwargs) with the common format-spec mini-language.
std::string python_str_format(Renderer& renderer, std::string_view format, const CallArgs& args);

}  // namespace zaya::jinja
