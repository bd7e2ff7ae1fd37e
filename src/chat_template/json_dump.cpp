// chat_template/json_dump.cpp - json.dumps for template values.
#include "chat_template/json_dump.h"

#include <zaya/error.h>
#include <zaya/json_writer.h>
#include <zaya/utf8.h>

#include "chat_template/limits.h"
#include "chat_template/python_text.h"
#include "chat_template/renderer.h"

#include <algorithm>
#include <cmath>

namespace zaya::jinja {

namespace {

class Dumper {
 public:
  Dumper(Renderer& renderer, const JsonDumpOptions& options) : renderer_(renderer), options_(options) {}

  void dump(std::string& out, const Val& v, int level) {
    if (level > static_cast<int>(kMaxValueDepth) * 2) {
      fail(ErrorCode::limit_exceeded, "values nested deeper than {} levels", kMaxValueDepth);
    }
    renderer_.tick();
    renderer_.check_string_size(out.size());
    switch (v.kind()) {
      case Val::Kind::none: out += "null"; return;
      case Val::Kind::boolean: out += v.as_bool() ? "true" : "false"; return;
      case Val::Kind::integer: out += std::to_string(v.as_int()); return;
      case Val::Kind::big_integer: out += v.big_integer_digits(); return;
      case Val::Kind::floating: {
        double d = v.as_double();
        if (std::isnan(d)) out += "NaN";
        else if (std::isinf(d)) out += d < 0 ? "-Infinity" : "Infinity";
        else out += python_float_repr(d);
        return;
      }
      case Val::Kind::string: append_string(out, v.as_string()); return;
      case Val::Kind::list:
        if (v.is_iterator()) break;
        dump_list(out, v.as_list(), level);
        return;
      case Val::Kind::dict: dump_dict(out, v.as_dict(), level); return;
      default: break;
    }
    fail(ErrorCode::template_error, "Object of type {} is not JSON serializable", type_name(v));
  }

 private:
  void append_string(std::string& out, std::string_view text) {
    if (!options_.ensure_ascii) {
      json::append_string(out, text);
      return;
    }
    out.push_back('"');
    size_t pos = 0;
    while (pos < text.size()) {
      unsigned char c = static_cast<unsigned char>(text[pos]);
      if (c < 0x80) {
        std::string one;
        json::append_string(one, text.substr(pos, 1));
        out.append(one, 1, one.size() - 2);  // without the quotes
        ++pos;
        continue;
      }
      char32_t cp = utf8::decode(text, pos);
      if (cp == utf8::invalid) cp = 0xFFFD;
      if (cp >= 0x10000) {
        char32_t u = cp - 0x10000;
        out += fmt::format("\\u{:04x}\\u{:04x}", static_cast<unsigned>(0xD800 | (u >> 10)),
                           static_cast<unsigned>(0xDC00 | (u & 0x3FF)));
      } else {
        out += fmt::format("\\u{:04x}", static_cast<unsigned>(cp));
      }
    }
    out.push_back('"');
  }

  void newline(std::string& out, int level) {
    out.push_back('\n');
    for (int i = 0; i < level; ++i) out += *options_.indent;
    renderer_.check_string_size(out.size());
  }

  void dump_list(std::string& out, const List& items, int level) {
    if (items.empty()) {
      out += "[]";
      return;
    }
    out.push_back('[');
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out += options_.item_separator;
      if (options_.indent) newline(out, level + 1);
      dump(out, items[i], level + 1);
    }
    if (options_.indent) newline(out, level);
    out.push_back(']');
  }

  void dump_dict(std::string& out, const Dict& dict, int level) {
    if (dict.empty()) {
      out += "{}";
      return;
    }
    std::vector<const Dict::Entry*> entries;
    entries.reserve(dict.size());
    for (const auto& entry : dict) entries.push_back(&entry);
    if (options_.sort_keys) {
      std::stable_sort(entries.begin(), entries.end(), [](const Dict::Entry* a, const Dict::Entry* b) { return a->first < b->first; });
    }
    out.push_back('{');
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i) out += options_.item_separator;
      if (options_.indent) newline(out, level + 1);
      append_string(out, entries[i]->first);
      out += options_.key_separator;
      dump(out, entries[i]->second, level + 1);
    }
    if (options_.indent) newline(out, level);
    out.push_back('}');
  }

  Renderer& renderer_;
  const JsonDumpOptions& options_;
};

}  // namespace

std::string python_json_dumps(Renderer& renderer, const Val& value, const JsonDumpOptions& options) {
  std::string out;
  Dumper(renderer, options).dump(out, value, 0);
  renderer.check_string_size(out.size());
  return out;
}

}  // namespace zaya::jinja
