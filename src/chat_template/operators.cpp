// chat_template/operators.cpp - Python semantics for operators, comparisons, `in`, attribute
// and item lookup, slicing and iteration, as jinja2's sandboxed environment exposes them.
//
// Integers are 64-bit: where Python would grow a big integer, rendering fails with a clear
// template_error instead (no chat template needs more).
#include "chat_template/operators.h"

#include <zaya/error.h>

#include "chat_template/objects.h"
#include "chat_template/python_format.h"
#include "chat_template/python_text.h"
#include "chat_template/renderer.h"

#include <cmath>
#include <limits>

namespace zaya::jinja {

void fail_undefined(const Val& undefined) { throw Error(ErrorCode::template_error, undefined.undefined_message()); }

namespace {

bool is_small_number(const Val& v) { return v.is_int() || v.is_bool() || v.is_float(); }
bool is_integral(const Val& v) { return v.is_int() || v.is_bool(); }

[[noreturn]] void unsupported(std::string_view symbol, const Val& a, const Val& b) {
  fail(ErrorCode::template_error, "unsupported operand type(s) for {}: '{}' and '{}'", symbol, type_name(a), type_name(b));
}

[[noreturn]] void integer_overflow() {
  fail(ErrorCode::template_error, "integer overflow: results beyond 64 bits are not supported");
}

[[noreturn]] void big_integer_arithmetic() {
  fail(ErrorCode::template_error, "arithmetic on integers beyond 64 bits is not supported");
}

bool is_plain_sequence(const Val& v) { return v.is_list() && !v.is_iterator(); }

Val repeat(Renderer& renderer, const Val& sequence, int64_t count) {
  if (count < 0) count = 0;
  if (sequence.is_string()) {
    const std::string& s = sequence.as_string();
    if (!s.empty() && static_cast<uint64_t>(count) > renderer.limits().max_output_bytes / s.size()) {
      renderer.check_string_size(renderer.limits().max_output_bytes + 1);
    }
    std::string out;
    out.reserve(s.size() * static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) out += s;
    return renderer.make_string(std::move(out));
  }
  const List& items = sequence.as_list();
  uint64_t total = items.size() * static_cast<uint64_t>(count);
  if (!items.empty() && static_cast<uint64_t>(count) > renderer.limits().max_allocated_bytes / sizeof(Val) / items.size()) {
    renderer.charge(renderer.limits().max_allocated_bytes + 1);
  }
  renderer.tick(total);
  List out;
  out.reserve(static_cast<size_t>(total));
  for (int64_t i = 0; i < count; ++i) out.insert(out.end(), items.begin(), items.end());
  return renderer.make_list(std::move(out), sequence.is_tuple());
}

double python_float_floordiv(double x, double y) {
  double mod = std::fmod(x, y);
  double div = (x - mod) / y;
  if (mod != 0.0) {
    if ((y < 0) != (mod < 0)) div -= 1.0;
  }
  if (div != 0.0) {
    double floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
    return floordiv;
  }
  return std::copysign(0.0, x / y);
}

double python_float_mod(double x, double y) {
  double mod = std::fmod(x, y);
  if (mod != 0.0) {
    if ((y < 0) != (mod < 0)) mod += y;
  } else {
    mod = std::copysign(0.0, y);
  }
  return mod;
}

Val integer_power(int64_t base, int64_t exponent) {
  int64_t result = 1;
  int64_t b = base;
  int64_t e = exponent;
  while (e > 0) {
    if (e & 1) {
      if (__builtin_mul_overflow(result, b, &result)) integer_overflow();
    }
    e >>= 1;
    if (e > 0 && __builtin_mul_overflow(b, b, &b)) integer_overflow();
  }
  return Val(result);
}

Val arithmetic(BinaryOp op, const Val& a, const Val& b) {
  const char* symbol = "+";
  switch (op) {
    case BinaryOp::add: symbol = "+"; break;
    case BinaryOp::sub: symbol = "-"; break;
    case BinaryOp::mul: symbol = "*"; break;
    case BinaryOp::div: symbol = "/"; break;
    case BinaryOp::floordiv: symbol = "//"; break;
    case BinaryOp::mod: symbol = "%"; break;
    case BinaryOp::pow: symbol = "** or pow()"; break;
    default: break;
  }
  if (a.is_big_integer() || b.is_big_integer()) {
    if ((a.is_number()) && (b.is_number())) big_integer_arithmetic();
    unsupported(symbol, a, b);
  }
  if (!is_small_number(a) || !is_small_number(b)) unsupported(symbol, a, b);
  if (is_integral(a) && is_integral(b)) {
    int64_t x = a.as_int(), y = b.as_int(), r = 0;
    switch (op) {
      case BinaryOp::add:
        if (__builtin_add_overflow(x, y, &r)) integer_overflow();
        return Val(r);
      case BinaryOp::sub:
        if (__builtin_sub_overflow(x, y, &r)) integer_overflow();
        return Val(r);
      case BinaryOp::mul:
        if (__builtin_mul_overflow(x, y, &r)) integer_overflow();
        return Val(r);
      case BinaryOp::div:
        if (y == 0) fail(ErrorCode::template_error, "division by zero");
        return Val(static_cast<double>(x) / static_cast<double>(y));
      case BinaryOp::floordiv: {
        if (y == 0) fail(ErrorCode::template_error, "integer division or modulo by zero");
        if (x == std::numeric_limits<int64_t>::min() && y == -1) integer_overflow();
        int64_t q = x / y;
        if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
        return Val(q);
      }
      case BinaryOp::mod: {
        if (y == 0) fail(ErrorCode::template_error, "integer division or modulo by zero");
        if (y == -1) return Val(int64_t{0});
        int64_t m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) m += y;
        return Val(m);
      }
      case BinaryOp::pow:
        if (y >= 0) return integer_power(x, y);
        if (x == 0) fail(ErrorCode::template_error, "0.0 cannot be raised to a negative power");
        return Val(std::pow(static_cast<double>(x), static_cast<double>(y)));
      default: break;
    }
  }
  double x = a.as_double(), y = b.as_double();
  switch (op) {
    case BinaryOp::add: return Val(x + y);
    case BinaryOp::sub: return Val(x - y);
    case BinaryOp::mul: return Val(x * y);
    case BinaryOp::div:
      if (y == 0) fail(ErrorCode::template_error, "float division by zero");
      return Val(x / y);
    case BinaryOp::floordiv:
      if (y == 0) fail(ErrorCode::template_error, "float floor division by zero");
      return Val(python_float_floordiv(x, y));
    case BinaryOp::mod:
      if (y == 0) fail(ErrorCode::template_error, "float modulo");
      return Val(python_float_mod(x, y));
    case BinaryOp::pow:
      if (x == 0 && y < 0) fail(ErrorCode::template_error, "0.0 cannot be raised to a negative power");
      if (x < 0 && std::floor(y) != y) fail(ErrorCode::template_error, "complex results are not supported");
      return Val(std::pow(x, y));
    default: break;
  }
  unsupported(symbol, a, b);
}

const char* compare_symbol(CompareOp op) {
  switch (op) {
    case CompareOp::lt: return "<";
    case CompareOp::le: return "<=";
    case CompareOp::gt: return ">";
    case CompareOp::ge: return ">=";
    default: return "==";
  }
}

// Three-way comparison for orderable values; throws TypeError-like errors otherwise. NaN makes
// every ordered comparison false, as in Python.
enum class Order { less, equal, greater, unordered };

Order order(const Val& a, const Val& b, const char* symbol) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  if (a.is_number() && b.is_number()) {
    if (is_integral(a) && is_integral(b)) {
      int64_t x = a.as_int(), y = b.as_int();
      return x < y ? Order::less : x > y ? Order::greater : Order::equal;
    }
    double x = a.as_double(), y = b.as_double();
    if (std::isnan(x) || std::isnan(y)) return Order::unordered;
    return x < y ? Order::less : x > y ? Order::greater : Order::equal;
  }
  if (a.is_string() && b.is_string()) {
    int c = a.as_string().compare(b.as_string());
    return c < 0 ? Order::less : c > 0 ? Order::greater : Order::equal;
  }
  if (is_plain_sequence(a) && is_plain_sequence(b) && a.is_tuple() == b.is_tuple()) {
    const List& x = a.as_list();
    const List& y = b.as_list();
    size_t n = std::min(x.size(), y.size());
    for (size_t i = 0; i < n; ++i) {
      if (!equals(x[i], y[i])) return order(x[i], y[i], symbol);
    }
    return x.size() < y.size() ? Order::less : x.size() > y.size() ? Order::greater : Order::equal;
  }
  fail(ErrorCode::template_error, "'{}' not supported between instances of '{}' and '{}'", symbol, type_name(a),
       type_name(b));
}

Val undefined_attribute(const Val& object, std::string_view name) {
  return Val::undefined(
      fmt::format("{} has no attribute {}", python_string_repr(object_type_repr(object)), python_string_repr(name)));
}

Val undefined_element(const Val& object, const Val& key) {
  return Val::undefined(fmt::format("{} has no element {}", object_type_repr(object), repr(key)));
}

Val bound_method_or_undefined(const Val& object, std::string_view name) {
  std::string_view static_name;
  if (has_method(object, name, static_name)) return Val(std::make_shared<BoundMethod>(object, static_name));
  // The sandbox hands out an undefined value for mutating methods; using it raises.
  if (std::string unsafe = unsafe_method_message(object, name); !unsafe.empty()) return Val::undefined(std::move(unsafe));
  return undefined_attribute(object, name);
}

// Python's slice.indices(length) followed by the selected positions.
bool slice_positions(size_t length, const Val* start_v, const Val* stop_v, const Val* step_v, std::vector<size_t>& out) {
  auto as_index = [](const Val* v, bool& ok) -> std::optional<int64_t> {
    if (!v || v->is_none()) return std::nullopt;
    if (!is_integral(*v)) {
      ok = false;
      return std::nullopt;
    }
    return v->as_int();
  };
  bool ok = true;
  auto start_i = as_index(start_v, ok);
  auto stop_i = as_index(stop_v, ok);
  auto step_i = as_index(step_v, ok);
  if (!ok) return false;
  int64_t step = step_i.value_or(1);
  if (step == 0) fail(ErrorCode::template_error, "slice step cannot be zero");
  const int64_t len = static_cast<int64_t>(length);
  int64_t lower = step < 0 ? -1 : 0;
  int64_t upper = step < 0 ? len - 1 : len;
  auto clamp = [&](std::optional<int64_t> value, int64_t fallback) {
    if (!value) return fallback;
    int64_t v = *value;
    if (v < 0) {
      v = v < -len ? lower : v + len;
      if (v < lower) v = lower;
    } else if (v > upper) {
      v = upper;
    }
    return v;
  };
  int64_t start = clamp(start_i, step < 0 ? upper : lower);
  int64_t stop = clamp(stop_i, step < 0 ? lower : upper);
  if (step > 0) {
    for (int64_t i = start; i < stop; i += step) out.push_back(static_cast<size_t>(i));
  } else {
    for (int64_t i = start; i > stop; i += step) out.push_back(static_cast<size_t>(i));
  }
  return true;
}

}  // namespace

Val binary_op(Renderer& renderer, BinaryOp op, const Val& a, const Val& b) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  switch (op) {
    case BinaryOp::add:
      if (a.is_string() && b.is_string()) {
        renderer.check_string_size(a.as_string().size() + b.as_string().size());
        std::string out;
        out.reserve(a.as_string().size() + b.as_string().size());
        out += a.as_string();
        out += b.as_string();
        return renderer.make_string(std::move(out));
      }
      if (is_plain_sequence(a) && is_plain_sequence(b) && a.is_tuple() == b.is_tuple()) {
        List out = a.as_list();
        out.insert(out.end(), b.as_list().begin(), b.as_list().end());
        renderer.tick(out.size() / 16);
        return renderer.make_list(std::move(out), a.is_tuple());
      }
      if (a.is_string() || is_plain_sequence(a)) {
        fail(ErrorCode::template_error, "can only concatenate {} (not \"{}\") to {}", type_name(a), type_name(b),
             type_name(a));
      }
      return arithmetic(op, a, b);
    case BinaryOp::mul:
      if ((a.is_string() || is_plain_sequence(a)) && is_integral(b)) return repeat(renderer, a, b.as_int());
      if ((b.is_string() || is_plain_sequence(b)) && is_integral(a)) return repeat(renderer, b, a.as_int());
      if (a.is_string() || is_plain_sequence(a) || b.is_string() || is_plain_sequence(b)) {
        const Val& other = (a.is_string() || is_plain_sequence(a)) ? b : a;
        fail(ErrorCode::template_error, "can't multiply sequence by non-int of type '{}'", type_name(other));
      }
      return arithmetic(op, a, b);
    case BinaryOp::mod:
      if (a.is_string()) return renderer.make_string(python_percent_format(renderer, a.as_string(), b));
      return arithmetic(op, a, b);
    default: return arithmetic(op, a, b);
  }
}

Val unary_op(UnaryOp op, const Val& v) {
  if (v.is_undefined()) fail_undefined(v);
  const char* symbol = op == UnaryOp::negate ? "-" : "+";
  if (v.is_big_integer()) {
    if (op == UnaryOp::plus) return v;
    const std::string& digits = v.big_integer_digits();
    return Val::big_integer(digits[0] == '-' ? digits.substr(1) : "-" + digits);
  }
  if (is_integral(v)) {
    int64_t i = v.as_int();
    if (op == UnaryOp::plus) return Val(i);
    if (i == std::numeric_limits<int64_t>::min()) integer_overflow();
    return Val(-i);
  }
  if (v.is_float()) return Val(op == UnaryOp::negate ? -v.as_double() : v.as_double());
  fail(ErrorCode::template_error, "bad operand type for unary {}: '{}'", symbol, type_name(v));
}

bool less_than(const Val& a, const Val& b) { return order(a, b, "<") == Order::less; }

bool compare_op(CompareOp op, const Val& a, const Val& b) {
  switch (op) {
    case CompareOp::eq: return equals(a, b);
    case CompareOp::ne: return !equals(a, b);
    case CompareOp::in: return contains(b, a);
    case CompareOp::not_in: return !contains(b, a);
    default: break;
  }
  Order o = order(a, b, compare_symbol(op));
  switch (op) {
    case CompareOp::lt: return o == Order::less;
    case CompareOp::le: return o == Order::less || o == Order::equal;
    case CompareOp::gt: return o == Order::greater;
    case CompareOp::ge: return o == Order::greater || o == Order::equal;
    default: return false;
  }
}

bool contains(const Val& container, const Val& item) {
  switch (container.kind()) {
    case Val::Kind::undefined: return false;
    case Val::Kind::string:
      if (!item.is_string()) {
        fail(ErrorCode::template_error, "'in <string>' requires string as left operand, not {}", type_name(item));
      }
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Val::Kind::list:
      for (const Val& element : container.as_list())
        if (equals(element, item)) return true;
      return false;
    case Val::Kind::dict:
      if (item.is_list() || item.is_dict()) fail(ErrorCode::template_error, "unhashable type: '{}'", type_name(item));
      return item.is_string() && container.as_dict().contains(item.as_string());
    default: fail(ErrorCode::template_error, "argument of type '{}' is not iterable", type_name(container));
  }
}

Val get_attr(Renderer& renderer, const Val& object, std::string_view name) {
  switch (object.kind()) {
    case Val::Kind::undefined: fail_undefined(object);
    case Val::Kind::object: return object.as_object().get_attr(renderer, name);
    case Val::Kind::dict: {
      std::string_view static_name;
      if (has_method(object, name, static_name)) return Val(std::make_shared<BoundMethod>(object, static_name));
      if (std::string unsafe = unsafe_method_message(object, name); !unsafe.empty()) return Val::undefined(std::move(unsafe));
      if (const Val* v = object.as_dict().find(name)) return *v;
      return undefined_attribute(object, name);
    }
    default: return bound_method_or_undefined(object, name);
  }
}

Val get_item(Renderer& renderer, const Val& object, const Val& key) {
  switch (object.kind()) {
    case Val::Kind::undefined: fail_undefined(object);
    case Val::Kind::dict:
      if (key.is_string()) {
        if (const Val* v = object.as_dict().find(key.as_string())) return *v;
        return bound_method_or_undefined(object, key.as_string());
      }
      if (key.is_list() || key.is_dict()) return undefined_element(object, key);  // unhashable
      return undefined_element(object, key);
    case Val::Kind::list:
    case Val::Kind::string: {
      if (key.is_string()) return bound_method_or_undefined(object, key.as_string());
      if (!is_integral(key) || object.is_iterator()) return undefined_element(object, key);
      int64_t index = key.as_int();
      if (object.is_list()) {
        const List& items = object.as_list();
        int64_t n = static_cast<int64_t>(items.size());
        if (index < 0) index += n;
        if (index < 0 || index >= n) return undefined_element(object, key);
        return items[static_cast<size_t>(index)];
      }
      const std::string& s = object.as_string();
      if (is_ascii(s)) {
        int64_t n = static_cast<int64_t>(s.size());
        if (index < 0) index += n;
        if (index < 0 || index >= n) return undefined_element(object, key);
        return renderer.make_string(std::string(1, s[static_cast<size_t>(index)]));
      }
      std::vector<size_t> offsets = code_point_offsets(s);
      int64_t n = static_cast<int64_t>(offsets.size()) - 1;
      if (index < 0) index += n;
      if (index < 0 || index >= n) return undefined_element(object, key);
      size_t begin = offsets[static_cast<size_t>(index)];
      return renderer.make_string(s.substr(begin, offsets[static_cast<size_t>(index) + 1] - begin));
    }
    case Val::Kind::object:
      if (key.is_string()) return object.as_object().get_attr(renderer, key.as_string());
      return undefined_element(object, key);
    default:
      if (key.is_string()) return bound_method_or_undefined(object, key.as_string());
      return undefined_element(object, key);
  }
}

Val slice_value(Renderer& renderer, const Val& object, const Val* start, const Val* stop, const Val* step) {
  if (object.is_undefined()) fail_undefined(object);
  for (const Val* part : {start, stop, step})
    if (part && part->is_undefined()) fail_undefined(*part);
  if (object.is_string()) {
    const std::string& s = object.as_string();
    bool ascii = is_ascii(s);
    std::vector<size_t> offsets;
    if (!ascii) offsets = code_point_offsets(s);
    size_t length = ascii ? s.size() : offsets.size() - 1;
    std::vector<size_t> positions;
    if (!slice_positions(length, start, stop, step, positions)) return Val::undefined("slice indices must be integers or None");
    renderer.tick(positions.size() / 16);
    std::string out;
    out.reserve(positions.size());
    for (size_t p : positions) {
      if (ascii) {
        out.push_back(s[p]);
      } else {
        out.append(s, offsets[p], offsets[p + 1] - offsets[p]);
      }
    }
    return renderer.make_string(std::move(out));
  }
  if (is_plain_sequence(object)) {
    const List& items = object.as_list();
    std::vector<size_t> positions;
    if (!slice_positions(items.size(), start, stop, step, positions)) return Val::undefined("slice indices must be integers or None");
    List out;
    out.reserve(positions.size());
    for (size_t p : positions) out.push_back(items[p]);
    return renderer.make_list(std::move(out), object.is_tuple());
  }
  return Val::undefined(fmt::format("{} cannot be sliced", object_type_repr(object)));
}

uint64_t comparison_cost(const Val& v) {
  if (v.is_list()) return v.as_list().size() / 8;
  if (v.is_dict()) return v.as_dict().size() / 8;
  if (v.is_string()) return v.as_string().size() / 256;
  return 0;
}

List iterate(const Val& v) {
  switch (v.kind()) {
    case Val::Kind::undefined: return {};
    case Val::Kind::list: return v.as_list();
    case Val::Kind::dict: {
      List keys;
      keys.reserve(v.as_dict().size());
      for (const auto& entry : v.as_dict()) keys.emplace_back(entry.first);
      return keys;
    }
    case Val::Kind::string: {
      List chars;
      const std::string& s = v.as_string();
      std::vector<size_t> offsets = code_point_offsets(s);
      chars.reserve(offsets.size());
      for (size_t i = 0; i + 1 < offsets.size(); ++i) chars.emplace_back(s.substr(offsets[i], offsets[i + 1] - offsets[i]));
      return chars;
    }
    default: fail(ErrorCode::template_error, "'{}' object is not iterable", type_name(v));
  }
}

size_t python_len(const Val& v) {
  switch (v.kind()) {
    case Val::Kind::undefined: return 0;
    case Val::Kind::string: return code_point_count(v.as_string());
    case Val::Kind::list:
      if (v.is_iterator()) break;
      return v.as_list().size();
    case Val::Kind::dict: return v.as_dict().size();
    default: break;
  }
  fail(ErrorCode::template_error, "object of type '{}' has no len()", type_name(v));
}

}  // namespace zaya::jinja
