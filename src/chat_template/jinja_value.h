// chat_template/jinja_value.h - the values a template computes with.
//
// Val mirrors the Python objects jinja2 sees: Undefined, None, bool, int, float, str, list,
// tuple, dict and a few objects (namespace, loop, macro, functions, bound methods). Strings,
// lists and dicts are immutable and shared by reference, so copying a Val is cheap; HF renders
// with an ImmutableSandboxedEnvironment, where templates cannot mutate lists or dicts either.
// The only mutable things are namespaces (and loop/cycler state), which are Objects.
#pragma once

#include <zaya/value.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace zaya::jinja {

class Val;
class Object;
class Renderer;
using List = std::vector<Val>;
using Dict = zaya::detail::OrderedMap<Val>;

struct ListData {
  List items;
  bool is_tuple = false;
  uint32_t depth = 1;  // container nesting, bounded so that recursion over values is bounded
  // Non-empty for the one-shot iterators that jinja2 filters return (map, select, reverse...):
  // "generator", "list_reverseiterator". Python treats these differently from lists: they are
  // always true, have no len() and print as "<generator object ...>".
  std::string_view iterator_type;
};

struct DictData {
  Dict items;
  uint32_t depth = 1;
};

class Val {
 public:
  enum class Kind : uint8_t { undefined, none, boolean, integer, big_integer, floating, string, list, dict, object };

  Val() noexcept : kind_(Kind::undefined) {}  // an Undefined without a name
  Val(bool b) noexcept : kind_(Kind::boolean) { scalar_.b = b; }
  Val(int64_t i) noexcept : kind_(Kind::integer) { scalar_.i = i; }
  Val(int i) noexcept : Val(static_cast<int64_t>(i)) {}
  Val(double d) noexcept : kind_(Kind::floating) { scalar_.d = d; }
  Val(std::string s);
  Val(const char* s) : Val(std::string(s)) {}
  explicit Val(std::shared_ptr<Object> object);

  static Val none() noexcept {
    Val v;
    v.kind_ = Kind::none;
    return v;
  }
  // `message` is what jinja2 says when the undefined value is used: "'x' is undefined".
  static Val undefined(std::string message);
  static Val big_integer(std::string digits);
  static Val list(List items, bool is_tuple = false);
  static Val iterator(List items, std::string_view iterator_type);
  static Val dict(Dict items);

  Kind kind() const noexcept { return kind_; }
  bool is_undefined() const noexcept { return kind_ == Kind::undefined; }
  bool is_none() const noexcept { return kind_ == Kind::none; }
  bool is_bool() const noexcept { return kind_ == Kind::boolean; }
  bool is_int() const noexcept { return kind_ == Kind::integer; }
  bool is_float() const noexcept { return kind_ == Kind::floating; }
  bool is_big_integer() const noexcept { return kind_ == Kind::big_integer; }
  // Python's numbers.Number, which includes bool.
  bool is_number() const noexcept {
    return kind_ == Kind::integer || kind_ == Kind::floating || kind_ == Kind::boolean || kind_ == Kind::big_integer;
  }
  bool is_string() const noexcept { return kind_ == Kind::string; }
  bool is_list() const noexcept { return kind_ == Kind::list; }  // list or tuple
  bool is_tuple() const noexcept { return kind_ == Kind::list && list_data().is_tuple; }
  bool is_iterator() const noexcept { return kind_ == Kind::list && !list_data().iterator_type.empty(); }
  std::string_view iterator_type() const noexcept { return list_data().iterator_type; }
  bool is_dict() const noexcept { return kind_ == Kind::dict; }
  bool is_object() const noexcept { return kind_ == Kind::object; }

  bool as_bool() const noexcept { return scalar_.b; }
  int64_t as_int() const noexcept { return kind_ == Kind::boolean ? (scalar_.b ? 1 : 0) : scalar_.i; }
  double as_double() const;  // any number kind
  const std::string& as_string() const noexcept { return *static_cast<const std::string*>(ptr_.get()); }
  const std::string& undefined_message() const;
  const std::string& big_integer_digits() const noexcept { return as_string_ptr(); }
  const List& as_list() const noexcept { return list_data().items; }
  const Dict& as_dict() const noexcept { return static_cast<const DictData*>(ptr_.get())->items; }
  Object& as_object() const noexcept { return *static_cast<Object*>(const_cast<void*>(ptr_.get())); }
  std::shared_ptr<Object> object_ptr() const noexcept {
    return std::static_pointer_cast<Object>(std::const_pointer_cast<void>(ptr_));
  }
  uint32_t depth() const noexcept;  // 0 for scalars

 private:
  const ListData& list_data() const noexcept { return *static_cast<const ListData*>(ptr_.get()); }
  const std::string& as_string_ptr() const noexcept { return *static_cast<const std::string*>(ptr_.get()); }

  Kind kind_;
  union {
    bool b;
    int64_t i;
    double d;
  } scalar_{};
  // string / undefined message / big integer digits: std::string; list: ListData;
  // dict: DictData; object: Object.
  std::shared_ptr<const void> ptr_;
};

// Positional and keyword arguments of a call, a filter or a test.
struct CallArgs {
  std::vector<Val> positional;
  std::vector<std::pair<std::string, Val>> keywords;
};

// Binds CallArgs to a Python-style signature and reports misuse like Python would.
class ArgReader {
 public:
  // `names` are the parameter names in order. Throws template_error for too many positional
  // arguments, unknown keywords or a parameter given twice.
  ArgReader(std::string_view function, const CallArgs& args, std::initializer_list<std::string_view> names);
  // The argument bound to parameter i, or nullptr when it was not given.
  const Val* get(size_t i) const { return bound_[i]; }
  Val get_or(size_t i, Val fallback) const { return bound_[i] ? *bound_[i] : std::move(fallback); }
  bool has(size_t i) const { return bound_[i] != nullptr; }
  const Val& require(size_t i) const;

 private:
  std::string function_;
  std::vector<std::string_view> names_;
  std::vector<const Val*> bound_;
};

// Base of every non-data object: namespace(), loop, macros, builtin functions, methods.
class Object : public std::enable_shared_from_this<Object> {
 public:
  virtual ~Object() = default;
  // Python type name used in messages: "Namespace", "LoopContext", "Macro", "function".
  virtual std::string_view type_name() const = 0;
  // Attribute lookup; missing attributes give an Undefined.
  virtual Val get_attr(Renderer& renderer, std::string_view name);
  // Only namespaces accept `{% set ns.attr = value %}`.
  virtual bool set_attr(std::string_view name, Val value);
  virtual bool is_callable() const { return false; }
  virtual Val call(Renderer& renderer, const CallArgs& args);
  virtual std::string repr() const;
  virtual bool is_truthy() const { return true; }
  // Drops references to other values; called when a render ends to break reference cycles
  // (a namespace holding itself, a macro stored in the scope it closes over).
  virtual void release() {}
};

// --- Python semantics -------------------------------------------------------------------------

bool truthy(const Val& v);
// Python ==, with jinja2's Undefined == Undefined.
bool equals(const Val& a, const Val& b);
// Python's str(v) as jinja2 prints it: "" for Undefined, "None", "True", "1.0", "['a', 1]".
std::string to_str(const Val& v);
void append_str(std::string& out, const Val& v);
// Python's repr(v).
std::string repr(const Val& v);
// Python type name for messages: "int", "str", "list", "dict", "NoneType", "Undefined".
std::string_view type_name(const Val& v);
// jinja2's object_type_repr: "dict object", "None", "list object".
std::string object_type_repr(const Val& v);

// The largest string str()/repr() may build on this thread (TemplateLimits::max_output_bytes
// while a render runs); past it they fail with limit_exceeded instead of allocating further.
class ReprSizeLimit {
 public:
  explicit ReprSizeLimit(size_t max_bytes);
  ~ReprSizeLimit();
  ReprSizeLimit(const ReprSizeLimit&) = delete;
  ReprSizeLimit& operator=(const ReprSizeLimit&) = delete;

 private:
  size_t previous_;
};

// Input data (messages, tools, variables) to template values.
Val from_value(const Value& value);

}  // namespace zaya::jinja
