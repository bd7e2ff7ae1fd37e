// chat_template/parser.h - builds the AST from tokens, following jinja2's grammar.
#pragma once

#include "chat_template/ast.h"
#include "chat_template/lexer.h"

#include <string_view>

namespace zaya::jinja {

// Parses a whole template. `max_depth` bounds the nesting of blocks and expressions (and the
// height of expression trees). Throws zaya::Error(template_error) on syntax errors and
// zaya::Error(limit_exceeded) when nesting exceeds max_depth.
Program parse_template(std::string_view source, int max_depth);

}  // namespace zaya::jinja
