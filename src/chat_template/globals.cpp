// chat_template/globals.cpp - the global functions a template can call: jinja2's range,
// dict, namespace, cycler and joiner, plus HF's raise_exception and strftime_now.
#include <zaya/error.h>

#include "chat_template/limits.h"
#include "chat_template/objects.h"
#include "chat_template/operators.h"
#include "chat_template/raised_error.h"

#include <array>
#include <ctime>

namespace zaya::jinja {

namespace {

int64_t int_argument(const Val& v, std::string_view function) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  if (v.is_undefined()) fail_undefined(v);
  fail(ErrorCode::template_error, "'{}' object cannot be interpreted as an integer ({}())", type_name(v), function);
}

Val builtin_range(Renderer& renderer, const CallArgs& args) {
  if (!args.keywords.empty()) fail(ErrorCode::template_error, "range() takes no keyword arguments");
  int64_t start = 0, stop = 0, step = 1;
  switch (args.positional.size()) {
    case 1: stop = int_argument(args.positional[0], "range"); break;
    case 2:
      start = int_argument(args.positional[0], "range");
      stop = int_argument(args.positional[1], "range");
      break;
    case 3:
      start = int_argument(args.positional[0], "range");
      stop = int_argument(args.positional[1], "range");
      step = int_argument(args.positional[2], "range");
      break;
    default: fail(ErrorCode::template_error, "range expected 1 to 3 arguments, got {}", args.positional.size());
  }
  if (step == 0) fail(ErrorCode::template_error, "range() arg 3 must not be zero");
  // Length as in CPython, computed in unsigned arithmetic so that no bounds can overflow.
  uint64_t span = step > 0 ? static_cast<uint64_t>(stop) - static_cast<uint64_t>(start)
                           : static_cast<uint64_t>(start) - static_cast<uint64_t>(stop);
  bool empty = step > 0 ? stop <= start : start <= stop;
  uint64_t magnitude = step > 0 ? static_cast<uint64_t>(step) : 0 - static_cast<uint64_t>(step);
  uint64_t length = empty ? 0 : (span - 1) / magnitude + 1;
  if (length > static_cast<uint64_t>(kMaxRange)) {
    fail(ErrorCode::limit_exceeded, "Range too big. The sandbox blocks ranges larger than MAX_RANGE ({}).", kMaxRange);
  }
  renderer.tick(length);
  List items;
  items.reserve(static_cast<size_t>(length));
  for (uint64_t i = 0; i < length; ++i) items.emplace_back(static_cast<int64_t>(static_cast<uint64_t>(start) + i * static_cast<uint64_t>(step)));
  return renderer.make_list(std::move(items));
}

// dict(mapping_or_pairs, **kwargs), also the argument convention of namespace().
Dict dict_from_args(const CallArgs& args, std::string_view function) {
  Dict out;
  if (args.positional.size() > 1) {
    fail(ErrorCode::template_error, "{} expected at most 1 argument, got {}", function, args.positional.size());
  }
  if (!args.positional.empty()) {
    const Val& source = args.positional[0];
    if (source.is_dict()) {
      out = source.as_dict();
    } else {
      for (const Val& pair : iterate(source)) {
        List kv = iterate(pair);
        if (kv.size() != 2) {
          fail(ErrorCode::template_error, "dictionary update sequence element has length {}; 2 is required", kv.size());
        }
        if (!kv[0].is_string()) fail(ErrorCode::template_error, "dict keys must be strings in chat templates");
        out.set(kv[0].as_string(), kv[1]);
      }
    }
  }
  for (const auto& [key, value] : args.keywords) out.set(key, value);
  return out;
}

Val builtin_dict(Renderer& renderer, const CallArgs& args) { return renderer.make_dict(dict_from_args(args, "dict")); }

Val builtin_namespace(Renderer& renderer, const CallArgs& args) {
  return Val(renderer.make_object<NamespaceObject>(dict_from_args(args, "namespace")));
}

Val builtin_raise_exception(Renderer&, const CallArgs& args) {
  ArgReader a("raise_exception", args, {"message"});
  throw RaisedError(to_str(a.require(0)));
}

// datetime.now().strftime(format): a naive datetime, so %z and %Z are empty and %f is zero.
Val builtin_strftime_now(Renderer& renderer, const CallArgs& args) {
  ArgReader a("strftime_now", args, {"format"});
  const Val& format_value = a.require(0);
  if (!format_value.is_string()) {
    fail(ErrorCode::template_error, "strftime() argument 1 must be str, not {}", type_name(format_value));
  }
  const std::string& format = format_value.as_string();
  std::string prepared;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] == '%' && i + 1 < format.size()) {
      char d = format[i + 1];
      if (d == 'f') {
        prepared += "000000";
        ++i;
        continue;
      }
      if (d == 'z' || d == 'Z') {
        ++i;
        continue;
      }
      prepared += format[i];
      prepared += d;
      ++i;
      continue;
    }
    prepared += format[i];
  }
  if (prepared.empty()) return renderer.make_string("");
  std::tm tm = renderer.now();
  // strftime returns 0 both for "too small" and for an empty result; bounded retries tell
  // them apart without trusting the format's size.
  for (size_t size = 256; size <= 64 * (prepared.size() + 16); size *= 4) {
    std::string buffer(size, '\0');
    size_t n = std::strftime(buffer.data(), buffer.size(), prepared.c_str(), &tm);
    if (n > 0) {
      buffer.resize(n);
      return renderer.make_string(std::move(buffer));
    }
  }
  return renderer.make_string("");
}

// cycler(a, b, c): .next() returns the items in turn, .current the current one, .reset().
class CyclerObject : public Object {
 public:
  explicit CyclerObject(List items) : items_(std::move(items)) {}
  std::string_view type_name() const override { return "Cycler"; }
  Val get_attr(Renderer& renderer, std::string_view name) override {
    if (name == "current") return items_.empty() ? Val::none() : items_[position_];
    if (name == "next" || name == "reset") {
      auto self = std::static_pointer_cast<CyclerObject>(shared_from_this());
      return Val(std::make_shared<CyclerMethod>(std::move(self), name == "next"));
    }
    return Object::get_attr(renderer, name);
  }
  Val advance() {
    if (items_.empty()) fail(ErrorCode::template_error, "cycler has no items");
    Val current = items_[position_];
    position_ = (position_ + 1) % items_.size();
    return current;
  }
  void reset() { position_ = 0; }
  void release() override { items_.clear(); }

 private:
  class CyclerMethod : public Object {
   public:
    CyclerMethod(std::shared_ptr<CyclerObject> cycler, bool is_next) : cycler_(std::move(cycler)), is_next_(is_next) {}
    std::string_view type_name() const override { return "method"; }
    bool is_callable() const override { return true; }
    Val call(Renderer&, const CallArgs&) override {
      if (is_next_) return cycler_->advance();
      cycler_->reset();
      return Val::none();
    }

   private:
    std::shared_ptr<CyclerObject> cycler_;
    bool is_next_;
  };

  List items_;
  size_t position_ = 0;
};

Val builtin_cycler(Renderer& renderer, const CallArgs& args) {
  return Val(renderer.make_object<CyclerObject>(args.positional));
}

// joiner(sep): returns "" the first time it is called and sep afterwards.
class JoinerObject : public Object {
 public:
  explicit JoinerObject(Val separator) : separator_(std::move(separator)) {}
  std::string_view type_name() const override { return "Joiner"; }
  bool is_callable() const override { return true; }
  Val call(Renderer&, const CallArgs&) override {
    if (!used_) {
      used_ = true;
      return Val(std::string());
    }
    return separator_;
  }
  void release() override { separator_ = Val(); }

 private:
  Val separator_;
  bool used_ = false;
};

Val builtin_joiner(Renderer& renderer, const CallArgs& args) {
  ArgReader a("joiner", args, {"sep"});
  return Val(renderer.make_object<JoinerObject>(a.get_or(0, Val(std::string(", ")))));
}

// jinja2's lipsum() produces random text, which no prompt can depend on; it exists so that
// `lipsum is defined` agrees with jinja2, and refuses to run.
Val builtin_lipsum(Renderer&, const CallArgs&) {
  fail(ErrorCode::template_error, "lipsum() is not supported: its output is random");
}

struct GlobalEntry {
  std::string_view name;
  BuiltinFn fn;
};

constexpr std::array<GlobalEntry, 8> kGlobals = {{
    {"range", builtin_range},
    {"dict", builtin_dict},
    {"namespace", builtin_namespace},
    {"raise_exception", builtin_raise_exception},
    {"strftime_now", builtin_strftime_now},
    {"cycler", builtin_cycler},
    {"joiner", builtin_joiner},
    {"lipsum", builtin_lipsum},
}};

}  // namespace

const Val* find_global(std::string_view name) {
  // Immutable function objects shared by all renders (thread-safe static initialisation).
  static const std::vector<std::pair<std::string_view, Val>> table = [] {
    std::vector<std::pair<std::string_view, Val>> entries;
    for (const auto& entry : kGlobals) {
      entries.emplace_back(entry.name, Val(std::make_shared<BuiltinFunction>(entry.name, entry.fn)));
    }
    return entries;
  }();
  for (const auto& [global_name, value] : table)
    if (global_name == name) return &value;
  return nullptr;
}

}  // namespace zaya::jinja
