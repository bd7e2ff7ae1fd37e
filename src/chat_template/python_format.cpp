// chat_template/python_format.cpp - Python's printf-style `%` formatting and str.format.
#include "chat_template/python_format.h"

#include <zaya/error.h>

#include "chat_template/operators.h"
#include "chat_template/python_text.h"
#include "chat_template/renderer.h"

#include <cmath>
#include <cstdio>
#include <optional>

namespace zaya::jinja {

namespace {

struct Spec {
  char fill = ' ';
  char align = 0;  // '<', '>', '^', '=' or 0 (default for the type)
  char sign = '-';
  bool alternate = false;
  bool zero = false;
  int64_t width = -1;
  int64_t precision = -1;
  char grouping = 0;
  char type = 0;
};

void check_width(Renderer& renderer, int64_t width) {
  if (width > static_cast<int64_t>(renderer.limits().max_output_bytes)) {
    renderer.check_string_size(static_cast<size_t>(width));
  }
}

std::string pad(std::string text, int64_t width, char align, char fill) {
  int64_t length = static_cast<int64_t>(code_point_count(text));
  if (width <= length) return text;
  size_t padding = static_cast<size_t>(width - length);
  if (align == '<') return text + std::string(padding, fill);
  if (align == '^') {
    size_t left = padding / 2;
    return std::string(left, fill) + text + std::string(padding - left, fill);
  }
  if (align == '=') {
    size_t sign_len = (!text.empty() && (text[0] == '-' || text[0] == '+' || text[0] == ' ')) ? 1 : 0;
    return text.substr(0, sign_len) + std::string(padding, fill) + text.substr(sign_len);
  }
  return std::string(padding, fill) + text;
}

int64_t to_integer(const Val& v, std::string_view what) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  if (v.is_float()) {
    double d = v.as_double();
    if (!std::isfinite(d)) fail(ErrorCode::template_error, "cannot convert float {} to integer", python_float_repr(d));
    if (std::fabs(d) >= 9.2e18) fail(ErrorCode::template_error, "integer overflow: results beyond 64 bits are not supported");
    return static_cast<int64_t>(d);
  }
  fail(ErrorCode::template_error, "{} format: a real number is required, not {}", what, type_name(v));
}

double to_real(const Val& v, std::string_view what) {
  if (v.is_number()) return v.as_double();
  fail(ErrorCode::template_error, "must be real number, not {} ({})", type_name(v), what);
}

std::string format_integer(int64_t value, char type, bool alternate) {
  bool negative = value < 0;
  uint64_t magnitude = negative ? 0 - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
  std::string digits;
  switch (type) {
    case 'x': digits = fmt::format("{:x}", magnitude); if (alternate) digits = "0x" + digits; break;
    case 'X': digits = fmt::format("{:X}", magnitude); if (alternate) digits = "0X" + digits; break;
    case 'o': digits = fmt::format("{:o}", magnitude); if (alternate) digits = "0o" + digits; break;
    case 'b': digits = fmt::format("{:b}", magnitude); if (alternate) digits = "0b" + digits; break;
    default: digits = std::to_string(magnitude); break;
  }
  return negative ? "-" + digits : digits;
}

// Fixed, exponent and general float formatting with C semantics (which Python matches for
// these conversions); inf and nan come out lower case as in Python.
std::string format_float(double value, char type, int64_t precision, bool alternate) {
  if (std::isinf(value)) {
    std::string s = value < 0 ? "-inf" : "inf";
    if (type == 'F' || type == 'E' || type == 'G') for (char& c : s) c = static_cast<char>(std::toupper(c));
    return s;
  }
  if (std::isnan(value)) return (type == 'F' || type == 'E' || type == 'G') ? "NAN" : "nan";
  if (precision < 0) precision = 6;
  if (precision > 500) precision = 500;
  char format[16];
  std::snprintf(format, sizeof format, "%%%s.%d%c", alternate ? "#" : "", static_cast<int>(precision), type);
  char buffer[1024];
  int n = std::snprintf(buffer, sizeof buffer, format, value);
  if (n < 0) return "";
  if (static_cast<size_t>(n) < sizeof buffer) return std::string(buffer, static_cast<size_t>(n));
  std::string big(static_cast<size_t>(n) + 1, '\0');
  std::snprintf(big.data(), big.size(), format, value);
  big.resize(static_cast<size_t>(n));
  return big;
}

std::string apply_sign(std::string text, char sign) {
  if (!text.empty() && text[0] == '-') return text;
  if (sign == '+') return "+" + text;
  if (sign == ' ') return " " + text;
  return text;
}

// ---- % formatting -----------------------------------------------------------------------------

std::string percent_one(Renderer& renderer, const Spec& spec, const Val& value) {
  std::string text;
  switch (spec.type) {
    case 's': text = to_str(value); if (spec.precision >= 0) {
        std::u32string cps = to_code_points(text);
        if (static_cast<int64_t>(cps.size()) > spec.precision) text = from_code_points(cps.substr(0, static_cast<size_t>(spec.precision)));
      }
      break;
    case 'r':
    case 'a': text = repr(value); break;
    case 'c':
      if (value.is_string()) {
        if (code_point_count(value.as_string()) != 1) fail(ErrorCode::template_error, "%c requires int or char");
        text = value.as_string();
      } else {
        int64_t cp = to_integer(value, "%c");
        if (cp < 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) fail(ErrorCode::template_error, "%c arg not in range(0x110000)");
        text = from_code_points(std::u32string(1, static_cast<char32_t>(cp)));
      }
      break;
    case 'd':
    case 'i':
    case 'u':
    case 'x':
    case 'X':
    case 'o': {
      int64_t i = to_integer(value, fmt::format("%{}", spec.type));
      text = apply_sign(format_integer(i, spec.type == 'u' || spec.type == 'i' ? 'd' : spec.type, spec.alternate), spec.sign);
      if (spec.precision > 0) {
        check_width(renderer, spec.precision);
        size_t sign_len = (text[0] == '-' || text[0] == '+' || text[0] == ' ') ? 1 : 0;
        std::string digits = text.substr(sign_len);
        if (static_cast<int64_t>(digits.size()) < spec.precision)
          digits = std::string(static_cast<size_t>(spec.precision) - digits.size(), '0') + digits;
        text = text.substr(0, sign_len) + digits;
      }
      break;
    }
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G': text = apply_sign(format_float(to_real(value, "%f"), spec.type, spec.precision, spec.alternate), spec.sign); break;
    default: fail(ErrorCode::template_error, "unsupported format character '{}'", spec.type);
  }
  check_width(renderer, spec.width);
  bool numeric = spec.type != 's' && spec.type != 'r' && spec.type != 'a' && spec.type != 'c';
  if (spec.align == '<') return pad(std::move(text), spec.width, '<', ' ');
  if (spec.zero && numeric) return pad(std::move(text), spec.width, '=', '0');
  return pad(std::move(text), spec.width, '>', ' ');
}

}  // namespace

std::string python_percent_format(Renderer& renderer, std::string_view format, const Val& args) {
  std::vector<Val> positional;
  const Dict* mapping = nullptr;
  if (args.is_tuple()) {
    positional = args.as_list();
  } else {
    positional.push_back(args);
    if (args.is_dict()) mapping = &args.as_dict();
  }
  size_t next_arg = 0;
  std::string out;
  size_t i = 0;
  auto next_value = [&]() -> const Val& {
    if (next_arg >= positional.size()) fail(ErrorCode::template_error, "not enough arguments for format string");
    return positional[next_arg++];
  };
  while (i < format.size()) {
    char c = format[i++];
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    if (i >= format.size()) fail(ErrorCode::template_error, "incomplete format");
    Spec spec;
    const Val* keyed = nullptr;
    if (format[i] == '(') {
      size_t close = format.find(')', i);
      if (close == std::string_view::npos) fail(ErrorCode::template_error, "incomplete format key");
      if (!mapping) fail(ErrorCode::template_error, "format requires a mapping");
      std::string key(format.substr(i + 1, close - i - 1));
      keyed = mapping->find(key);
      if (!keyed) fail(ErrorCode::template_error, "KeyError: {}", python_string_repr(key));
      i = close + 1;
    }
    for (; i < format.size(); ++i) {
      char f = format[i];
      if (f == '-') spec.align = '<';
      else if (f == '0') spec.zero = true;
      else if (f == '+') spec.sign = '+';
      else if (f == ' ') { if (spec.sign != '+') spec.sign = ' '; }
      else if (f == '#') spec.alternate = true;
      else break;
    }
    if (i < format.size() && format[i] == '*') {
      spec.width = to_integer(next_value(), "*");
      if (spec.width < 0) { spec.align = '<'; spec.width = -spec.width; }
      ++i;
    } else {
      while (i < format.size() && format[i] >= '0' && format[i] <= '9') {
        spec.width = std::max<int64_t>(spec.width, 0) * 10 + (format[i++] - '0');
        if (spec.width > (int64_t{1} << 40)) fail(ErrorCode::limit_exceeded, "format width too large");
      }
    }
    if (i < format.size() && format[i] == '.') {
      ++i;
      spec.precision = 0;
      if (i < format.size() && format[i] == '*') {
        spec.precision = to_integer(next_value(), "*");
        ++i;
      } else {
        while (i < format.size() && format[i] >= '0' && format[i] <= '9') {
          spec.precision = spec.precision * 10 + (format[i++] - '0');
          if (spec.precision > (int64_t{1} << 40)) fail(ErrorCode::limit_exceeded, "format precision too large");
        }
      }
    }
    while (i < format.size() && (format[i] == 'h' || format[i] == 'l' || format[i] == 'L')) ++i;
    if (i >= format.size()) fail(ErrorCode::template_error, "incomplete format");
    spec.type = format[i++];
    if (spec.type == '%') {
      out.push_back('%');
      continue;
    }
    const Val& value = keyed ? *keyed : (mapping ? args : next_value());
    out += percent_one(renderer, spec, value);
    renderer.check_string_size(out.size());
  }
  if (!mapping && next_arg < positional.size()) {
    fail(ErrorCode::template_error, "not all arguments converted during string formatting");
  }
  return out;
}

// ---- str.format -------------------------------------------------------------------------------

namespace {

Spec parse_format_spec(std::string_view s) {
  Spec spec;
  size_t i = 0;
  auto is_align = [](char c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  if (s.size() >= 2 && is_align(s[1])) {
    spec.fill = s[0];
    spec.align = s[1];
    i = 2;
  } else if (!s.empty() && is_align(s[0])) {
    spec.align = s[0];
    i = 1;
  }
  if (i < s.size() && (s[i] == '+' || s[i] == '-' || s[i] == ' ')) spec.sign = s[i++];
  if (i < s.size() && s[i] == '#') {
    spec.alternate = true;
    ++i;
  }
  if (i < s.size() && s[i] == '0') {
    spec.zero = true;
    ++i;
  }
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    spec.width = std::max<int64_t>(spec.width, 0) * 10 + (s[i++] - '0');
    if (spec.width > (int64_t{1} << 40)) fail(ErrorCode::limit_exceeded, "format width too large");
  }
  if (i < s.size() && (s[i] == ',' || s[i] == '_')) spec.grouping = s[i++];
  if (i < s.size() && s[i] == '.') {
    ++i;
    spec.precision = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      spec.precision = spec.precision * 10 + (s[i++] - '0');
      if (spec.precision > (int64_t{1} << 40)) fail(ErrorCode::limit_exceeded, "format precision too large");
    }
  }
  if (i < s.size()) spec.type = s[i++];
  if (i != s.size()) fail(ErrorCode::template_error, "Invalid format specifier");
  return spec;
}

std::string group_digits(const std::string& text, char separator) {
  size_t start = text.find_first_of("0123456789");
  if (start == std::string::npos) return text;
  size_t end = text.find_first_not_of("0123456789", start);
  if (end == std::string::npos) end = text.size();
  std::string grouped;
  size_t count = end - start;
  for (size_t k = 0; k < count; ++k) {
    if (k > 0 && (count - k) % 3 == 0) grouped.push_back(separator);
    grouped.push_back(text[start + k]);
  }
  return text.substr(0, start) + grouped + text.substr(end);
}

std::string format_one(Renderer& renderer, const Val& value, std::string_view spec_text) {
  Spec spec = parse_format_spec(spec_text);
  check_width(renderer, spec.width);
  std::string text;
  bool numeric = false;
  if (value.is_string() || (!value.is_number() && spec.type == 0) || spec.type == 's') {
    if (spec.type != 0 && spec.type != 's') {
      fail(ErrorCode::template_error, "Unknown format code '{}' for object of type '{}'", spec.type, type_name(value));
    }
    text = to_str(value);
    if (spec.precision >= 0) {
      std::u32string cps = to_code_points(text);
      if (static_cast<int64_t>(cps.size()) > spec.precision) text = from_code_points(cps.substr(0, static_cast<size_t>(spec.precision)));
    }
  } else if (value.is_number()) {
    numeric = true;
    char type = spec.type;
    bool integral = value.is_int() || value.is_bool();
    if (type == 0 && integral) type = 'd';
    if (type == 'd' || type == 'x' || type == 'X' || type == 'o' || type == 'b' || type == 'n' || type == 'c') {
      if (!integral) fail(ErrorCode::template_error, "Unknown format code '{}' for object of type 'float'", type);
      if (type == 'c') {
        text = from_code_points(std::u32string(1, static_cast<char32_t>(value.as_int())));
        numeric = false;
      } else {
        text = format_integer(value.as_int(), type == 'n' ? 'd' : type, spec.alternate);
      }
    } else if (type == 0) {
      text = spec.precision >= 0 ? format_float(value.as_double(), 'g', spec.precision, false) : python_float_repr(value.as_double());
    } else if (type == '%') {
      text = format_float(value.as_double() * 100, 'f', spec.precision, spec.alternate) + "%";
    } else if (type == 'e' || type == 'E' || type == 'f' || type == 'F' || type == 'g' || type == 'G') {
      text = format_float(value.as_double(), type, spec.precision, spec.alternate);
    } else {
      fail(ErrorCode::template_error, "Unknown format code '{}' for object of type '{}'", type, type_name(value));
    }
    if (numeric) {
      text = apply_sign(std::move(text), spec.sign);
      if (spec.grouping) text = group_digits(text, spec.grouping);
    }
  }
  char align = spec.align;
  char fill = spec.fill;
  if (spec.zero && numeric && align == 0) {
    align = '=';
    fill = '0';
  }
  if (align == 0) align = numeric ? '>' : '<';
  return pad(std::move(text), spec.width, align, fill);
}

// A run of decimal digits in a replacement field ("{12}", "{0[3]}") as a number; nullopt past
// 18 digits (std::stoul threw std::out_of_range there: fuzz_chat_template).
std::optional<int64_t> field_number(std::string_view digits) {
  if (digits.empty() || digits.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char c : digits) v = v * 10 + (c - '0');
  return v;
}

}  // namespace

std::string python_str_format(Renderer& renderer, std::string_view format, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  size_t i = 0;
  while (i < format.size()) {
    char c = format[i];
    if (c == '}') {
      if (i + 1 < format.size() && format[i + 1] == '}') {
        out.push_back('}');
        i += 2;
        continue;
      }
      fail(ErrorCode::template_error, "Single '}}' encountered in format string");
    }
    if (c != '{') {
      out.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '{') {
      out.push_back('{');
      i += 2;
      continue;
    }
    size_t close = format.find('}', i);
    if (close == std::string_view::npos) fail(ErrorCode::template_error, "Single '{{' encountered in format string");
    std::string_view field = format.substr(i + 1, close - i - 1);
    i = close + 1;
    std::string_view spec;
    char conversion = 0;
    if (size_t colon = field.find(':'); colon != std::string_view::npos) {
      spec = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    if (size_t bang = field.find('!'); bang != std::string_view::npos) {
      if (bang + 2 != field.size()) fail(ErrorCode::template_error, "expected ':' after conversion specifier");
      conversion = field[bang + 1];
      field = field.substr(0, bang);
    }
    // The argument name, followed by .attr / [key] accessors.
    size_t name_end = field.find_first_of(".[");
    std::string_view name = field.substr(0, name_end);
    Val value;
    if (name.empty()) {
      if (auto_index >= args.positional.size()) fail(ErrorCode::template_error, "Replacement index {} out of range", auto_index);
      value = args.positional[auto_index++];
    } else if (name.find_first_not_of("0123456789") == std::string_view::npos) {
      const auto index = field_number(name);
      if (!index || static_cast<uint64_t>(*index) >= args.positional.size())
        fail(ErrorCode::template_error, "Replacement index {} out of range", name);
      value = args.positional[static_cast<size_t>(*index)];
    } else {
      bool found = false;
      for (const auto& [key, v] : args.keywords) {
        if (key == name) {
          value = v;
          found = true;
        }
      }
      if (!found) fail(ErrorCode::template_error, "KeyError: {}", python_string_repr(name));
    }
    size_t p = name_end;
    while (p != std::string_view::npos && p < field.size()) {
      if (field[p] == '.') {
        size_t end = field.find_first_of(".[", p + 1);
        value = get_attr(renderer, value, field.substr(p + 1, end == std::string_view::npos ? std::string_view::npos : end - p - 1));
        p = end;
      } else {
        size_t end = field.find(']', p);
        if (end == std::string_view::npos) fail(ErrorCode::template_error, "Missing ']' in format string");
        std::string key(field.substr(p + 1, end - p - 1));
        const bool digits = !key.empty() && key.find_first_not_of("0123456789") == std::string::npos;
        const auto number = digits ? field_number(key) : std::nullopt;
        if (digits && !number) fail(ErrorCode::template_error, "IndexError: index {} out of range", key);
        Val key_value = number ? Val(*number) : Val(key);
        value = get_item(renderer, value, key_value);
        p = end + 1;
      }
      if (value.is_undefined()) fail_undefined(value);
    }
    if (conversion == 'r' || conversion == 'a') value = Val(repr(value));
    else if (conversion == 's') value = Val(to_str(value));
    else if (conversion != 0) fail(ErrorCode::template_error, "Unknown conversion specifier {}", conversion);
    out += format_one(renderer, value, spec);
    renderer.check_string_size(out.size());
  }
  return out;
}

}  // namespace zaya::jinja
