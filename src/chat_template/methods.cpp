// chat_template/methods.cpp - the str, dict and list methods templates call ("x".startswith,
// message.get, content.split('</think>')), with Python's semantics on code points.
#include <zaya/error.h>
#include <zaya/utf8.h>

#include "chat_template/objects.h"
#include "chat_template/operators.h"
#include "chat_template/python_format.h"
#include "chat_template/python_text.h"

#include <algorithm>
#include <array>

namespace zaya::jinja {

namespace {

constexpr std::array<std::string_view, 41> kStringMethods = {
    "capitalize", "casefold",  "center",     "count",      "endswith",  "find",      "format",
    "index",      "isalnum",   "isalpha",    "isascii",    "isdecimal", "isdigit",   "isidentifier",
    "islower",    "isnumeric", "isspace",    "istitle",    "isupper",   "join",      "ljust",
    "lower",      "lstrip",    "partition",  "removeprefix", "removesuffix", "replace", "rfind",
    "rindex",     "rjust",     "rpartition", "rsplit",     "rstrip",    "split",     "splitlines",
    "startswith", "strip",     "swapcase",   "title",      "upper",     "zfill"};
constexpr std::array<std::string_view, 5> kDictMethods = {"copy", "get", "items", "keys", "values"};
constexpr std::array<std::string_view, 6> kUnsafeDictMethods = {"clear", "pop", "popitem", "setdefault", "update",
                                                                 "fromkeys"};
constexpr std::array<std::string_view, 3> kListMethods = {"copy", "count", "index"};
constexpr std::array<std::string_view, 8> kUnsafeListMethods = {"append", "clear", "extend", "insert",
                                                                "pop",    "remove", "reverse", "sort"};

template <size_t N>
bool find_name(const std::array<std::string_view, N>& names, std::string_view name, std::string_view& found) {
  for (std::string_view candidate : names) {
    if (candidate == name) {
      found = candidate;
      return true;
    }
  }
  return false;
}

const std::string& require_string(const Val& v, std::string_view method, std::string_view what = "argument") {
  if (!v.is_string()) {
    if (v.is_undefined()) fail_undefined(v);
    fail(ErrorCode::template_error, "str.{}() {} must be str, not {}", method, what, type_name(v));
  }
  return v.as_string();
}

std::optional<std::string> optional_string(const Val* v, std::string_view method) {
  if (!v || v->is_none()) return std::nullopt;
  return require_string(*v, method);
}

int64_t require_int(const Val& v, std::string_view method) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  if (v.is_undefined()) fail_undefined(v);
  fail(ErrorCode::template_error, "{}() argument must be int, not {}", method, type_name(v));
}

Val string_list(Renderer& renderer, std::vector<std::string> parts) {
  List items;
  items.reserve(parts.size());
  for (auto& part : parts) items.emplace_back(std::move(part));
  return renderer.make_list(std::move(items));
}

// The code-point range [start, end) of s selected by optional Python start/end arguments, as
// byte offsets.
std::pair<size_t, size_t> byte_range(const std::string& s, const Val* start, const Val* end) {
  if ((!start || start->is_none()) && (!end || end->is_none())) return {0, s.size()};
  std::vector<size_t> offsets = code_point_offsets(s);
  int64_t n = static_cast<int64_t>(offsets.size()) - 1;
  auto clamp = [&](const Val* v, int64_t fallback) {
    if (!v || v->is_none()) return fallback;
    int64_t i = require_int(*v, "slice");
    if (i < 0) i = std::max<int64_t>(0, i + n);
    return std::min(i, n);
  };
  int64_t b = clamp(start, 0), e = clamp(end, n);
  if (e < b) e = b;
  return {offsets[static_cast<size_t>(b)], offsets[static_cast<size_t>(e)]};
}

int64_t code_point_index(const std::string& s, size_t byte_offset) {
  return static_cast<int64_t>(code_point_count(std::string_view(s).substr(0, byte_offset)));
}

bool affix_matches(const std::string& s, const Val& affix, std::string_view method, bool prefix, const Val* start,
                   const Val* end) {
  auto [b, e] = byte_range(s, start, end);
  std::string_view view = std::string_view(s).substr(b, e - b);
  auto test = [&](const std::string& a) {
    if (a.size() > view.size()) return false;
    return prefix ? view.substr(0, a.size()) == a : view.substr(view.size() - a.size()) == a;
  };
  if (affix.is_tuple()) {
    for (const Val& item : affix.as_list())
      if (test(require_string(item, method, "tuple item"))) return true;
    return false;
  }
  if (!affix.is_string()) {
    if (affix.is_undefined()) fail_undefined(affix);
    fail(ErrorCode::template_error, "{} first arg must be str or a tuple of str, not {}", method, type_name(affix));
  }
  return test(affix.as_string());
}

std::string python_replace(Renderer& renderer, const std::string& s, const std::string& old_text,
                           const std::string& new_text, int64_t count) {
  std::string out;
  if (old_text.empty()) {
    // "abc".replace("", "-") == "-a-b-c-"
    std::vector<size_t> offsets = code_point_offsets(s);
    int64_t done = 0;
    for (size_t i = 0; i + 1 <= offsets.size(); ++i) {
      if (count < 0 || done < count) {
        out += new_text;
        ++done;
      }
      if (i + 1 < offsets.size()) out.append(s, offsets[i], offsets[i + 1] - offsets[i]);
      renderer.check_string_size(out.size());
    }
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t hit = s.find(old_text, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out += new_text;
    renderer.check_string_size(out.size());
    pos = hit + old_text.size();
    ++done;
  }
  out.append(s, pos, std::string::npos);
  return out;
}

std::string justify(Renderer& renderer, const std::string& s, const ArgReader& a, char how) {
  int64_t width = require_int(a.require(0), "width");
  std::string fill = " ";
  if (const Val* f = a.get(1)) {
    fill = require_string(*f, "fill");
    if (code_point_count(fill) != 1) fail(ErrorCode::template_error, "The fill character must be exactly one character long");
  }
  int64_t length = static_cast<int64_t>(code_point_count(s));
  if (width <= length) return s;
  if (width > static_cast<int64_t>(renderer.limits().max_output_bytes)) renderer.check_string_size(static_cast<size_t>(width));
  size_t padding = static_cast<size_t>(width - length);
  auto repeat = [&](size_t n) {
    std::string r;
    for (size_t i = 0; i < n; ++i) r += fill;
    return r;
  };
  if (how == '<') return s + repeat(padding);
  if (how == '>') return repeat(padding) + s;
  // CPython's center puts the extra character on the left when the original length is odd.
  size_t left = padding / 2 + (padding & static_cast<size_t>(width) & 1);
  return repeat(left) + s + repeat(padding - left);
}

template <typename Pred>
bool all_code_points(const std::string& s, Pred&& pred) {
  if (s.empty()) return false;
  size_t pos = 0;
  while (pos < s.size()) {
    if (!pred(utf8::decode(s, pos))) return false;
  }
  return true;
}

bool is_alpha_cp(char32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  return is_cased(cp) || (cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x3400 && cp <= 0x9FFF) ||
         (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0x0600 && cp <= 0x06FF && cp != 0x060C && cp != 0x061F) ||
         (cp >= 0x0900 && cp <= 0x097F) || (cp >= 0x05D0 && cp <= 0x05EA) || (cp >= 0x0E01 && cp <= 0x0E30);
}
bool is_digit_cp(char32_t cp) { return cp >= '0' && cp <= '9'; }

Val call_string_method(Renderer& renderer, const std::string& s, std::string_view name, const CallArgs& args) {
  auto str = [&](std::string text) { return renderer.make_string(std::move(text)); };
  if (name == "startswith" || name == "endswith") {
    ArgReader a(name, args, {"prefix", "start", "end"});
    return Val(affix_matches(s, a.require(0), name, name == "startswith", a.get(1), a.get(2)));
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    ArgReader a(name, args, {"chars"});
    auto chars = optional_string(a.get(0), name);
    return str(python_strip(s, chars, name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    ArgReader a(name, args, {"sep", "maxsplit"});
    auto sep = optional_string(a.get(0), name);
    if (sep && sep->empty()) fail(ErrorCode::template_error, "empty separator");
    int64_t maxsplit = a.has(1) ? require_int(*a.get(1), name) : -1;
    renderer.tick(s.size() / 64);
    return string_list(renderer, name == "split" ? python_split(s, sep, maxsplit) : python_rsplit(s, sep, maxsplit));
  }
  if (name == "splitlines") {
    ArgReader a(name, args, {"keepends"});
    renderer.tick(s.size() / 64);
    return string_list(renderer, python_splitlines(s, a.has(0) && truthy(*a.get(0))));
  }
  if (name == "replace") {
    ArgReader a(name, args, {"old", "new", "count"});
    const std::string& old_text = require_string(a.require(0), name);
    const std::string& new_text = require_string(a.require(1), name);
    int64_t count = a.has(2) ? require_int(*a.get(2), name) : -1;
    renderer.tick(s.size() / 64);
    return str(python_replace(renderer, s, old_text, new_text, count));
  }
  if (name == "upper" || name == "lower" || name == "casefold" || name == "title" || name == "capitalize" ||
      name == "swapcase") {
    ArgReader check(name, args, {});
    if (name == "upper") return str(python_upper(s));
    if (name == "title") return str(python_title(s));
    if (name == "capitalize") return str(python_capitalize(s));
    if (name == "swapcase") return str(python_swapcase(s));
    return str(python_lower(s));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
    ArgReader a(name, args, {"sub", "start", "end"});
    const std::string& sub = require_string(a.require(0), name);
    auto [b, e] = byte_range(s, a.get(1), a.get(2));
    std::string_view view = std::string_view(s).substr(b, e - b);
    size_t hit = (name == "find" || name == "index") ? view.find(sub) : view.rfind(sub);
    if (hit == std::string_view::npos) {
      if (name == "index" || name == "rindex") fail(ErrorCode::template_error, "substring not found");
      return Val(int64_t{-1});
    }
    return Val(code_point_index(s, b + hit));
  }
  if (name == "count") {
    ArgReader a(name, args, {"sub", "start", "end"});
    const std::string& sub = require_string(a.require(0), name);
    auto [b, e] = byte_range(s, a.get(1), a.get(2));
    std::string_view view = std::string_view(s).substr(b, e - b);
    if (sub.empty()) return Val(static_cast<int64_t>(code_point_count(view)) + 1);
    int64_t count = 0;
    for (size_t pos = view.find(sub); pos != std::string_view::npos; pos = view.find(sub, pos + sub.size())) ++count;
    return Val(count);
  }
  if (name == "join") {
    ArgReader a(name, args, {"iterable"});
    List items = iterate(a.require(0));
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_string()) {
        fail(ErrorCode::template_error, "sequence item {}: expected str instance, {} found", i, type_name(items[i]));
      }
      if (i) out += s;
      out += items[i].as_string();
      renderer.check_string_size(out.size());
    }
    renderer.tick(items.size());
    return str(std::move(out));
  }
  if (name == "format") return str(python_str_format(renderer, s, args));
  if (name == "center" || name == "ljust" || name == "rjust") {
    ArgReader a(name, args, {"width", "fillchar"});
    return str(justify(renderer, s, a, name == "center" ? '^' : name == "ljust" ? '<' : '>'));
  }
  if (name == "zfill") {
    ArgReader a(name, args, {"width"});
    int64_t width = require_int(a.require(0), name);
    int64_t length = static_cast<int64_t>(code_point_count(s));
    if (width <= length) return str(s);
    if (width > static_cast<int64_t>(renderer.limits().max_output_bytes)) renderer.check_string_size(static_cast<size_t>(width));
    size_t sign = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
    return str(s.substr(0, sign) + std::string(static_cast<size_t>(width - length), '0') + s.substr(sign));
  }
  if (name == "partition" || name == "rpartition") {
    ArgReader a(name, args, {"sep"});
    const std::string& sep = require_string(a.require(0), name);
    if (sep.empty()) fail(ErrorCode::template_error, "empty separator");
    size_t hit = name == "partition" ? s.find(sep) : s.rfind(sep);
    List parts;
    if (hit == std::string::npos) {
      if (name == "partition") {
        parts = {Val(s), Val(std::string()), Val(std::string())};
      } else {
        parts = {Val(std::string()), Val(std::string()), Val(s)};
      }
    } else {
      parts = {Val(s.substr(0, hit)), Val(sep), Val(s.substr(hit + sep.size()))};
    }
    return renderer.make_list(std::move(parts), true);
  }
  if (name == "removeprefix" || name == "removesuffix") {
    ArgReader a(name, args, {"affix"});
    const std::string& affix = require_string(a.require(0), name);
    if (name == "removeprefix") return str(s.rfind(affix, 0) == 0 ? s.substr(affix.size()) : s);
    bool ends = s.size() >= affix.size() && s.compare(s.size() - affix.size(), affix.size(), affix) == 0;
    return str(ends ? s.substr(0, s.size() - affix.size()) : s);
  }
  ArgReader check(name, args, {});
  if (name == "isdigit" || name == "isdecimal" || name == "isnumeric") return Val(all_code_points(s, is_digit_cp));
  if (name == "isalpha") return Val(all_code_points(s, is_alpha_cp));
  if (name == "isalnum") return Val(all_code_points(s, [](char32_t cp) { return is_alpha_cp(cp) || is_digit_cp(cp); }));
  if (name == "isspace") return Val(all_code_points(s, is_python_space));
  if (name == "isascii") return Val(is_ascii(s));
  if (name == "isidentifier") {
    bool ok = !s.empty() && !(s[0] >= '0' && s[0] <= '9') &&
              all_code_points(s, [](char32_t cp) { return cp == '_' || is_alpha_cp(cp) || is_digit_cp(cp); });
    return Val(ok);
  }
  if (name == "islower" || name == "isupper") {
    bool any_cased = false, ok = true;
    size_t pos = 0;
    while (pos < s.size()) {
      char32_t cp = utf8::decode(s, pos);
      if (!is_cased(cp)) continue;
      any_cased = true;
      bool lower = to_upper(cp) != cp || cp == 0xDF;
      if ((name == "islower") != lower) ok = false;
    }
    return Val(any_cased && ok);
  }
  if (name == "istitle") return Val(!s.empty() && python_title(s) == s && python_lower(s) != s);
  fail(ErrorCode::template_error, "str has no method '{}'", name);
}

Val call_dict_method(Renderer& renderer, const Val& receiver, std::string_view name, const CallArgs& args) {
  const Dict& d = receiver.as_dict();
  if (name == "get") {
    ArgReader a(name, args, {"key", "default"});
    const Val& key = a.require(0);
    if (key.is_string()) {
      if (const Val* v = d.find(key.as_string())) return *v;
    } else if (key.is_list() || key.is_dict()) {
      fail(ErrorCode::template_error, "unhashable type: '{}'", type_name(key));
    }
    return a.get_or(1, Val::none());
  }
  ArgReader check(name, args, {});
  if (name == "copy") return receiver;  // immutable, so sharing is a copy
  renderer.tick(d.size());
  List out;
  out.reserve(d.size());
  for (const auto& [key, value] : d) {
    if (name == "keys") out.emplace_back(key);
    else if (name == "values") out.push_back(value);
    else out.push_back(Val::list({Val(key), value}, true));
  }
  return renderer.make_list(std::move(out));
}

Val call_list_method(Renderer& renderer, const Val& receiver, std::string_view name, const CallArgs& args) {
  const List& items = receiver.as_list();
  if (name == "copy") {
    ArgReader check(name, args, {});
    return renderer.make_list(items);
  }
  ArgReader a(name, args, {"value", "start", "stop"});
  const Val& value = a.require(0);
  renderer.tick(items.size());
  if (name == "count") {
    return Val(static_cast<int64_t>(std::count_if(items.begin(), items.end(), [&](const Val& v) { return equals(v, value); })));
  }
  int64_t n = static_cast<int64_t>(items.size());
  auto clamp = [&](const Val* v, int64_t fallback) {
    if (!v) return fallback;
    int64_t i = require_int(*v, "index");
    if (i < 0) i = std::max<int64_t>(0, i + n);
    return std::min(i, n);
  };
  for (int64_t i = clamp(a.get(1), 0), end = clamp(a.get(2), n); i < end; ++i) {
    if (equals(items[static_cast<size_t>(i)], value)) return Val(i);
  }
  fail(ErrorCode::template_error, "{} is not in list", repr(value));
}

}  // namespace

bool has_method(const Val& receiver, std::string_view name, std::string_view& static_name) {
  if (receiver.is_string()) return find_name(kStringMethods, name, static_name);
  if (receiver.is_dict()) return find_name(kDictMethods, name, static_name);
  if (receiver.is_list() && !receiver.is_iterator()) return find_name(kListMethods, name, static_name);
  return false;
}

std::string unsafe_method_message(const Val& receiver, std::string_view name) {
  std::string_view found;
  if ((receiver.is_dict() && find_name(kUnsafeDictMethods, name, found)) ||
      (receiver.is_list() && !receiver.is_iterator() && find_name(kUnsafeListMethods, name, found))) {
    return fmt::format("access to attribute '{}' of '{}' object is unsafe.", name, type_name(receiver));
  }
  return "";
}

Val call_method(Renderer& renderer, const Val& receiver, std::string_view name, const CallArgs& args) {
  renderer.tick();
  if (receiver.is_string()) return call_string_method(renderer, receiver.as_string(), name, args);
  if (receiver.is_dict()) return call_dict_method(renderer, receiver, name, args);
  if (receiver.is_list()) return call_list_method(renderer, receiver, name, args);
  fail(ErrorCode::template_error, "'{}' object has no method '{}'", type_name(receiver), name);
}

}  // namespace zaya::jinja
