// chat_template/value.cpp - zaya::Value accessors and compact JSON output.
#include <zaya/error.h>
#include <zaya/json_writer.h>
#include <zaya/value.h>

#include "chat_template/python_text.h"

#include <cmath>
#include <limits>

namespace zaya {

namespace {

const char* type_name(Value::Type type) {
  switch (type) {
    case Value::Type::null: return "null";
    case Value::Type::boolean: return "boolean";
    case Value::Type::integer: return "integer";
    case Value::Type::big_integer: return "big integer";
    case Value::Type::number: return "number";
    case Value::Type::string: return "string";
    case Value::Type::array: return "array";
    case Value::Type::object: return "object";
  }
  return "unknown";
}

[[noreturn]] void type_mismatch(Value::Type have, const char* want) {
  fail(ErrorCode::invalid_argument, "value is a JSON {}, not a {}", type_name(have), want);
}

// Deeply nested values are written with an explicit stack so that no input can overflow the
// native stack.
void write_json(std::string& out, const Value& root) {
  struct Frame {
    const Value* value;
    size_t next;  // next child to write
  };
  auto write_scalar = [&out](const Value& v) {
    switch (v.type()) {
      case Value::Type::null: out += "null"; break;
      case Value::Type::boolean: out += v.as_bool() ? "true" : "false"; break;
      case Value::Type::integer: out += std::to_string(v.as_int()); break;
      case Value::Type::big_integer: out += v.as_big_integer().digits; break;
      case Value::Type::number: {
        double d = v.as_double();
        out += std::isfinite(d) ? jinja::python_float_repr(d) : "null";
        break;
      }
      case Value::Type::string: json::append_string(out, v.as_string()); break;
      default: break;
    }
  };
  std::vector<Frame> stack;
  auto open = [&](const Value& v) {
    if (v.is_array()) {
      out.push_back('[');
      stack.push_back({&v, 0});
    } else if (v.is_object()) {
      out.push_back('{');
      stack.push_back({&v, 0});
    } else {
      write_scalar(v);
    }
  };
  open(root);
  while (!stack.empty()) {
    Frame& top = stack.back();
    const Value& v = *top.value;
    size_t count = v.size();
    if (top.next == count) {
      out.push_back(v.is_array() ? ']' : '}');
      stack.pop_back();
      continue;
    }
    size_t i = top.next++;
    if (i > 0) out.push_back(',');
    if (v.is_array()) {
      open(v.as_array()[i]);
    } else {
      const auto& entry = v.as_object().at_index(i);
      json::append_string(out, entry.first);
      out.push_back(':');
      open(entry.second);
    }
  }
}

}  // namespace

Value::Value(unsigned long i) {
  if (i > static_cast<unsigned long>(std::numeric_limits<int64_t>::max())) {
    data_ = BigInteger{std::to_string(i)};
  } else {
    data_ = static_cast<int64_t>(i);
  }
}

Value::Value(unsigned long long i) {
  if (i > static_cast<unsigned long long>(std::numeric_limits<int64_t>::max())) {
    data_ = BigInteger{std::to_string(i)};
  } else {
    data_ = static_cast<int64_t>(i);
  }
}

bool Value::as_bool() const {
  if (auto* b = std::get_if<bool>(&data_)) return *b;
  type_mismatch(type(), "boolean");
}

int64_t Value::as_int() const {
  if (auto* i = std::get_if<int64_t>(&data_)) return *i;
  type_mismatch(type(), "integer");
}

double Value::as_double() const {
  if (auto* d = std::get_if<double>(&data_)) return *d;
  if (auto* i = std::get_if<int64_t>(&data_)) return static_cast<double>(*i);
  if (auto* b = std::get_if<BigInteger>(&data_)) return std::strtod(b->digits.c_str(), nullptr);
  type_mismatch(type(), "number");
}

const Value::BigInteger& Value::as_big_integer() const {
  if (auto* b = std::get_if<BigInteger>(&data_)) return *b;
  type_mismatch(type(), "big integer");
}

const std::string& Value::as_string() const {
  if (auto* s = std::get_if<std::string>(&data_)) return *s;
  type_mismatch(type(), "string");
}

const Value::Array& Value::as_array() const {
  if (auto* a = std::get_if<Array>(&data_)) return *a;
  type_mismatch(type(), "array");
}

Value::Array& Value::as_array() {
  if (auto* a = std::get_if<Array>(&data_)) return *a;
  type_mismatch(type(), "array");
}

const Value::Object& Value::as_object() const {
  if (auto* o = std::get_if<Object>(&data_)) return *o;
  type_mismatch(type(), "object");
}

Value::Object& Value::as_object() {
  if (auto* o = std::get_if<Object>(&data_)) return *o;
  type_mismatch(type(), "object");
}

const Value* Value::find(std::string_view key) const {
  if (auto* o = std::get_if<Object>(&data_)) return o->find(key);
  return nullptr;
}

Value& Value::operator[](std::string_view key) {
  if (is_null()) data_ = Object{};
  return as_object()[key];
}

void Value::push_back(Value v) {
  if (is_null()) data_ = Array{};
  as_array().push_back(std::move(v));
}

size_t Value::size() const noexcept {
  if (auto* a = std::get_if<Array>(&data_)) return a->size();
  if (auto* o = std::get_if<Object>(&data_)) return o->size();
  return 0;
}

std::string Value::to_json() const {
  std::string out;
  write_json(out, *this);
  return out;
}

}  // namespace zaya
