// chat_template/operators.h - Python/jinja2 semantics of operators, attribute and item access,
// slicing and iteration.
#pragma once

#include "chat_template/ast.h"
#include "chat_template/jinja_value.h"

#include <optional>

namespace zaya::jinja {

class Renderer;

// Throws the UndefinedError jinja2 raises when an undefined value is used.
[[noreturn]] void fail_undefined(const Val& undefined);

Val binary_op(Renderer& renderer, BinaryOp op, const Val& a, const Val& b);
Val unary_op(UnaryOp op, const Val& v);
bool compare_op(CompareOp op, const Val& a, const Val& b);
bool contains(const Val& container, const Val& item);
// Python's < for sorting and comparisons; throws TypeError-like template_error when the values
// are not orderable.
bool less_than(const Val& a, const Val& b);

// obj.name (attribute first, then item) and obj[key] (item first, then attribute), as the
// sandboxed jinja2 environment does.
Val get_attr(Renderer& renderer, const Val& object, std::string_view name);
Val get_item(Renderer& renderer, const Val& object, const Val& key);
Val slice_value(Renderer& renderer, const Val& object, const Val* start, const Val* stop, const Val* step);

// Comparing or searching a container is O(size) work done in one evaluation step; callers
// count this many extra steps so that the step and time limits see that work.
uint64_t comparison_cost(const Val& v);

// The items a for loop (or a filter) iterates: list items, dict keys, string characters;
// Undefined iterates as empty. Throws for None and numbers.
List iterate(const Val& v);
// The list items for lists (without copying) - empty otherwise.
size_t python_len(const Val& v);  // throws for values without len()

}  // namespace zaya::jinja
