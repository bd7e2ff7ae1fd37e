// chat_template/json_dump.h - Python's json.dumps, as HF's `tojson` filter calls it.
#pragma once

#include "chat_template/jinja_value.h"

#include <optional>
#include <string>

namespace zaya::jinja {

struct JsonDumpOptions {
  bool ensure_ascii = false;               // HF's default differs from json.dumps'
  std::optional<std::string> indent;       // None: single line; "": newlines only
  std::string item_separator = ", ";       // json.dumps picks "," when indent is set
  std::string key_separator = ": ";
  bool sort_keys = false;
};

// Serialises like json.dumps: insertion order (unless sort_keys), floats as repr(), NaN and
// Infinity spelled as Python does, non-ASCII kept unless ensure_ascii. Throws template_error
// "Object of type X is not JSON serializable" for Undefined, namespaces, iterators and such.
std::string python_json_dumps(Renderer& renderer, const Val& value, const JsonDumpOptions& options);

}  // namespace zaya::jinja
