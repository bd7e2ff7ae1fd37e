// chat_template/jinja_value.cpp - Val construction and Python's truthiness, equality, str and repr.
#include "chat_template/jinja_value.h"

#include <zaya/error.h>

#include "chat_template/limits.h"
#include "chat_template/python_text.h"

#include <cmath>
#include <cstdlib>

namespace zaya::jinja {

Val::Val(std::string s) : kind_(Kind::string), ptr_(std::make_shared<const std::string>(std::move(s))) {}

Val::Val(std::shared_ptr<Object> object) : kind_(Kind::object), ptr_(std::move(object)) {}

Val Val::undefined(std::string message) {
  Val v;
  v.ptr_ = std::make_shared<const std::string>(std::move(message));
  return v;
}

Val Val::big_integer(std::string digits) {
  Val v;
  v.kind_ = Kind::big_integer;
  v.ptr_ = std::make_shared<const std::string>(std::move(digits));
  return v;
}

Val Val::list(List items, bool is_tuple) {
  uint32_t depth = 0;
  for (const Val& item : items) depth = std::max(depth, item.depth());
  if (depth + 1 > kMaxValueDepth) {
    fail(ErrorCode::limit_exceeded, "values nested deeper than {} levels", kMaxValueDepth);
  }
  Val v;
  v.kind_ = Kind::list;
  v.ptr_ = std::make_shared<const ListData>(ListData{std::move(items), is_tuple, depth + 1});
  return v;
}

Val Val::iterator(List items, std::string_view iterator_type) {
  Val v = list(std::move(items));
  auto data = std::static_pointer_cast<const ListData>(v.ptr_);
  const_cast<ListData&>(*data).iterator_type = iterator_type;  // freshly made, not yet shared
  return v;
}

Val Val::dict(Dict items) {
  uint32_t depth = 0;
  for (const auto& entry : items) depth = std::max(depth, entry.second.depth());
  if (depth + 1 > kMaxValueDepth) {
    fail(ErrorCode::limit_exceeded, "values nested deeper than {} levels", kMaxValueDepth);
  }
  Val v;
  v.kind_ = Kind::dict;
  v.ptr_ = std::make_shared<const DictData>(DictData{std::move(items), depth + 1});
  return v;
}

double Val::as_double() const {
  switch (kind_) {
    case Kind::floating: return scalar_.d;
    case Kind::integer: return static_cast<double>(scalar_.i);
    case Kind::boolean: return scalar_.b ? 1.0 : 0.0;
    case Kind::big_integer: return std::strtod(as_string_ptr().c_str(), nullptr);
    default: return 0.0;
  }
}

const std::string& Val::undefined_message() const {
  static const std::string anonymous = "value is undefined";
  return ptr_ ? as_string_ptr() : anonymous;
}

uint32_t Val::depth() const noexcept {
  if (kind_ == Kind::list) return list_data().depth;
  if (kind_ == Kind::dict) return static_cast<const DictData*>(ptr_.get())->depth;
  return 0;
}

// --- ArgReader --------------------------------------------------------------------------------

ArgReader::ArgReader(std::string_view function, const CallArgs& args, std::initializer_list<std::string_view> names)
    : function_(function), names_(names), bound_(names.size(), nullptr) {
  if (args.positional.size() > names_.size()) {
    fail(ErrorCode::template_error, "{}() takes at most {} argument(s) ({} given)", function_, names_.size(),
         args.positional.size());
  }
  for (size_t i = 0; i < args.positional.size(); ++i) bound_[i] = &args.positional[i];
  for (const auto& [key, value] : args.keywords) {
    size_t i = 0;
    while (i < names_.size() && names_[i] != key) ++i;
    if (i == names_.size()) fail(ErrorCode::template_error, "{}() got an unexpected keyword argument '{}'", function_, key);
    if (bound_[i]) fail(ErrorCode::template_error, "{}() got multiple values for argument '{}'", function_, key);
    bound_[i] = &value;
  }
}

const Val& ArgReader::require(size_t i) const {
  if (!bound_[i]) fail(ErrorCode::template_error, "{}() missing required argument '{}'", function_, names_[i]);
  return *bound_[i];
}

// --- Object defaults --------------------------------------------------------------------------

Val Object::get_attr(Renderer&, std::string_view name) {
  return Val::undefined(fmt::format("'{} object' has no attribute '{}'", type_name(), name));
}

bool Object::set_attr(std::string_view, Val) { return false; }

Val Object::call(Renderer&, const CallArgs&) {
  fail(ErrorCode::template_error, "'{}' object is not callable", type_name());
}

std::string Object::repr() const { return fmt::format("<{} object>", type_name()); }

// --- Python semantics -------------------------------------------------------------------------

bool truthy(const Val& v) {
  switch (v.kind()) {
    case Val::Kind::undefined:
    case Val::Kind::none: return false;
    case Val::Kind::boolean: return v.as_bool();
    case Val::Kind::integer: return v.as_int() != 0;
    case Val::Kind::big_integer: return true;  // never zero: zero fits in int64
    case Val::Kind::floating: return v.as_double() != 0.0;
    case Val::Kind::string: return !v.as_string().empty();
    case Val::Kind::list: return v.is_iterator() || !v.as_list().empty();
    case Val::Kind::dict: return !v.as_dict().empty();
    case Val::Kind::object: return v.as_object().is_truthy();
  }
  return false;
}

namespace {

bool is_numeric(const Val& v) {
  return v.is_int() || v.is_bool() || v.is_float() || v.is_big_integer();
}

bool equals_at(const Val& a, const Val& b, int depth) {
  if (depth > static_cast<int>(kMaxValueDepth) * 2) {
    fail(ErrorCode::limit_exceeded, "values nested deeper than {} levels", kMaxValueDepth);
  }
  if (is_numeric(a) && is_numeric(b)) {
    if (a.is_big_integer() || b.is_big_integer()) {
      if (a.is_big_integer() && b.is_big_integer()) return a.big_integer_digits() == b.big_integer_digits();
      if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
      return false;  // a big integer never equals an int64
    }
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Val::Kind::undefined:
    case Val::Kind::none: return true;
    case Val::Kind::string: return a.as_string() == b.as_string();
    case Val::Kind::list: {
      if (a.is_iterator() || b.is_iterator()) return a.as_list().data() == b.as_list().data();
      if (a.is_tuple() != b.is_tuple()) return false;
      const List& x = a.as_list();
      const List& y = b.as_list();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (!equals_at(x[i], y[i], depth + 1)) return false;
      return true;
    }
    case Val::Kind::dict: {
      const Dict& x = a.as_dict();
      const Dict& y = b.as_dict();
      if (x.size() != y.size()) return false;
      for (const auto& [key, value] : x) {
        const Val* other = y.find(key);
        if (!other || !equals_at(value, *other, depth + 1)) return false;
      }
      return true;
    }
    case Val::Kind::object: return &a.as_object() == &b.as_object();
    default: return false;
  }
}

void append_repr(std::string& out, const Val& v, int depth);

thread_local size_t tl_max_repr_bytes = static_cast<size_t>(-1);

void check_repr_size(const std::string& out) {
  if (out.size() > tl_max_repr_bytes) {
    fail(ErrorCode::limit_exceeded, "printing a value would take more than {} bytes", tl_max_repr_bytes);
  }
}

void append_repr_items(std::string& out, const Val& v, int depth) {
  if (v.is_iterator()) {
    out += fmt::format("<{} object>", v.iterator_type());
  } else if (v.is_list()) {
    bool tuple = v.is_tuple();
    out.push_back(tuple ? '(' : '[');
    const List& items = v.as_list();
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out += ", ";
      append_repr(out, items[i], depth + 1);
      check_repr_size(out);
    }
    if (tuple && items.size() == 1) out.push_back(',');
    out.push_back(tuple ? ')' : ']');
  } else {
    out.push_back('{');
    bool first = true;
    for (const auto& [key, value] : v.as_dict()) {
      if (!first) out += ", ";
      first = false;
      out += python_string_repr(key);
      out += ": ";
      append_repr(out, value, depth + 1);
      check_repr_size(out);
    }
    out.push_back('}');
  }
}

// repr() can recurse through objects (a namespace holding a list holding a namespace...), so
// the nesting is counted per thread across those calls too.
thread_local int tl_repr_depth = 0;

struct ReprDepthGuard {
  ReprDepthGuard() {
    if (++tl_repr_depth > static_cast<int>(kMaxValueDepth) * 2) {
      --tl_repr_depth;
      fail(ErrorCode::limit_exceeded, "values nested deeper than {} levels", kMaxValueDepth);
    }
  }
  ~ReprDepthGuard() { --tl_repr_depth; }
  ReprDepthGuard(const ReprDepthGuard&) = delete;
  ReprDepthGuard& operator=(const ReprDepthGuard&) = delete;
};

void append_repr(std::string& out, const Val& v, int depth) {
  ReprDepthGuard guard;
  (void)depth;
  switch (v.kind()) {
    case Val::Kind::undefined: out += "Undefined"; break;
    case Val::Kind::string: out += python_string_repr(v.as_string()); break;
    case Val::Kind::list:
    case Val::Kind::dict: append_repr_items(out, v, depth); break;
    case Val::Kind::object: out += v.as_object().repr(); break;
    default: append_str(out, v); break;
  }
}

}  // namespace

bool equals(const Val& a, const Val& b) { return equals_at(a, b, 0); }

ReprSizeLimit::ReprSizeLimit(size_t max_bytes) : previous_(tl_max_repr_bytes) { tl_max_repr_bytes = max_bytes; }
ReprSizeLimit::~ReprSizeLimit() { tl_max_repr_bytes = previous_; }

void append_str(std::string& out, const Val& v) {
  switch (v.kind()) {
    case Val::Kind::undefined: break;
    case Val::Kind::none: out += "None"; break;
    case Val::Kind::boolean: out += v.as_bool() ? "True" : "False"; break;
    case Val::Kind::integer: out += std::to_string(v.as_int()); break;
    case Val::Kind::big_integer: out += v.big_integer_digits(); break;
    case Val::Kind::floating: out += python_float_repr(v.as_double()); break;
    case Val::Kind::string: out += v.as_string(); break;
    case Val::Kind::list:
    case Val::Kind::dict: append_repr_items(out, v, 0); break;
    case Val::Kind::object: out += v.as_object().repr(); break;
  }
}

std::string to_str(const Val& v) {
  if (v.is_string()) return v.as_string();
  std::string out;
  append_str(out, v);
  return out;
}

std::string repr(const Val& v) {
  std::string out;
  append_repr(out, v, 0);
  return out;
}

std::string_view type_name(const Val& v) {
  switch (v.kind()) {
    case Val::Kind::undefined: return "Undefined";
    case Val::Kind::none: return "NoneType";
    case Val::Kind::boolean: return "bool";
    case Val::Kind::integer:
    case Val::Kind::big_integer: return "int";
    case Val::Kind::floating: return "float";
    case Val::Kind::string: return "str";
    case Val::Kind::list: return v.is_iterator() ? v.iterator_type() : v.is_tuple() ? "tuple" : "list";
    case Val::Kind::dict: return "dict";
    case Val::Kind::object: return v.as_object().type_name();
  }
  return "object";
}

std::string object_type_repr(const Val& v) {
  if (v.is_none()) return "None";
  return fmt::format("{} object", type_name(v));
}

namespace {

Val from_value_at(const Value& value, uint32_t depth) {
  switch (value.type()) {
    case Value::Type::null: return Val::none();
    case Value::Type::boolean: return Val(value.as_bool());
    case Value::Type::integer: return Val(value.as_int());
    case Value::Type::big_integer: return Val::big_integer(value.as_big_integer().digits);
    case Value::Type::number: return Val(value.as_double());
    case Value::Type::string: return Val(value.as_string());
    case Value::Type::array: {
      if (depth >= kMaxValueDepth) fail(ErrorCode::limit_exceeded, "input nested deeper than {} levels", kMaxValueDepth);
      List items;
      items.reserve(value.size());
      for (const Value& item : value.as_array()) items.push_back(from_value_at(item, depth + 1));
      return Val::list(std::move(items));
    }
    case Value::Type::object: {
      if (depth >= kMaxValueDepth) fail(ErrorCode::limit_exceeded, "input nested deeper than {} levels", kMaxValueDepth);
      Dict items;
      for (const auto& [key, item] : value.as_object()) items.set(key, from_value_at(item, depth + 1));
      return Val::dict(std::move(items));
    }
  }
  return Val::none();
}

}  // namespace

Val from_value(const Value& value) { return from_value_at(value, 0); }

}  // namespace zaya::jinja
