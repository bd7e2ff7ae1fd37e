// fuzz/fuzz_json.cpp - Value::parse_json (chat messages, tool schemas, template variables) and
// its inverse: whatever parses must print with to_json() and parse back to an equal value that
// prints identically. (Numbers beyond double range parse to +-inf, as Python's json.loads does;
// to_json() writes strict JSON, so they print as null: the comparison allows exactly that.)
#include "fuzz_support.h"

#include <zaya/value.h>

#include <cmath>

namespace {

zaya::Value strict_json(zaya::Value v) {
  if (v.is_number() && !std::isfinite(v.as_double())) return zaya::Value();
  if (v.is_array())
    for (auto& item : v.as_array()) item = strict_json(std::move(item));
  if (v.is_object())
    for (auto& [key, item] : v.as_object()) item = strict_json(std::move(item));
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zaya;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Value v;
  try {
    v = Value::parse_json(text);
  } catch (const Error& e) {
    fuzz::expect_code(e, {ErrorCode::bad_format});
    return 0;
  }
  const std::string printed = v.to_json();
  Value again;
  try {
    again = Value::parse_json(printed);
  } catch (const Error& e) {
    std::fprintf(stderr, "to_json output does not parse: %s\n%s\n", e.what(), printed.c_str());
    ZAYA_FUZZ_CHECK(false);
  }
  ZAYA_FUZZ_CHECK(again.to_json() == printed);
  ZAYA_FUZZ_CHECK(again == strict_json(v));
  return 0;
}
