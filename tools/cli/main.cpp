// tools/cli/main.cpp - `zaya <command> [options]`: dispatch to the registered subcommands.
#include "cli.h"

#include <fmt/format.h>

#include <cstdio>
#include <exception>
#include <new>

int main(int argc, char** argv) {
  using namespace zaya::cli;
  auto& commands = registry();
  auto print_help = [&](std::FILE* to) {
    fmt::print(to, "zaya - inference engine for ZAYA1 models\n\nusage: zaya <command> [options]\n\n");
    for (const auto& [name, command] : commands) fmt::print(to, "  {}\n", command.usage);
  };
  if (argc < 2) {
    print_help(stderr);
    return 2;
  }
  std::string name = argv[1];
  if (name == "help" || name == "--help" || name == "-h") {
    print_help(stdout);
    return 0;
  }
  if (name == "--version" || name == "version") {
    fmt::print("zaya {}\n", ZAYA_VERSION_STRING);
    return 0;
  }
  auto it = commands.find(name);
  if (it == commands.end()) {
    fmt::print(stderr, "zaya: error: unknown command '{}' (try 'zaya help')\n", name);
    return 2;
  }
  try {
    std::vector<std::string> words(argv + 2, argv + argc);
    Args args(std::move(words), it->second.flag_names);
    return it->second.run(args);
  } catch (const zaya::Error& e) {
    fmt::print(stderr, "zaya {}: error: {}\n", name, e.what());
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "zaya {}: error: out of memory\n", name);
  } catch (const std::exception& e) {
    fmt::print(stderr, "zaya {}: error: {}\n", name, e.what());
  }
  return 1;
}
