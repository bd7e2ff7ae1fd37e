// chat_template/filters.cpp - jinja2's builtin filters (and HF's tojson), following
// jinja2/filters.py. Filters that return generators in jinja2 (map, select, reject, unique,
// batch, reverse on lists, items) return iterator values here, so that truthiness and len()
// behave as in Python.
#include "chat_template/filters.h"

#include <zaya/error.h>
#include <zaya/utf8.h>

#include "chat_template/jinja_tests.h"
#include "chat_template/json_dump.h"
#include "chat_template/objects.h"
#include "chat_template/operators.h"
#include "chat_template/python_format.h"
#include "chat_template/python_text.h"
#include "chat_template/renderer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>

namespace zaya::jinja {

namespace {

Val str_result(Renderer& r, std::string s) { return r.make_string(std::move(s)); }

// soft_str: the value as text ("" for Undefined).
std::string text_of(const Val& v) { return to_str(v); }

int64_t int_arg(const Val& v, std::string_view what) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  if (v.is_float()) {
    // Converting inf, NaN or a float beyond int64 would be undefined behaviour (fuzz_chat_template).
    const double d = v.as_double();
    if (!std::isfinite(d) || std::fabs(d) >= 9.2e18)
      fail(ErrorCode::template_error, "{} = {} is not a usable integer", what, python_float_repr(d));
    return static_cast<int64_t>(d);
  }
  if (v.is_undefined()) fail_undefined(v);
  fail(ErrorCode::template_error, "{} must be an integer, not {}", what, type_name(v));
}

// make_attrgetter: "a.b.0" looks up item by item, digits as integers.
std::vector<Val> attribute_parts(const Val& attribute) {
  std::vector<Val> parts;
  if (attribute.is_none() || attribute.is_undefined()) return parts;
  if (!attribute.is_string()) {
    parts.push_back(attribute);
    return parts;
  }
  for (const std::string& part : python_split(attribute.as_string(), std::string("."), -1)) {
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits && part.size() < 18) {
      parts.emplace_back(static_cast<int64_t>(std::stoll(part)));
    } else {
      parts.emplace_back(part);
    }
  }
  return parts;
}

Val lookup_path(Renderer& r, Val item, const std::vector<Val>& parts, const Val* default_value = nullptr) {
  for (const Val& part : parts) {
    item = get_item(r, item, part);
    if (default_value && item.is_undefined()) item = *default_value;
  }
  return item;
}

Val ignore_case(const Val& v) { return v.is_string() ? Val(python_lower(v.as_string())) : v; }

// Python's sorted()/min()/max() key comparison.
bool key_less(const Val& a, const Val& b) { return less_than(a, b); }

bool is_false_flag(const Val* v) { return !v || !truthy(*v); }

// ---- string filters -----------------------------------------------------------------------------

Val f_trim(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("trim", args, {"chars"});
  std::optional<std::string> chars;
  if (const Val* c = a.get(0); c && !c->is_none()) chars = text_of(*c);
  return str_result(r, python_strip(text_of(in), chars, true, true));
}

Val f_upper(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("upper", args, {});
  return str_result(r, python_upper(text_of(in)));
}

Val f_lower(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("lower", args, {});
  return str_result(r, python_lower(text_of(in)));
}

Val f_capitalize(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("capitalize", args, {});
  return str_result(r, python_capitalize(text_of(in)));
}

// jinja2's title: words start after whitespace or one of -({[< ; each word is word[0].upper()
// + word[1:].lower().
Val f_title(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("title", args, {});
  std::u32string cps = to_code_points(text_of(in));
  std::string out;
  bool at_word_start = true;
  for (char32_t cp : cps) {
    bool separator = is_python_space(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<';
    if (separator) {
      utf8::append(out, cp);
      at_word_start = true;
    } else if (at_word_start) {
      out += python_upper(from_code_points(std::u32string(1, cp)));
      at_word_start = false;
    } else {
      utf8::append(out, to_lower(cp));
    }
  }
  return str_result(r, std::move(out));
}

Val f_replace(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("replace", args, {"old", "new", "count"});
  CallArgs method_args;
  method_args.positional.push_back(Val(text_of(a.require(0))));
  method_args.positional.push_back(Val(text_of(a.require(1))));
  if (const Val* count = a.get(2); count && !count->is_none()) method_args.positional.push_back(*count);
  return call_method(r, Val(text_of(in)), "replace", method_args);
}

Val f_string(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("string", args, {});
  if (in.is_string()) return in;
  return str_result(r, text_of(in));
}

Val f_safe(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("safe", args, {});
  if (in.is_string()) return in;
  return str_result(r, text_of(in));
}

Val f_escape(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("escape", args, {});
  std::string text = text_of(in);
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return str_result(r, std::move(out));
}

Val f_striptags(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("striptags", args, {});
  std::string text = text_of(in);
  std::string stripped;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '<') {
      size_t close = text.find('>', i);
      if (close != std::string::npos) {
        i = close;
        continue;
      }
    }
    stripped.push_back(text[i]);
  }
  std::string collapsed;
  for (const std::string& word : python_split(stripped, std::nullopt, -1)) {
    if (!collapsed.empty()) collapsed.push_back(' ');
    collapsed += word;
  }
  static constexpr std::pair<std::string_view, std::string_view> kEntities[] = {
      {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#34;", "\""}, {"&#39;", "'"}, {"&amp;", "&"}};
  for (auto [entity, replacement] : kEntities) {
    size_t pos = 0;
    while ((pos = collapsed.find(entity, pos)) != std::string::npos) {
      collapsed.replace(pos, entity.size(), replacement);
      pos += replacement.size();
    }
  }
  return str_result(r, std::move(collapsed));
}

Val f_indent(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("indent", args, {"width", "first", "blank"});
  std::string indentation;
  Val width = a.get_or(0, Val(int64_t{4}));
  if (width.is_string()) {
    indentation = width.as_string();
  } else {
    int64_t n = int_arg(width, "indent width");
    if (n > static_cast<int64_t>(r.limits().max_output_bytes)) r.check_string_size(static_cast<size_t>(n));
    indentation.assign(static_cast<size_t>(std::max<int64_t>(n, 0)), ' ');
  }
  bool first = !is_false_flag(a.get(1));
  bool blank = !is_false_flag(a.get(2));
  std::string s = text_of(in) + "\n";  // jinja2's quirk so that splitlines keeps a final empty line
  std::vector<std::string> lines = python_splitlines(s, false);
  std::string out;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i) out += "\n" + indentation;
      out += lines[i];
      r.check_string_size(out.size());
    }
  } else if (!lines.empty()) {
    out = lines[0];
    for (size_t i = 1; i < lines.size(); ++i) {
      out += "\n";
      if (!lines[i].empty()) out += indentation;
      out += lines[i];
      r.check_string_size(out.size());
    }
  }
  if (first) out = indentation + out;
  return str_result(r, std::move(out));
}

Val f_center(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("center", args, {"width"});
  CallArgs method_args;
  method_args.positional.push_back(a.get_or(0, Val(int64_t{80})));
  return call_method(r, Val(text_of(in)), "center", method_args);
}

Val f_truncate(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("truncate", args, {"length", "killwords", "end", "leeway"});
  std::u32string s = to_code_points(text_of(in));
  int64_t length = int_arg(a.get_or(0, Val(int64_t{255})), "length");
  bool killwords = !is_false_flag(a.get(1));
  std::u32string end = to_code_points(text_of(a.get_or(2, Val("..."))));
  int64_t leeway = a.has(3) && !a.get(3)->is_none() ? int_arg(*a.get(3), "leeway") : 5;
  if (length < static_cast<int64_t>(end.size())) fail(ErrorCode::template_error, "expected length >= {}, got {}", end.size(), length);
  if (leeway < 0) fail(ErrorCode::template_error, "expected leeway >= 0, got {}", leeway);
  if (static_cast<int64_t>(s.size()) <= length + leeway) return str_result(r, from_code_points(s));
  std::u32string head = s.substr(0, static_cast<size_t>(length) - end.size());
  if (!killwords) {
    size_t space = head.rfind(U' ');
    if (space != std::u32string::npos) head = head.substr(0, space);
  }
  return str_result(r, from_code_points(head + end));
}

Val f_wordcount(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("wordcount", args, {});
  (void)r;
  std::string text = text_of(in);
  int64_t words = 0;
  bool in_word = false;
  size_t pos = 0;
  while (pos < text.size()) {
    char32_t cp = utf8::decode(text, pos);
    bool word_char = cp == '_' || (cp >= '0' && cp <= '9') || (cp < 0x80 ? ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')
                                                                         : !is_python_space(cp));
    if (word_char && !in_word) ++words;
    in_word = word_char;
  }
  return Val(words);
}

Val f_format(Renderer& r, const Val& in, const CallArgs& args) {
  if (!args.positional.empty() && !args.keywords.empty()) {
    fail(ErrorCode::template_error, "can't handle positional and keyword arguments at the same time");
  }
  Val format_args;
  if (!args.keywords.empty()) {
    Dict d;
    for (const auto& [k, v] : args.keywords) d.set(k, v);
    format_args = Val::dict(std::move(d));
  } else {
    format_args = Val::list(args.positional, true);
  }
  return str_result(r, python_percent_format(r, text_of(in), format_args));
}

// ---- numbers ------------------------------------------------------------------------------------

// int(str) as Python parses it: optional sign, digits with single underscores, surrounding
// whitespace; base 0 means "use the prefix".
std::optional<int64_t> parse_python_int(std::string text, int base) {
  text = python_strip(text, std::nullopt, true, true);
  bool negative = false;
  size_t i = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
  auto has_prefix = [&](char p) { return i + 1 < text.size() && text[i] == '0' && (text[i + 1] | 0x20) == p; };
  if (base == 16 && has_prefix('x')) i += 2;
  else if (base == 8 && has_prefix('o')) i += 2;
  else if (base == 2 && has_prefix('b')) i += 2;
  else if (base == 0) {
    if (has_prefix('x')) base = 16, i += 2;
    else if (has_prefix('o')) base = 8, i += 2;
    else if (has_prefix('b')) base = 2, i += 2;
    else base = 10;
  }
  if (base < 2 || base > 36) return std::nullopt;
  if (i >= text.size()) return std::nullopt;
  uint64_t magnitude = 0;
  bool previous_digit = false;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c == '_' && previous_digit && i + 1 < text.size() && text[i + 1] != '_') {
      previous_digit = false;
      continue;
    }
    int d = (c >= '0' && c <= '9') ? c - '0' : ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ? (c | 0x20) - 'a' + 10 : 99;
    if (d >= base) return std::nullopt;
    if (__builtin_mul_overflow(magnitude, static_cast<uint64_t>(base), &magnitude) ||
        __builtin_add_overflow(magnitude, static_cast<uint64_t>(d), &magnitude)) {
      return std::nullopt;  // beyond 64 bits
    }
    previous_digit = true;
  }
  if (!previous_digit) return std::nullopt;
  constexpr uint64_t kMaxPositive = static_cast<uint64_t>(INT64_MAX);
  if (negative) {
    if (magnitude > kMaxPositive + 1) return std::nullopt;
    return magnitude == kMaxPositive + 1 ? INT64_MIN : -static_cast<int64_t>(magnitude);
  }
  if (magnitude > kMaxPositive) return std::nullopt;
  return static_cast<int64_t>(magnitude);
}

// float(str): Python accepts surrounding whitespace, underscores between digits, inf/nan.
std::optional<double> parse_python_float(const std::string& raw) {
  std::string text = python_strip(raw, std::nullopt, true, true);
  std::string cleaned;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '_') {
      bool between_digits = i > 0 && i + 1 < text.size() && std::isdigit(static_cast<unsigned char>(text[i - 1])) &&
                            std::isdigit(static_cast<unsigned char>(text[i + 1]));
      if (!between_digits) return std::nullopt;
      continue;
    }
    cleaned.push_back(text[i]);
  }
  if (cleaned.empty()) return std::nullopt;
  std::string lower = python_lower(cleaned);
  std::string_view body = lower;
  bool negative = false;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  if (body == "inf" || body == "infinity") return negative ? -HUGE_VAL : HUGE_VAL;
  if (body == "nan") return std::nan("");
  // Only decimal digits, one point and an exponent: strtod alone would also take hex floats.
  for (char c : body)
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == '+' || c == '-')) return std::nullopt;
  char* end = nullptr;
  double value = std::strtod(cleaned.c_str(), &end);
  if (end != cleaned.c_str() + cleaned.size()) return std::nullopt;
  return value;
}

Val f_int(Renderer&, const Val& in, const CallArgs& args) {
  ArgReader a("int", args, {"default", "base"});
  Val fallback = a.get_or(0, Val(int64_t{0}));
  if (in.is_undefined()) fail_undefined(in);  // Undefined.__int__ raises
  int base = static_cast<int>(int_arg(a.get_or(1, Val(int64_t{10})), "base"));
  if (in.is_int() || in.is_big_integer()) return in;
  if (in.is_bool()) return Val(in.as_int());
  if (in.is_float()) {
    double d = in.as_double();
    if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return fallback;
    return Val(static_cast<int64_t>(d));
  }
  if (in.is_string()) {
    if (auto v = parse_python_int(in.as_string(), base)) return Val(*v);
    // jinja2's quirk: "42.23"|int gives 42.
    if (auto d = parse_python_float(in.as_string()); d && std::isfinite(*d) && std::fabs(*d) < 9.2e18) {
      return Val(static_cast<int64_t>(*d));
    }
  }
  return fallback;
}

Val f_float(Renderer&, const Val& in, const CallArgs& args) {
  ArgReader a("float", args, {"default"});
  if (in.is_undefined()) fail_undefined(in);  // Undefined.__float__ raises
  if (in.is_number()) return Val(in.as_double());
  if (in.is_string()) {
    if (auto d = parse_python_float(in.as_string())) return Val(*d);
  }
  return a.get_or(0, Val(0.0));
}

Val f_abs(Renderer&, const Val& in, const CallArgs& args) {
  ArgReader a("abs", args, {});
  if (in.is_int() || in.is_bool()) {
    int64_t i = in.as_int();
    if (i == INT64_MIN) fail(ErrorCode::template_error, "integer overflow: results beyond 64 bits are not supported");
    return Val(i < 0 ? -i : i);
  }
  if (in.is_float()) return Val(std::fabs(in.as_double()));
  if (in.is_big_integer()) {
    const std::string& d = in.big_integer_digits();
    return Val::big_integer(d[0] == '-' ? d.substr(1) : d);
  }
  if (in.is_undefined()) fail_undefined(in);
  fail(ErrorCode::template_error, "bad operand type for abs(): '{}'", type_name(in));
}

// Python's round(x, n) for floats: correctly rounded, ties to even on the exact binary value,
// which is what printf's %.*f does.
double python_round(double value, int64_t digits) {
  if (!std::isfinite(value)) return value;
  if (digits > 300) return value;
  if (digits < -308) return 0.0 * value;
  if (digits >= 0) {
    char buffer[512];
    std::snprintf(buffer, sizeof buffer, "%.*f", static_cast<int>(digits), value);
    return std::strtod(buffer, nullptr);
  }
  double scale = std::pow(10.0, static_cast<double>(-digits));
  double scaled = value / scale;
  double rounded = std::nearbyint(scaled);  // default rounding mode: ties to even
  return rounded * scale;
}

Val f_round(Renderer&, const Val& in, const CallArgs& args) {
  ArgReader a("round", args, {"precision", "method"});
  int64_t precision = int_arg(a.get_or(0, Val(int64_t{0})), "precision");
  std::string method = text_of(a.get_or(1, Val("common")));
  if (method != "common" && method != "ceil" && method != "floor") {
    fail(ErrorCode::template_error, "method must be common, ceil or floor");
  }
  if (!in.is_number()) {
    if (in.is_undefined()) fail_undefined(in);
    fail(ErrorCode::template_error, "type {} doesn't define __round__ method", type_name(in));
  }
  if (method == "common") {
    if (in.is_int() || in.is_bool()) {
      int64_t i = in.as_int();
      if (precision >= 0) return Val(i);
      if (precision < -18) return Val(int64_t{0});
      int64_t scale = 1;
      for (int64_t k = 0; k < -precision; ++k) scale *= 10;
      int64_t q = i / scale, rem = i % scale;
      if (rem < 0) {
        rem += scale;
        --q;
      }
      if (rem * 2 > scale || (rem * 2 == scale && (q & 1))) ++q;
      return Val(q * scale);
    }
    return Val(python_round(in.as_double(), precision));
  }
  double scale = std::pow(10.0, static_cast<double>(precision));
  double v = in.as_double() * scale;
  return Val((method == "ceil" ? std::ceil(v) : std::floor(v)) / scale);
}

// ---- sequences ----------------------------------------------------------------------------------

Val f_length(Renderer&, const Val& in, const CallArgs& args) {
  ArgReader a("length", args, {});
  return Val(static_cast<int64_t>(python_len(in)));
}

Val f_list(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("list", args, {});
  if (in.is_list() && !in.is_iterator() && !in.is_tuple()) return in;
  return r.make_list(iterate(in));
}

Val f_first(Renderer&, const Val& in, const CallArgs& args) {
  ArgReader a("first", args, {});
  List items = iterate(in);
  if (items.empty()) return Val::undefined("No first item, sequence was empty.");
  return items.front();
}

Val f_last(Renderer&, const Val& in, const CallArgs& args) {
  ArgReader a("last", args, {});
  if (in.is_iterator()) fail(ErrorCode::template_error, "'{}' object is not reversible", in.iterator_type());
  if (!in.is_list() && !in.is_string() && !in.is_dict()) {
    if (in.is_undefined()) return Val::undefined("No last item, sequence was empty.");
    fail(ErrorCode::template_error, "'{}' object is not reversible", type_name(in));
  }
  List items = iterate(in);
  if (items.empty()) return Val::undefined("No last item, sequence was empty.");
  return items.back();
}

Val f_reverse(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("reverse", args, {});
  if (in.is_string()) {
    std::u32string cps = to_code_points(in.as_string());
    std::reverse(cps.begin(), cps.end());
    return str_result(r, from_code_points(cps));
  }
  List items = iterate(in);
  std::reverse(items.begin(), items.end());
  if (in.is_list() && !in.is_iterator()) return r.make_iterator(std::move(items), "list_reverseiterator");
  if (in.is_dict()) return r.make_iterator(std::move(items), "dict_reversekeyiterator");
  return r.make_list(std::move(items));
}

Val f_join(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("join", args, {"d", "attribute"});
  std::string separator = text_of(a.get_or(0, Val(std::string())));
  List items = iterate(in);
  std::vector<Val> parts;
  if (const Val* attribute = a.get(1); attribute && !attribute->is_none()) {
    std::vector<Val> path = attribute_parts(*attribute);
    for (Val& item : items) item = lookup_path(r, item, path);
  }
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += separator;
    append_str(out, items[i]);
    r.check_string_size(out.size());
  }
  r.tick(items.size());
  return str_result(r, std::move(out));
}

Val f_default(Renderer&, const Val& in, const CallArgs& args) {
  ArgReader a("default", args, {"default_value", "boolean"});
  bool boolean = !is_false_flag(a.get(1));
  if (in.is_undefined() || (boolean && !truthy(in))) return a.get_or(0, Val(std::string()));
  return in;
}

Val f_items(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("items", args, {});
  if (in.is_undefined()) return r.make_iterator({});
  if (!in.is_dict()) fail(ErrorCode::template_error, "Can only get item pairs from a mapping.");
  List pairs;
  for (const auto& [key, value] : in.as_dict()) pairs.push_back(Val::list({Val(key), value}, true));
  return r.make_iterator(std::move(pairs));
}

Val f_dictsort(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("dictsort", args, {"case_sensitive", "by", "reverse"});
  bool case_sensitive = !is_false_flag(a.get(0));
  std::string by = text_of(a.get_or(1, Val("key")));
  bool reverse = !is_false_flag(a.get(2));
  if (by != "key" && by != "value") fail(ErrorCode::template_error, "You can only sort by either \"key\" or \"value\"");
  if (!in.is_dict()) fail(ErrorCode::template_error, "dictsort needs a mapping, not {}", type_name(in));
  List pairs;
  std::vector<Val> keys;
  for (const auto& [key, value] : in.as_dict()) {
    pairs.push_back(Val::list({Val(key), value}, true));
    Val k = by == "key" ? Val(key) : value;
    keys.push_back(case_sensitive ? k : ignore_case(k));
  }
  std::vector<size_t> order(pairs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    return reverse ? key_less(keys[y], keys[x]) : key_less(keys[x], keys[y]);
  });
  r.tick(pairs.size() * 4);
  List sorted;
  for (size_t i : order) sorted.push_back(pairs[i]);
  return r.make_list(std::move(sorted));
}

Val f_sort(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("sort", args, {"reverse", "case_sensitive", "attribute"});
  bool reverse = !is_false_flag(a.get(0));
  bool case_sensitive = !is_false_flag(a.get(1));
  List items = iterate(in);
  // A comma-separated attribute list sorts by several keys.
  std::vector<std::vector<Val>> paths;
  if (const Val* attribute = a.get(2); attribute && !attribute->is_none()) {
    if (attribute->is_string()) {
      for (const std::string& one : python_split(attribute->as_string(), std::string(","), -1)) paths.push_back(attribute_parts(Val(one)));
    } else {
      paths.push_back(attribute_parts(*attribute));
    }
  }
  std::vector<Val> keys;
  keys.reserve(items.size());
  for (const Val& item : items) {
    if (paths.empty()) {
      keys.push_back(case_sensitive ? item : ignore_case(item));
    } else {
      List parts;
      for (const auto& path : paths) {
        Val k = lookup_path(r, item, path);
        parts.push_back(case_sensitive ? k : ignore_case(k));
      }
      keys.push_back(paths.size() == 1 ? parts[0] : Val::list(std::move(parts)));
    }
  }
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  r.tick(items.size() * 4);
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    return reverse ? key_less(keys[y], keys[x]) : key_less(keys[x], keys[y]);
  });
  List sorted;
  sorted.reserve(items.size());
  for (size_t i : order) sorted.push_back(items[i]);
  return r.make_list(std::move(sorted));
}

// Hashable identity for unique(): Python's set membership uses == on hashable values.
Val f_unique(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("unique", args, {"case_sensitive", "attribute"});
  bool case_sensitive = !is_false_flag(a.get(0));
  std::vector<Val> path;
  if (const Val* attribute = a.get(1); attribute && !attribute->is_none()) path = attribute_parts(*attribute);
  List out;
  std::vector<Val> seen;
  for (const Val& item : iterate(in)) {
    r.tick(seen.size() / 16 + 1);
    Val key = lookup_path(r, item, path);
    if (!case_sensitive) key = ignore_case(key);
    if (key.is_list() && !key.is_tuple()) fail(ErrorCode::template_error, "unhashable type: 'list'");
    if (key.is_dict()) fail(ErrorCode::template_error, "unhashable type: 'dict'");
    bool duplicate = std::any_of(seen.begin(), seen.end(), [&](const Val& s) { return equals(s, key); });
    if (!duplicate) {
      seen.push_back(key);
      out.push_back(item);
    }
  }
  return r.make_iterator(std::move(out));
}

Val min_or_max(Renderer& r, const Val& in, const CallArgs& args, bool want_max) {
  ArgReader a(want_max ? "max" : "min", args, {"case_sensitive", "attribute"});
  bool case_sensitive = !is_false_flag(a.get(0));
  std::vector<Val> path;
  if (const Val* attribute = a.get(1); attribute && !attribute->is_none()) path = attribute_parts(*attribute);
  List items = iterate(in);
  if (items.empty()) return Val::undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  auto key = [&](const Val& item) {
    Val k = lookup_path(r, item, path);
    return case_sensitive ? k : ignore_case(k);
  };
  Val best_key = key(items[0]);
  for (size_t i = 1; i < items.size(); ++i) {
    Val k = key(items[i]);
    if (want_max ? key_less(best_key, k) : key_less(k, best_key)) {
      best = i;
      best_key = std::move(k);
    }
  }
  r.tick(items.size());
  return items[best];
}

Val f_max(Renderer& r, const Val& in, const CallArgs& args) { return min_or_max(r, in, args, true); }
Val f_min(Renderer& r, const Val& in, const CallArgs& args) { return min_or_max(r, in, args, false); }

Val f_sum(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("sum", args, {"attribute", "start"});
  std::vector<Val> path;
  if (const Val* attribute = a.get(0); attribute && !attribute->is_none()) path = attribute_parts(*attribute);
  Val total = a.get_or(1, Val(int64_t{0}));
  for (const Val& item : iterate(in)) total = binary_op(r, BinaryOp::add, total, lookup_path(r, item, path));
  return total;
}

Val f_batch(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("batch", args, {"linecount", "fill_with"});
  int64_t count = int_arg(a.require(0), "linecount");
  if (count <= 0) fail(ErrorCode::template_error, "batch size must be positive");
  const Val* fill = a.get(1);
  List batches, current;
  for (const Val& item : iterate(in)) {
    if (static_cast<int64_t>(current.size()) == count) {
      batches.push_back(r.make_list(std::move(current)));
      current.clear();
    }
    current.push_back(item);
  }
  if (!current.empty()) {
    if (fill && !fill->is_none()) {
      if (count > static_cast<int64_t>(r.limits().max_allocated_bytes / sizeof(Val))) r.charge(r.limits().max_allocated_bytes + 1);
      while (static_cast<int64_t>(current.size()) < count) current.push_back(*fill);
    }
    batches.push_back(r.make_list(std::move(current)));
  }
  return r.make_iterator(std::move(batches));
}

Val f_slice(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("slice", args, {"slices", "fill_with"});
  int64_t slices = int_arg(a.require(0), "slices");
  if (slices <= 0) fail(ErrorCode::template_error, "slice count must be positive");
  const Val* fill = a.get(1);
  List items = iterate(in);
  size_t per_slice = items.size() / static_cast<size_t>(slices);
  size_t with_extra = items.size() % static_cast<size_t>(slices);
  List out;
  size_t offset = 0;
  for (int64_t i = 0; i < slices; ++i) {
    size_t start = offset + static_cast<size_t>(i) * per_slice;
    if (static_cast<size_t>(i) < with_extra) ++offset;
    size_t end = offset + static_cast<size_t>(i + 1) * per_slice;
    List part(items.begin() + static_cast<std::ptrdiff_t>(std::min(start, items.size())),
              items.begin() + static_cast<std::ptrdiff_t>(std::min(end, items.size())));
    if (fill && !fill->is_none() && static_cast<size_t>(i) >= with_extra) part.push_back(*fill);
    out.push_back(r.make_list(std::move(part)));
  }
  return r.make_iterator(std::move(out));
}

Val f_map(Renderer& r, const Val& in, const CallArgs& args) {
  List items = iterate(in);
  List out;
  out.reserve(items.size());
  const Val* attribute = nullptr;
  const Val* default_value = nullptr;
  for (const auto& [key, value] : args.keywords) {
    if (key == "attribute") attribute = &value;
    else if (key == "default") default_value = &value;
  }
  if (args.positional.empty() && attribute) {
    for (const auto& [key, value] : args.keywords) {
      if (key != "attribute" && key != "default") fail(ErrorCode::template_error, "Unexpected keyword argument '{}'", key);
    }
    std::vector<Val> path = attribute_parts(*attribute);
    for (const Val& item : items) {
      r.tick();
      out.push_back(lookup_path(r, item, path, default_value && !default_value->is_none() ? default_value : nullptr));
    }
    return r.make_iterator(std::move(out));
  }
  if (args.positional.empty()) fail(ErrorCode::template_error, "map requires a filter argument");
  std::string name = text_of(args.positional[0]);
  CallArgs filter_args;
  filter_args.positional.assign(args.positional.begin() + 1, args.positional.end());
  filter_args.keywords = args.keywords;
  for (const Val& item : items) out.push_back(r.apply_filter(name, item, filter_args));
  return r.make_iterator(std::move(out));
}

// select/reject(test, args...) and selectattr/rejectattr(attribute, test, args...).
Val select_or_reject(Renderer& r, const Val& in, const CallArgs& args, bool select, bool lookup_attr) {
  List out;
  if (!truthy(in)) return r.make_iterator(std::move(out));
  size_t offset = 0;
  std::vector<Val> path;
  if (lookup_attr) {
    if (args.positional.empty()) fail(ErrorCode::template_error, "Missing parameter for attribute name");
    path = attribute_parts(args.positional[0]);
    offset = 1;
  }
  std::string test_name;
  CallArgs test_args;
  bool has_test = args.positional.size() > offset;
  if (has_test) {
    test_name = text_of(args.positional[offset]);
    test_args.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(offset) + 1, args.positional.end());
    test_args.keywords = args.keywords;
  }
  for (const Val& item : iterate(in)) {
    Val probe = lookup_attr ? lookup_path(r, item, path) : item;
    bool passed = has_test ? r.apply_test(test_name, probe, test_args) : truthy(probe);
    if (passed == select) out.push_back(item);
  }
  return r.make_iterator(std::move(out));
}

Val f_select(Renderer& r, const Val& in, const CallArgs& args) { return select_or_reject(r, in, args, true, false); }
Val f_reject(Renderer& r, const Val& in, const CallArgs& args) { return select_or_reject(r, in, args, false, false); }
Val f_selectattr(Renderer& r, const Val& in, const CallArgs& args) { return select_or_reject(r, in, args, true, true); }
Val f_rejectattr(Renderer& r, const Val& in, const CallArgs& args) { return select_or_reject(r, in, args, false, true); }

Val f_groupby(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("groupby", args, {"attribute", "default", "case_sensitive"});
  std::vector<Val> path = attribute_parts(a.require(0));
  const Val* default_value = a.get(1);
  if (default_value && default_value->is_none()) default_value = nullptr;
  bool case_sensitive = !is_false_flag(a.get(2));
  List items = iterate(in);
  std::vector<Val> keys;
  for (const Val& item : items) {
    Val k = lookup_path(r, item, path, default_value);
    keys.push_back(case_sensitive ? k : ignore_case(k));
  }
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return key_less(keys[x], keys[y]); });
  r.tick(items.size() * 4);
  List groups;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    List members;
    while (j < order.size() && equals(keys[order[j]], keys[order[i]])) members.push_back(items[order[j++]]);
    Val grouper = lookup_path(r, items[order[i]], path, default_value);
    groups.push_back(Val::list({grouper, r.make_list(std::move(members))}, true));
    i = j;
  }
  return r.make_list(std::move(groups));
}

Val f_attr(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("attr", args, {"name"});
  std::string name = text_of(a.require(0));
  if (in.is_undefined()) fail_undefined(in);
  if (in.is_object()) return in.as_object().get_attr(r, name);
  std::string_view static_name;
  if (has_method(in, name, static_name)) return Val(std::make_shared<BoundMethod>(in, static_name));
  return Val::undefined(fmt::format("{} has no attribute {}", python_string_repr(object_type_repr(in)), python_string_repr(name)));
}

Val f_tojson(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonDumpOptions options;
  options.ensure_ascii = !is_false_flag(a.get(0));
  if (const Val* indent = a.get(1); indent && !indent->is_none()) {
    if (indent->is_string()) {
      options.indent = indent->as_string();
    } else {
      int64_t n = int_arg(*indent, "indent");
      if (n > 1024) fail(ErrorCode::limit_exceeded, "tojson indent of {} is unreasonably large", n);
      options.indent = std::string(static_cast<size_t>(std::max<int64_t>(n, 0)), ' ');
    }
    options.item_separator.assign(1, ',');  // (operator= with a literal trips a GCC 12 -Wrestrict false positive)
  }
  if (const Val* separators = a.get(2); separators && !separators->is_none()) {
    List parts = iterate(*separators);
    if (parts.size() != 2 || !parts[0].is_string() || !parts[1].is_string()) {
      fail(ErrorCode::template_error, "tojson separators must be a pair of strings");
    }
    options.item_separator = parts[0].as_string();
    options.key_separator = parts[1].as_string();
  }
  options.sort_keys = !is_false_flag(a.get(3));
  return str_result(r, python_json_dumps(r, in, options));
}

Val f_pprint(Renderer& r, const Val& in, const CallArgs& args) {
  ArgReader a("pprint", args, {});
  return str_result(r, repr(in));
}

struct FilterEntry {
  std::string_view name;
  FilterFn fn;
};

constexpr FilterEntry kFilters[] = {
    {"abs", f_abs},           {"attr", f_attr},           {"batch", f_batch},
    {"capitalize", f_capitalize}, {"center", f_center},   {"count", f_length},
    {"d", f_default},         {"default", f_default},     {"dictsort", f_dictsort},
    {"e", f_escape},          {"escape", f_escape},       {"first", f_first},
    {"float", f_float},       {"forceescape", f_escape},  {"format", f_format},
    {"groupby", f_groupby},   {"indent", f_indent},       {"int", f_int},
    {"items", f_items},       {"join", f_join},           {"last", f_last},
    {"length", f_length},     {"list", f_list},           {"lower", f_lower},
    {"map", f_map},           {"max", f_max},             {"min", f_min},
    {"pprint", f_pprint},     {"reject", f_reject},       {"rejectattr", f_rejectattr},
    {"replace", f_replace},   {"reverse", f_reverse},     {"round", f_round},
    {"safe", f_safe},         {"select", f_select},       {"selectattr", f_selectattr},
    {"slice", f_slice},       {"sort", f_sort},           {"string", f_string},
    {"striptags", f_striptags}, {"sum", f_sum},           {"title", f_title},
    {"tojson", f_tojson},     {"trim", f_trim},           {"truncate", f_truncate},
    {"unique", f_unique},     {"upper", f_upper},         {"wordcount", f_wordcount},
};

}  // namespace

FilterFn find_filter(std::string_view name) {
  for (const auto& entry : kFilters)
    if (entry.name == name) return entry.fn;
  return nullptr;
}

}  // namespace zaya::jinja
