// tools/cli/cli.h - the tiny framework behind the `zaya` command line tool.
//
// Each subcommand lives in its own file (cmd_<name>.cpp) and registers itself with
// ZAYA_CLI_COMMAND; main.cpp dispatches on argv[1]. Errors are reported by throwing
// zaya::Error (or any std::exception): main prints one line "zaya <cmd>: error: ..." on stderr
// and exits with a non-zero status.
#pragma once

#include <zaya/error.h>

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace zaya::cli {

// Parsed "--name value" / "--flag" options plus positional words.
class Args {
 public:
  Args(std::vector<std::string> words, std::set<std::string> flag_names)
      : flag_names_(std::move(flag_names)) {
    for (size_t i = 0; i < words.size(); ++i) {
      const std::string& w = words[i];
      if (w.size() > 2 && w.rfind("--", 0) == 0) {
        std::string name = w.substr(2);
        if (auto eq = name.find('='); eq != std::string::npos) {
          options_[name.substr(0, eq)] = name.substr(eq + 1);
        } else if (flag_names_.count(name)) {
          flags_.insert(name);
        } else {
          if (i + 1 >= words.size()) fail(ErrorCode::invalid_argument, "option --{} needs a value", name);
          options_[name] = words[++i];
        }
      } else {
        positional_.push_back(w);
      }
    }
  }

  bool flag(const std::string& name) { used_.insert(name); return flags_.count(name) > 0; }

  std::optional<std::string> get(const std::string& name) {
    used_.insert(name);
    auto it = options_.find(name);
    if (it == options_.end()) return std::nullopt;
    return it->second;
  }

  std::string require(const std::string& name) {
    auto value = get(name);
    if (!value) fail(ErrorCode::invalid_argument, "missing required option --{}", name);
    return *value;
  }

  std::string get_or(const std::string& name, std::string fallback) {
    auto value = get(name);
    return value ? *value : std::move(fallback);
  }

  long long get_int(const std::string& name, long long fallback, long long min_value, long long max_value) {
    auto value = get(name);
    if (!value) return fallback;
    return parse_int(name, *value, min_value, max_value);
  }

  double get_double(const std::string& name, double fallback) {
    auto value = get(name);
    if (!value) return fallback;
    try {
      size_t used = 0;
      double d = std::stod(*value, &used);
      if (used != value->size()) throw std::invalid_argument("trailing");
      return d;
    } catch (const std::exception&) {
      fail(ErrorCode::invalid_argument, "option --{}: '{}' is not a number", name, *value);
    }
  }

  static long long parse_int(const std::string& name, const std::string& text, long long min_value,
                             long long max_value) {
    long long v = 0;
    try {
      size_t used = 0;
      v = std::stoll(text, &used);
      if (used != text.size()) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      fail(ErrorCode::invalid_argument, "option --{}: '{}' is not an integer", name, text);
    }
    if (v < min_value || v > max_value)
      fail(ErrorCode::invalid_argument, "option --{}: {} is outside [{}, {}]", name, v, min_value, max_value);
    return v;
  }

  const std::vector<std::string>& positional() const { return positional_; }

  // Call after reading every option: unknown options are an error, not silently ignored.
  void finish() const {
    for (const auto& [name, value] : options_)
      if (!used_.count(name)) fail(ErrorCode::invalid_argument, "unknown option --{}", name);
    for (const auto& name : flags_)
      if (!used_.count(name)) fail(ErrorCode::invalid_argument, "unknown option --{}", name);
  }

 private:
  std::set<std::string> flag_names_;
  std::map<std::string, std::string> options_;
  std::set<std::string> flags_;
  std::set<std::string> used_;
  std::vector<std::string> positional_;
};

struct Command {
  std::string name;
  std::string usage;                      // one or more lines shown by `zaya help`
  std::set<std::string> flag_names;       // options that take no value
  std::function<int(Args&)> run;
};

inline std::map<std::string, Command>& registry() {
  static std::map<std::string, Command> commands;
  return commands;
}

struct Registrar {
  explicit Registrar(Command command) { registry()[command.name] = std::move(command); }
};

}  // namespace zaya::cli

#define ZAYA_CLI_CONCAT_INNER(a, b) a##b
#define ZAYA_CLI_CONCAT(a, b) ZAYA_CLI_CONCAT_INNER(a, b)
// ZAYA_CLI_COMMAND("name", "usage text", {"flag1", "flag2"}, [](zaya::cli::Args& args) { ... });
#define ZAYA_CLI_COMMAND(...) \
  static ::zaya::cli::Registrar ZAYA_CLI_CONCAT(zaya_cli_registrar_, __LINE__)(::zaya::cli::Command{__VA_ARGS__})
