// zaya/json_writer.h - minimal JSON output (escaping, numbers) for the CLI and tools.
// Parsing is done with simdjson (see src/json/); this header only writes.
#pragma once

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

namespace zaya::json {

// Appends `text` as a JSON string literal (with quotes). Bytes are copied as they are (the text
// is expected to be valid UTF-8); control characters, quote and backslash are escaped.
inline void append_string(std::string& out, std::string_view text) {
  out.push_back('"');
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

inline std::string quote(std::string_view text) {
  std::string out;
  append_string(out, text);
  return out;
}

// Shortest round-trip representation; non-finite values become null (JSON has no NaN).
inline void append_number(std::string& out, double value) {
  if (!std::isfinite(value)) {
    out += "null";
    return;
  }
  out += fmt::format("{}", value);
}

}  // namespace zaya::json
