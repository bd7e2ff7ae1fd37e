// chat_template/jinja_tests.cpp - jinja2's builtin tests (`x is defined`, `x is string`, ...),
// following jinja2/tests.py. Python's type rules apply: bool counts as a number, Undefined is
// iterable and a sequence, dicts are sequences too.
#include "chat_template/jinja_tests.h"

#include <zaya/error.h>

#include "chat_template/filters.h"
#include "chat_template/operators.h"
#include "chat_template/python_text.h"
#include "chat_template/renderer.h"

#include <cmath>

namespace zaya::jinja {

namespace {

const Val& one_argument(const CallArgs& args, std::string_view test) {
  ArgReader a(test, args, {"other"});
  return a.require(0);
}

void no_arguments(const CallArgs& args, std::string_view test) { ArgReader a(test, args, {}); }

bool t_defined(Renderer&, const Val& v, const CallArgs& args) { return no_arguments(args, "defined"), !v.is_undefined(); }
bool t_undefined(Renderer&, const Val& v, const CallArgs& args) { return no_arguments(args, "undefined"), v.is_undefined(); }
bool t_none(Renderer&, const Val& v, const CallArgs& args) { return no_arguments(args, "none"), v.is_none(); }
bool t_boolean(Renderer&, const Val& v, const CallArgs& args) { return no_arguments(args, "boolean"), v.is_bool(); }
bool t_true(Renderer&, const Val& v, const CallArgs& args) { return no_arguments(args, "true"), v.is_bool() && v.as_bool(); }
bool t_false(Renderer&, const Val& v, const CallArgs& args) { return no_arguments(args, "false"), v.is_bool() && !v.as_bool(); }
bool t_string(Renderer&, const Val& v, const CallArgs& args) { return no_arguments(args, "string"), v.is_string(); }
bool t_mapping(Renderer&, const Val& v, const CallArgs& args) { return no_arguments(args, "mapping"), v.is_dict(); }
bool t_number(Renderer&, const Val& v, const CallArgs& args) { return no_arguments(args, "number"), v.is_number(); }
bool t_integer(Renderer&, const Val& v, const CallArgs& args) {
  return no_arguments(args, "integer"), v.is_int() || v.is_big_integer();
}
bool t_float(Renderer&, const Val& v, const CallArgs& args) { return no_arguments(args, "float"), v.is_float(); }
bool t_escaped(Renderer&, const Val&, const CallArgs& args) { return no_arguments(args, "escaped"), false; }

bool t_callable(Renderer&, const Val& v, const CallArgs& args) {
  no_arguments(args, "callable");
  // Undefined defines __call__ (to raise), so Python's callable() says yes.
  return v.is_undefined() || (v.is_object() && v.as_object().is_callable());
}

bool t_iterable(Renderer&, const Val& v, const CallArgs& args) {
  no_arguments(args, "iterable");
  return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
}

bool t_sequence(Renderer&, const Val& v, const CallArgs& args) {
  no_arguments(args, "sequence");
  return v.is_undefined() || v.is_string() || (v.is_list() && !v.is_iterator()) || v.is_dict();
}

bool t_sameas(Renderer&, const Val& v, const CallArgs& args) {
  const Val& other = one_argument(args, "sameas");
  if (v.kind() != other.kind()) return false;
  switch (v.kind()) {
    case Val::Kind::none:
    case Val::Kind::undefined: return v.is_none() || &v == &other;
    case Val::Kind::boolean: return v.as_bool() == other.as_bool();
    case Val::Kind::integer: return v.as_int() == other.as_int() && v.as_int() >= -5 && v.as_int() <= 256;
    case Val::Kind::string: return &v.as_string() == &other.as_string();
    case Val::Kind::list: return v.as_list().data() == other.as_list().data() && &v.as_list() == &other.as_list();
    case Val::Kind::dict: return &v.as_dict() == &other.as_dict();
    case Val::Kind::object: return &v.as_object() == &other.as_object();
    default: return false;
  }
}

// value % 2 as Python computes it for jinja2's even / odd tests: the result takes the divisor's
// sign, floats keep their fraction (3.5 % 2 = 1.5: neither even nor odd) and inf or NaN give NaN.
// (Casting fmod(inf, 2) to an integer was undefined behaviour.)
double python_mod2(const Val& v) {
  if (v.is_undefined()) fail_undefined(v);
  if (v.is_int() || v.is_bool()) {
    const int64_t m = v.as_int() % 2;
    return static_cast<double>(m < 0 ? m + 2 : m);
  }
  if (v.is_float()) {
    double r = std::fmod(v.as_double(), 2.0);
    if (r < 0) r += 2.0;
    return r;
  }
  fail(ErrorCode::template_error, "unsupported operand type(s) for %: '{}' and 'int'", type_name(v));
}

bool t_even(Renderer&, const Val& v, const CallArgs& args) { return no_arguments(args, "even"), python_mod2(v) == 0.0; }
bool t_odd(Renderer&, const Val& v, const CallArgs& args) { return no_arguments(args, "odd"), python_mod2(v) == 1.0; }

bool t_divisibleby(Renderer& r, const Val& v, const CallArgs& args) {
  ArgReader a("divisibleby", args, {"num"});
  Val remainder = binary_op(r, BinaryOp::mod, v, a.require(0));
  return !truthy(remainder);
}

bool t_lower(Renderer&, const Val& v, const CallArgs& args) {
  no_arguments(args, "lower");
  std::string s = to_str(v);
  return python_lower(s) == s && python_upper(s) != s;
}

bool t_upper(Renderer&, const Val& v, const CallArgs& args) {
  no_arguments(args, "upper");
  std::string s = to_str(v);
  return python_upper(s) == s && python_lower(s) != s;
}

bool t_eq(Renderer&, const Val& v, const CallArgs& args) { return compare_op(CompareOp::eq, v, one_argument(args, "eq")); }
bool t_ne(Renderer&, const Val& v, const CallArgs& args) { return compare_op(CompareOp::ne, v, one_argument(args, "ne")); }
bool t_lt(Renderer&, const Val& v, const CallArgs& args) { return compare_op(CompareOp::lt, v, one_argument(args, "lt")); }
bool t_le(Renderer&, const Val& v, const CallArgs& args) { return compare_op(CompareOp::le, v, one_argument(args, "le")); }
bool t_gt(Renderer&, const Val& v, const CallArgs& args) { return compare_op(CompareOp::gt, v, one_argument(args, "gt")); }
bool t_ge(Renderer&, const Val& v, const CallArgs& args) { return compare_op(CompareOp::ge, v, one_argument(args, "ge")); }

bool t_in(Renderer&, const Val& v, const CallArgs& args) {
  ArgReader a("in", args, {"seq"});
  return contains(a.require(0), v);
}

bool t_filter(Renderer&, const Val& v, const CallArgs& args) {
  no_arguments(args, "filter");
  return v.is_string() && find_filter(v.as_string()) != nullptr;
}

bool t_test(Renderer&, const Val& v, const CallArgs& args) {
  no_arguments(args, "test");
  return v.is_string() && find_test(v.as_string()) != nullptr;
}

struct TestEntry {
  std::string_view name;
  TestFn fn;
};

constexpr TestEntry kTests[] = {
    {"defined", t_defined},   {"undefined", t_undefined},     {"none", t_none},       {"boolean", t_boolean},
    {"true", t_true},         {"false", t_false},             {"string", t_string},   {"mapping", t_mapping},
    {"number", t_number},     {"integer", t_integer},         {"float", t_float},     {"escaped", t_escaped},
    {"callable", t_callable}, {"iterable", t_iterable},       {"sequence", t_sequence}, {"sameas", t_sameas},
    {"even", t_even},         {"odd", t_odd},                 {"divisibleby", t_divisibleby},
    {"lower", t_lower},       {"upper", t_upper},             {"eq", t_eq},           {"equalto", t_eq},
    {"==", t_eq},             {"ne", t_ne},                   {"!=", t_ne},           {"lt", t_lt},
    {"lessthan", t_lt},       {"<", t_lt},                    {"le", t_le},           {"<=", t_le},
    {"gt", t_gt},             {"greaterthan", t_gt},          {">", t_gt},            {"ge", t_ge},
    {">=", t_ge},             {"in", t_in},                   {"filter", t_filter},   {"test", t_test},
};

}  // namespace

TestFn find_test(std::string_view name) {
  for (const auto& entry : kTests)
    if (entry.name == name) return entry.fn;
  return nullptr;
}

}  // namespace zaya::jinja
