// tests/test_sampling_stop_strings.cpp - stop tokens and streaming stop strings.
#include <doctest/doctest.h>

#include <zaya/error.h>
#include <zaya/stop_strings.h>
#include <zaya/utf8.h>

#include <cstdint>
#include <string>
#include <vector>

using namespace zaya;

namespace {

struct Streamed {
  std::string text;
  bool stopped = false;
  size_t stop_index = 0;
  std::vector<std::string> chunks;  // everything returned, in order
};

Streamed stream(const std::vector<std::string>& stops, const std::vector<std::string>& pieces) {
  StopStringMatcher matcher(stops);
  Streamed result;
  for (const std::string& piece : pieces) {
    StopCheck check = matcher.feed(piece);
    result.chunks.push_back(check.text);
    result.text += check.text;
    if (check.stopped()) {
      CHECK(check.reason == StopReason::stop_string);
      result.stopped = true;
      result.stop_index = check.stop_string_index;
      CHECK(matcher.stopped());
      return result;
    }
  }
  std::string rest = matcher.flush();
  result.chunks.push_back(rest);
  result.text += rest;
  return result;
}

// Independent reference: walk the text one byte at a time, stop at the first byte where some
// stop string ends (the longest one if several end there).
Streamed reference(const std::string& text, const std::vector<std::string>& stops) {
  Streamed result;
  for (size_t end = 1; end <= text.size(); ++end) {
    size_t best_length = 0;
    for (size_t i = 0; i < stops.size(); ++i) {
      const std::string& stop = stops[i];
      if (stop.size() <= end && text.compare(end - stop.size(), stop.size(), stop) == 0 &&
          stop.size() > best_length) {
        best_length = stop.size();
        result.stop_index = i;
      }
    }
    if (best_length > 0) {
      result.text = text.substr(0, end - best_length);
      result.stopped = true;
      return result;
    }
  }
  result.text = text;
  return result;
}

// Small deterministic generator for the property tests.
struct Lcg {
  uint64_t state;
  uint32_t next(uint32_t bound) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>((state >> 33) % bound);
  }
};

}  // namespace

TEST_CASE("without stop strings text passes through at once") {
  Streamed result = stream({}, {"Hello", ", ", "world"});
  CHECK(result.chunks == std::vector<std::string>{"Hello", ", ", "world", ""});
  CHECK_FALSE(result.stopped);
}

TEST_CASE("a stop string split across tokens stops generation and is dropped") {
  Streamed result = stream({"\n\nUser:"}, {"Hello", "\n", "\nUs", "er:", " never seen"});
  CHECK(result.stopped);
  CHECK(result.text == "Hello");
  CHECK(result.chunks == std::vector<std::string>{"Hello", "", "", ""});
}

TEST_CASE("text before the stop string in the same piece is kept; text after is dropped") {
  Streamed result = stream({"STOP"}, {"one two", " threeSTOPfour"});
  CHECK(result.stopped);
  CHECK(result.text == "one two three");
}

TEST_CASE("a false start is released once it cannot match any more") {
  StopStringMatcher matcher({"abc"});
  StopCheck first = matcher.feed("xab");
  CHECK(first.text == "x");
  CHECK(matcher.held_back_size() == 2);
  StopCheck second = matcher.feed("d");
  CHECK(second.text == "abd");
  CHECK(matcher.held_back_size() == 0);
  CHECK_FALSE(second.stopped());
}

TEST_CASE("self-overlapping stop strings") {
  Streamed result = stream({"aab"}, {"a", "a", "a", "b", "c"});
  CHECK(result.stopped);
  CHECK(result.text == "a");
  // The hold is the longest suffix that could still start the stop string.
  StopStringMatcher matcher({"abab"});
  CHECK(matcher.feed("xaba").text == "x");
  CHECK(matcher.held_back_size() == 3);
  StopCheck released = matcher.feed("c");
  CHECK(released.text == "abac");
  CHECK_FALSE(released.stopped());
  StopStringMatcher again({"abab"});
  CHECK(again.feed("xaba").text == "x");
  StopCheck stop = again.feed("bab");  // "abab" completes at the first of the new bytes
  CHECK(stop.stopped());
  CHECK(stop.text == "");
}

TEST_CASE("the stop string that ends first wins; at the same end, the longest") {
  Streamed first_end = stream({"abcd", "bc"}, {"xabcd"});
  CHECK(first_end.stopped);
  CHECK(first_end.text == "xa");
  CHECK(first_end.stop_index == 1);
  Streamed longest = stream({"b", "ab"}, {"xab"});
  CHECK(longest.text == "x");
  CHECK(longest.stop_index == 1);
}

TEST_CASE("UTF-8: characters are never split, stop strings may be multi-byte") {
  // A character split across pieces is reassembled, not emitted half.
  Streamed split = stream({}, {"caf\xC3", "\xA9 ok"});
  CHECK(split.chunks == std::vector<std::string>{"caf", "\xC3\xA9 ok", ""});
  // Multi-byte stop string across pieces.
  Streamed stop = stream({"\xC3\xA9!"}, {"caf", "\xC3\xA9", "!", "more"});
  CHECK(stop.stopped);
  CHECK(stop.text == "caf");
  // Shares a lead byte with the stop string but is a different character: released whole.
  Streamed near = stream({"\xC3\xA9"}, {"a\xC3", "\xA8", "b"});
  CHECK_FALSE(near.stopped);
  CHECK(near.chunks == std::vector<std::string>{"a", "\xC3\xA8", "b", ""});
  // A four-byte emoji fed byte by byte.
  Streamed emoji = stream({"STOP"}, {"\xF0", "\x9F", "\x98", "\x80", "!"});
  CHECK(emoji.chunks == std::vector<std::string>{"", "", "", "\xF0\x9F\x98\x80", "!", ""});
}

TEST_CASE("flush returns what was held back") {
  StopStringMatcher matcher({"END"});
  CHECK(matcher.feed("the E").text == "the ");
  CHECK(matcher.feed("N").text == "");
  CHECK(matcher.flush() == "EN");
  CHECK(matcher.held_back_size() == 0);
  // Truncated UTF-8 at the very end comes back as is rather than being lost.
  StopStringMatcher utf8_matcher({});
  CHECK(utf8_matcher.feed("x\xE2\x82").text == "x");
  CHECK(utf8_matcher.flush() == "\xE2\x82");
}

TEST_CASE("results do not depend on how the text is split (property test)") {
  const std::vector<std::string> alphabet = {"a", "b", "c", "\n", " ", "\xC3\xA9", "\xE2\x82\xAC"};
  Lcg random{12345};
  for (int trial = 0; trial < 3000; ++trial) {
    // Random stop strings over the same alphabet, so matches and near-matches are common.
    std::vector<std::string> stops(1 + random.next(3));
    for (std::string& stop : stops) {
      size_t length = 1 + random.next(4);
      for (size_t i = 0; i < length; ++i) stop += alphabet[random.next(7)];
    }
    std::string text;
    size_t length = random.next(30);
    for (size_t i = 0; i < length; ++i) text += alphabet[random.next(7)];

    Streamed expected = reference(text, stops);
    // Split at random byte offsets (possibly inside characters), and byte by byte.
    std::vector<std::string> random_pieces, byte_pieces;
    for (size_t pos = 0; pos < text.size();) {
      size_t take = std::min(text.size() - pos, static_cast<size_t>(1 + random.next(6)));
      random_pieces.push_back(text.substr(pos, take));
      pos += take;
    }
    for (char c : text) byte_pieces.emplace_back(1, c);

    for (const auto* pieces : {&random_pieces, &byte_pieces}) {
      Streamed got = stream(stops, *pieces);
      INFO("trial ", trial, " text '", text, "'");
      REQUIRE(got.text == expected.text);
      REQUIRE(got.stopped == expected.stopped);
      if (expected.stopped) {
        REQUIRE(got.stop_index == expected.stop_index);
      }
      // The input is valid UTF-8, so every chunk handed out must be too.
      for (const std::string& chunk : got.chunks) REQUIRE(utf8::is_valid(chunk));
    }
  }
}

TEST_CASE("invalid stop strings and misuse are rejected") {
  CHECK_THROWS_WITH_AS(StopStringMatcher({"ok", ""}), doctest::Contains("stop_strings[1]"), Error);
  CHECK_THROWS_WITH_AS(StopStringMatcher({"\xC3"}), doctest::Contains("UTF-8"), Error);
  StopStringMatcher matcher({"x"});
  CHECK(matcher.feed("abx").stopped());
  try {
    matcher.feed("more");
    FAIL("feed after stop accepted");
  } catch (const Error& error) {
    CHECK(error.code() == ErrorCode::invalid_argument);
  }
}

TEST_CASE("stop tokens end generation and release held text without their own piece") {
  StopConditions conditions({2, 106, 2}, {"END"});
  CHECK(conditions.is_stop_token(2));
  CHECK(conditions.is_stop_token(106));
  CHECK_FALSE(conditions.is_stop_token(3));
  CHECK(conditions.stop_token_ids() == std::vector<int32_t>{2, 106});

  CHECK(conditions.feed(10, "Hi").text == "Hi");
  CHECK(conditions.feed(11, " EN").text == " ");  // "EN" might start "END"
  StopCheck check = conditions.feed(106, "<end_of_turn>");
  CHECK(check.reason == StopReason::stop_token);
  CHECK(check.stop_token == 106);
  CHECK(check.text == "EN");
  CHECK(conditions.stopped());
  CHECK(conditions.stop_reason() == StopReason::stop_token);
  CHECK_THROWS_AS(conditions.feed(10, "x"), Error);

  StopConditions by_string({2}, {"END"});
  CHECK(by_string.feed(10, "the E").text == "the ");
  StopCheck string_stop = by_string.feed(11, "ND!");
  CHECK(string_stop.reason == StopReason::stop_string);
  CHECK(string_stop.text == "");
  CHECK(by_string.stop_reason() == StopReason::stop_string);

  StopConditions running({2}, {"END"});
  CHECK(running.feed(10, "abc E").text == "abc ");
  CHECK(running.flush() == "E");  // length limit reached: held text is output
  CHECK_FALSE(running.stopped());

  CHECK_THROWS_WITH_AS(StopConditions({-1}, {}), doctest::Contains("stop_token_ids[0]"), Error);
}
