// tools/cli/ids.h - parsing "--ids 2,17,5".
#pragma once

#include "cli.h"

#include <cstdint>
#include <string>
#include <vector>

namespace zaya::cli {

inline std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (item.empty()) fail(ErrorCode::invalid_argument, "--ids: empty entry in '{}'", text);
    ids.push_back(static_cast<int32_t>(Args::parse_int("ids", item, 0, INT32_MAX)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (ids.empty()) fail(ErrorCode::invalid_argument, "--ids: no token ids");
  return ids;
}

}  // namespace zaya::cli
