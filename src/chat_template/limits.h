// chat_template/limits.h - fixed internal bounds that keep recursion over values finite.
#pragma once

#include <cstdint>

namespace zaya::jinja {

// Lists and dicts may nest at most this deep, whether they come from the caller's input or are
// built by a template; printing, comparing and serialising values recurse this far at most.
inline constexpr uint32_t kMaxValueDepth = 512;

// jinja2's sandbox refuses range() results longer than this (MAX_RANGE).
inline constexpr int64_t kMaxRange = 100000;

}  // namespace zaya::jinja
