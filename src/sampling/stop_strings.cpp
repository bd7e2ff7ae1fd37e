// src/sampling/stop_strings.cpp - streaming stop-string matching (see zaya/stop_strings.h).
#include <zaya/error.h>
#include <zaya/stop_strings.h>
#include <zaya/utf8.h>

#include <algorithm>

namespace zaya {

namespace {

// Length of the longest suffix of `text` that is a proper prefix of `pattern`.
size_t longest_suffix_that_starts(std::string_view text, std::string_view pattern) {
  size_t longest = std::min(text.size(), pattern.size() - 1);
  for (size_t length = longest; length > 0; --length) {
    if (text.substr(text.size() - length) == pattern.substr(0, length)) return length;
  }
  return 0;
}

}  // namespace

StopStringMatcher::StopStringMatcher(std::vector<std::string> stop_strings)
    : stop_strings_(std::move(stop_strings)) {
  for (size_t i = 0; i < stop_strings_.size(); ++i) {
    if (stop_strings_[i].empty())
      fail(ErrorCode::invalid_argument, "stop_strings[{}] is empty", i);
    if (!utf8::is_valid(stop_strings_[i]))
      fail(ErrorCode::invalid_argument, "stop_strings[{}] is not valid UTF-8 (bad byte at {})", i,
           utf8::first_invalid(stop_strings_[i]));
  }
}

StopCheck StopStringMatcher::feed(std::string_view piece) {
  if (stopped_)
    fail(ErrorCode::invalid_argument, "stop strings: text fed after generation already stopped");
  held_.append(piece);

  // Earliest-ending completed stop string (ties: the longest, i.e. earliest start). A match
  // cannot lie entirely inside text held back earlier: it would have been found then.
  size_t best_index = stop_strings_.size();
  size_t best_start = 0, best_end = std::string::npos;
  for (size_t i = 0; i < stop_strings_.size(); ++i) {
    size_t start = held_.find(stop_strings_[i]);
    if (start == std::string::npos) continue;
    size_t end = start + stop_strings_[i].size();
    if (end < best_end || (end == best_end && start < best_start)) {
      best_index = i;
      best_start = start;
      best_end = end;
    }
  }
  StopCheck check;
  if (best_index < stop_strings_.size()) {
    check.text = held_.substr(0, best_start);
    check.reason = StopReason::stop_string;
    check.stop_string_index = best_index;
    held_.clear();
    stopped_ = true;
    return check;
  }

  // Hold back what might still become a stop string, and any incomplete UTF-8 tail.
  size_t hold = utf8::incomplete_tail(held_);
  for (const std::string& stop : stop_strings_)
    hold = std::max(hold, longest_suffix_that_starts(held_, stop));
  check.text = held_.substr(0, held_.size() - hold);
  held_.erase(0, held_.size() - hold);
  return check;
}

std::string StopStringMatcher::flush() {
  std::string rest;
  rest.swap(held_);
  return rest;
}

StopConditions::StopConditions(std::vector<int32_t> stop_token_ids,
                               std::vector<std::string> stop_strings)
    : stop_token_ids_(std::move(stop_token_ids)), matcher_(std::move(stop_strings)) {
  for (size_t i = 0; i < stop_token_ids_.size(); ++i) {
    if (stop_token_ids_[i] < 0)
      fail(ErrorCode::invalid_argument, "stop_token_ids[{}] is a negative token id {}", i,
           stop_token_ids_[i]);
  }
  std::sort(stop_token_ids_.begin(), stop_token_ids_.end());
  stop_token_ids_.erase(std::unique(stop_token_ids_.begin(), stop_token_ids_.end()),
                        stop_token_ids_.end());
}

bool StopConditions::is_stop_token(int32_t token) const noexcept {
  return std::binary_search(stop_token_ids_.begin(), stop_token_ids_.end(), token);
}

StopCheck StopConditions::feed(int32_t token, std::string_view piece) {
  if (stopped())
    fail(ErrorCode::invalid_argument,
         "stop conditions: token {} fed after generation already stopped", token);
  if (is_stop_token(token)) {
    StopCheck check;
    check.text = matcher_.flush();
    check.reason = StopReason::stop_token;
    check.stop_token = token;
    stop_reason_ = StopReason::stop_token;
    return check;
  }
  StopCheck check = matcher_.feed(piece);
  stop_reason_ = check.reason;
  return check;
}

}  // namespace zaya
