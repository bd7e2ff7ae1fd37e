// zaya/stop_strings.h - deciding when generation stops, and what text is safe to stream.
//
// Two kinds of stop condition:
//   * stop tokens (EOS, end-of-turn, any configured id): the token ends generation and its text
//     is not part of the output;
//   * stop strings: text that can span token boundaries ("\n\nUser:" arriving as "\n", "\nUs",
//     "er:"). The output is cut right before the first completed stop string; the stop string
//     and anything after it are dropped (OpenAI semantics).
//
// Streaming: text that could still turn out to be the start of a stop string cannot be shown
// yet. The matcher returns, for every piece fed, the text that is safe to emit now and holds back
// the longest suffix that is a proper prefix of some stop string. It also holds back a trailing
// incomplete UTF-8 sequence, so it never splits a character it was given whole (and reassembles
// characters a tokenizer split across pieces). flush() at the end returns whatever is held back.
// Concatenating everything returned equals the full text, cut at the stop string.
//
// If several stop strings complete in the same text, the one that ends first wins (that is what
// byte-by-byte streaming would see); among those ending at the same byte the longest wins. So
// the result does not depend on how the text is split into pieces.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace zaya {

enum class StopReason : int {
  none = 0,         // still running
  stop_token = 1,   // a configured stop token (e.g. EOS) was generated
  stop_string = 2,  // a stop string completed
};

struct StopCheck {
  std::string text;  // safe to emit now (for a stop: everything before the stop)
  StopReason reason = StopReason::none;
  int32_t stop_token = -1;          // when reason == stop_token
  size_t stop_string_index = 0;     // when reason == stop_string: index into stop_strings()
  bool stopped() const noexcept { return reason != StopReason::none; }
};

// Streaming stop-string matcher over decoded text.
class StopStringMatcher {
 public:
  // Stop strings must be non-empty valid UTF-8 (invalid_argument otherwise). An empty list is
  // fine: everything is emitted at once (except incomplete UTF-8 tails).
  explicit StopStringMatcher(std::vector<std::string> stop_strings);

  // Feeds the next decoded piece. Feeding after a stop raises invalid_argument.
  StopCheck feed(std::string_view piece);

  // End of generation without a stop string: returns the held-back text (possibly an
  // incomplete UTF-8 tail, returned as is) and resets the hold.
  std::string flush();

  bool stopped() const noexcept { return stopped_; }
  size_t held_back_size() const noexcept { return held_.size(); }
  const std::vector<std::string>& stop_strings() const noexcept { return stop_strings_; }

 private:
  std::vector<std::string> stop_strings_;
  std::string held_;  // text not yet returned
  bool stopped_ = false;
};

// Stop tokens plus stop strings, fed one generated token (id and decoded piece) at a time.
class StopConditions {
 public:
  // Token ids must be >= 0; stop strings as for StopStringMatcher.
  StopConditions(std::vector<int32_t> stop_token_ids, std::vector<std::string> stop_strings);

  bool is_stop_token(int32_t token) const noexcept;

  // A stop token ends generation: the result carries the held-back text (it is ordinary output
  // now that no stop string can complete) but not the stop token's own piece. Otherwise the
  // piece goes through the stop-string matcher. Feeding after a stop raises invalid_argument.
  StopCheck feed(int32_t token, std::string_view piece);

  // End of generation for another reason (length limit, cancel): the held-back text.
  std::string flush() { return matcher_.flush(); }

  bool stopped() const noexcept { return stop_reason_ != StopReason::none; }
  StopReason stop_reason() const noexcept { return stop_reason_; }
  const std::vector<int32_t>& stop_token_ids() const noexcept { return stop_token_ids_; }

 private:
  std::vector<int32_t> stop_token_ids_;  // sorted, unique
  StopStringMatcher matcher_;
  StopReason stop_reason_ = StopReason::none;
};

}  // namespace zaya
