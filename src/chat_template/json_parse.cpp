// chat_template/json_parse.cpp - Value::parse_json on top of simdjson's On Demand parser.
//
// Numbers are read from their raw token so that their kind survives exactly as Python's
// json.loads sees it: integers stay integers (beyond int64 they keep their digits), anything
// with a fraction or exponent is a double.
#include <zaya/error.h>
#include <zaya/value.h>

#include <simdjson.h>

#include <charconv>
#include <cstdlib>
#include <string>

namespace zaya {

namespace {

// Deeper documents are rejected; chat messages and tool schemas are nowhere near this deep.
constexpr size_t kMaxJsonDepth = 512;

bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

class JsonReader {
 public:
  explicit JsonReader(std::string_view text) : padded_(text.data(), text.size()) {}

  Value read() {
    auto doc_result = parser_.iterate(padded_);
    simdjson::ondemand::document doc;
    if (auto error = std::move(doc_result).get(doc)) fail_with(error);
    doc_ = &doc;
    simdjson::ondemand::json_type type;
    if (auto error = doc.type().get(type)) fail_with(error);
    Value out;
    if (type == simdjson::ondemand::json_type::number) {
      return read_root_number();
    } else if (type != simdjson::ondemand::json_type::array && type != simdjson::ondemand::json_type::object) {
      out = read_root_scalar(doc, type);
    } else {
      simdjson::ondemand::value root;
      if (auto error = doc.get_value().get(root)) fail_with(error);
      out = read_value(root, 1);
    }
    // After the root value has been consumed the iterator must be at the end of the input.
    const char* trailing = nullptr;
    if (doc.current_location().get(trailing) == simdjson::SUCCESS && trailing) {
      fail(ErrorCode::bad_format, "invalid JSON: unexpected content after the top-level value at byte {}",
           trailing - padded_.data());
    }
    return out;
  }

 private:
  Value read_value(simdjson::ondemand::value& v, size_t depth) {
    if (depth > kMaxJsonDepth) fail(ErrorCode::bad_format, "invalid JSON: nested deeper than {} levels", kMaxJsonDepth);
    simdjson::ondemand::json_type type;
    if (auto error = v.type().get(type)) fail_with(error);
    switch (type) {
      case simdjson::ondemand::json_type::array: {
        simdjson::ondemand::array array;
        if (auto error = v.get_array().get(array)) fail_with(error);
        Value::Array items;
        for (auto element : array) {
          simdjson::ondemand::value child;
          if (auto error = element.get(child)) fail_with(error);
          items.push_back(read_value(child, depth + 1));
        }
        return Value(std::move(items));
      }
      case simdjson::ondemand::json_type::object: {
        simdjson::ondemand::object object;
        if (auto error = v.get_object().get(object)) fail_with(error);
        Value::Object members;
        for (auto field : object) {
          std::string_view key;
          if (auto error = field.unescaped_key().get(key)) fail_with(error);
          std::string key_copy(key);
          simdjson::ondemand::value child;
          if (auto error = field.value().get(child)) fail_with(error);
          members.set(std::move(key_copy), read_value(child, depth + 1));
        }
        return Value(std::move(members));
      }
      case simdjson::ondemand::json_type::number: return parse_number(v.raw_json_token());
      case simdjson::ondemand::json_type::string: {
        std::string_view s;
        if (auto error = v.get_string().get(s)) fail_with(error);
        return Value(std::string(s));
      }
      case simdjson::ondemand::json_type::boolean: {
        bool b = false;
        if (auto error = v.get_bool().get(b)) fail_with(error);
        return Value(b);
      }
      case simdjson::ondemand::json_type::null: {
        bool is_null = false;
        if (auto error = v.is_null().get(is_null)) fail_with(error);
        if (!is_null) fail(ErrorCode::bad_format, "invalid JSON: bad literal");
        return Value();
      }
    }
    fail(ErrorCode::bad_format, "invalid JSON: unknown value type");
  }

  Value read_root_scalar(simdjson::ondemand::document& doc, simdjson::ondemand::json_type type) {
    switch (type) {
      case simdjson::ondemand::json_type::string: {
        std::string_view s;
        if (auto error = doc.get_string().get(s)) fail_with(error);
        return Value(std::string(s));
      }
      case simdjson::ondemand::json_type::boolean: {
        bool b = false;
        if (auto error = doc.get_bool().get(b)) fail_with(error);
        return Value(b);
      }
      case simdjson::ondemand::json_type::null: {
        bool is_null = false;
        if (auto error = doc.is_null().get(is_null)) fail_with(error);
        if (!is_null) fail(ErrorCode::bad_format, "invalid JSON: bad literal");
        return Value();
      }
      default: fail(ErrorCode::bad_format, "invalid JSON: unexpected value");
    }
  }

  // A number at the root must be the whole (whitespace-trimmed) input.
  Value read_root_number() const {
    std::string_view raw(padded_.data(), padded_.size());
    while (!raw.empty() && is_json_space(raw.front())) raw.remove_prefix(1);
    return parse_number(raw);
  }

  // JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  static Value parse_number(std::string_view raw) {
    while (!raw.empty() && is_json_space(raw.back())) raw.remove_suffix(1);
    size_t i = 0;
    auto digit = [&](size_t at) { return at < raw.size() && raw[at] >= '0' && raw[at] <= '9'; };
    bool is_float = false;
    if (i < raw.size() && raw[i] == '-') ++i;
    if (!digit(i)) bad_number(raw);
    if (raw[i] == '0') {
      ++i;
    } else {
      while (digit(i)) ++i;
    }
    if (i < raw.size() && raw[i] == '.') {
      is_float = true;
      ++i;
      if (!digit(i)) bad_number(raw);
      while (digit(i)) ++i;
    }
    if (i < raw.size() && (raw[i] == 'e' || raw[i] == 'E')) {
      is_float = true;
      ++i;
      if (i < raw.size() && (raw[i] == '+' || raw[i] == '-')) ++i;
      if (!digit(i)) bad_number(raw);
      while (digit(i)) ++i;
    }
    if (i != raw.size()) bad_number(raw);
    if (is_float) {
      // strtod rounds correctly; out-of-range values become +-inf just like Python's float().
      std::string text(raw);
      return Value(std::strtod(text.c_str(), nullptr));
    }
    int64_t value = 0;
    auto [ptr, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), value);
    if (ec == std::errc() && ptr == raw.data() + raw.size()) return Value(value);
    std::string digits(raw);
    if (digits == "-0") return Value(int64_t{0});
    return Value(Value::BigInteger{std::move(digits)});
  }

  [[noreturn]] static void bad_number(std::string_view raw) {
    fail(ErrorCode::bad_format, "invalid JSON: malformed number '{}'", raw.substr(0, 40));
  }

  std::string location_suffix() {
    if (!doc_) return "";
    const char* location = nullptr;
    if (doc_->current_location().get(location) != simdjson::SUCCESS || !location) return "";
    auto offset = location - padded_.data();
    if (offset < 0 || static_cast<size_t>(offset) > padded_.size()) return "";
    return fmt::format(" at byte {}", offset);
  }

  [[noreturn]] void fail_with(simdjson::error_code error) {
    fail(ErrorCode::bad_format, "invalid JSON: {}{}", simdjson::error_message(error), location_suffix());
  }

  simdjson::padded_string padded_;
  simdjson::ondemand::parser parser_;
  simdjson::ondemand::document* doc_ = nullptr;  // for error locations
};

}  // namespace

Value Value::parse_json(std::string_view text) {
  if (text.empty()) fail(ErrorCode::bad_format, "invalid JSON: empty input");
  JsonReader reader(text);
  return reader.read();
}

}  // namespace zaya
