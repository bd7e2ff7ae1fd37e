// tests/test_sampling_chat_output.cpp - ZAYA1 reasoning / answer / tool-call parsing.
#include <doctest/doctest.h>

#include <zaya/chat_output.h>
#include <zaya/error.h>
#include <zaya/utf8.h>

#include <cstdint>
#include <string>
#include <vector>

using namespace zaya;

namespace {

ChatOutputOptions in_reasoning() {
  ChatOutputOptions options;
  options.starts_in_reasoning = true;
  return options;
}

// A tool-call block in the exact ZAYA1 layout.
std::string block(const std::string& functions) {
  return "<zyphra_tool_call>\n" + functions + "</zyphra_tool_call>";
}
std::string function(const std::string& name,
                     const std::vector<std::pair<std::string, std::string>>& parameters) {
  std::string text = "<function=" + name + ">\n";
  for (const auto& [key, value] : parameters)
    text += "<parameter=" + key + ">\n" + value + "\n</parameter>\n";
  return text + "</function>\n";
}

ToolCall call(std::string name, std::vector<ToolCallArgument> arguments) {
  return ToolCall{std::move(name), std::move(arguments)};
}

// Folds streaming events the way a server would, checking their order on the way.
ChatOutput fold(const std::vector<ChatEvent>& events, bool& order_ok) {
  ChatOutput output;
  order_ok = true;
  bool seen_content_side = false;  // content, tool calls and malformed blocks follow reasoning
  for (const ChatEvent& event : events) {
    switch (event.kind) {
      case ChatEventKind::reasoning_delta:
        if (seen_content_side || output.reasoning_finished) order_ok = false;
        if (event.text.empty()) order_ok = false;  // no empty deltas
        output.reasoning += event.text;
        break;
      case ChatEventKind::reasoning_end:
        if (seen_content_side || output.reasoning_finished) order_ok = false;
        output.reasoning_finished = true;
        break;
      case ChatEventKind::content_delta:
        if (event.text.empty()) order_ok = false;
        seen_content_side = true;
        output.content += event.text;
        break;
      case ChatEventKind::tool_call:
        seen_content_side = true;
        output.tool_calls.push_back(event.tool_call);
        break;
      case ChatEventKind::malformed_tool_call:
        seen_content_side = true;
        output.malformed_tool_calls.push_back({event.text, event.error});
        break;
    }
  }
  return output;
}

struct Lcg {
  uint64_t state;
  uint32_t next(uint32_t bound) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>((state >> 33) % bound);
  }
};

void check_same(const ChatOutput& a, const ChatOutput& b) {
  CHECK(a.reasoning == b.reasoning);
  CHECK(a.content == b.content);
  CHECK(a.tool_calls == b.tool_calls);
  REQUIRE(a.malformed_tool_calls.size() == b.malformed_tool_calls.size());
  for (size_t i = 0; i < a.malformed_tool_calls.size(); ++i) {
    CHECK(a.malformed_tool_calls[i].raw_text == b.malformed_tool_calls[i].raw_text);
    CHECK(a.malformed_tool_calls[i].reason == b.malformed_tool_calls[i].reason);
  }
  CHECK(a.reasoning_finished == b.reasoning_finished);
}

}  // namespace

// ---- reasoning ----------------------------------------------------------------------------------

TEST_CASE("plain answers have no reasoning") {
  ChatOutput output = parse_chat_output("Hello, world!\n");
  CHECK(output.content == "Hello, world!");
  CHECK(output.reasoning.empty());
  CHECK_FALSE(output.reasoning_started);
  CHECK_FALSE(output.reasoning_finished);
  CHECK(output.tool_calls.empty());
  CHECK(parse_chat_output("").content.empty());
}

TEST_CASE("<think> at the start opens reasoning; </think> closes it") {
  ChatOutput output = parse_chat_output("<think>\nx is 2 or -2\n</think>\n\nx = \\boxed{\\pm 2}");
  CHECK(output.reasoning == "x is 2 or -2");
  CHECK(output.content == "x = \\boxed{\\pm 2}");
  CHECK(output.reasoning_started);
  CHECK(output.reasoning_finished);

  ChatOutput indented = parse_chat_output("\n  <think>a\nb</think>c");
  CHECK(indented.reasoning == "a\nb");
  CHECK(indented.content == "c");
}

TEST_CASE("the prompt may already have opened <think>") {
  ChatOutput output = parse_chat_output("Let me think.\nOK.\n</think>\n\nThe answer is 4.", in_reasoning());
  CHECK(output.reasoning == "Let me think.\nOK.");
  CHECK(output.content == "The answer is 4.");
  CHECK(output.reasoning_started);
  CHECK(output.reasoning_finished);

  ChatOutput empty_reasoning = parse_chat_output("</think>\n\nHi", in_reasoning());
  CHECK(empty_reasoning.reasoning.empty());
  CHECK(empty_reasoning.content == "Hi");
  CHECK(empty_reasoning.reasoning_finished);
}

TEST_CASE("a missing </think> means truncated generation: everything is reasoning") {
  ChatOutput opened_in_prompt = parse_chat_output("still thinking about 2+2 ... </thi", in_reasoning());
  CHECK(opened_in_prompt.reasoning == "still thinking about 2+2 ... </thi");
  CHECK(opened_in_prompt.content.empty());
  CHECK(opened_in_prompt.reasoning_started);
  CHECK_FALSE(opened_in_prompt.reasoning_finished);

  ChatOutput opened_in_output = parse_chat_output("<think>\nhmm");
  CHECK(opened_in_output.reasoning == "hmm");
  CHECK(opened_in_output.content.empty());
  CHECK_FALSE(opened_in_output.reasoning_finished);
}

TEST_CASE("think tags elsewhere are plain text") {
  ChatOutput late = parse_chat_output("Answer first <think>no</think> done");
  CHECK(late.content == "Answer first <think>no</think> done");
  CHECK(late.reasoning.empty());
  CHECK_FALSE(late.reasoning_started);

  ChatOutput stray_close = parse_chat_output("text </think> more");
  CHECK(stray_close.content == "text </think> more");

  // Only the first </think> closes; a later one is answer text.
  ChatOutput twice = parse_chat_output("<think>r</think>a</think>b");
  CHECK(twice.reasoning == "r");
  CHECK(twice.content == "a</think>b");

  // A lone "<thin" prefix at the start is text once the output ends.
  CHECK(parse_chat_output("<thin").content == "<thin");
}

// ---- tool calls ---------------------------------------------------------------------------------

TEST_CASE("one tool call with several multi-line parameters") {
  std::string text = "<think>\nNeed weather.\n</think>\n\nChecking.\n" +
                     block(function("get_weather", {{"city", "Paris"},
                                                    {"note", "line one\nline two"},
                                                    {"units", "metric"}}));
  ChatOutput output = parse_chat_output(text);
  CHECK(output.reasoning == "Need weather.");
  CHECK(output.content == "Checking.");
  REQUIRE(output.tool_calls.size() == 1);
  CHECK(output.tool_calls[0] == call("get_weather", {{"city", "Paris"},
                                                     {"note", "line one\nline two"},
                                                     {"units", "metric"}}));
  CHECK(output.malformed_tool_calls.empty());
}

TEST_CASE("several tool calls, in separate blocks and in one block") {
  std::string text = "First.\n" + block(function("a", {{"x", "1"}})) + "\nBetween.\n" +
                     block(function("b", {}) + function("c", {{"y", "2"}, {"y", "3"}})) + "\n";
  ChatOutput output = parse_chat_output(text);
  CHECK(output.content == "First.\n\nBetween.");
  REQUIRE(output.tool_calls.size() == 3);
  CHECK(output.tool_calls[0] == call("a", {{"x", "1"}}));
  CHECK(output.tool_calls[1] == call("b", {}));
  CHECK(output.tool_calls[2] == call("c", {{"y", "2"}, {"y", "3"}}));  // repeats kept in order
}

TEST_CASE("whitespace around tags and names is tolerated; values keep inner whitespace") {
  ChatOutput compact = parse_chat_output(
      "<zyphra_tool_call><function= get_time ><parameter= zone >UTC</parameter></function>"
      "</zyphra_tool_call>");
  REQUIRE(compact.tool_calls.size() == 1);
  CHECK(compact.tool_calls[0] == call("get_time", {{"zone", "UTC"}}));
  CHECK(compact.content.empty());

  ChatOutput spaced = parse_chat_output(
      "<zyphra_tool_call>\n\n  <function=run>  \n\t<parameter=code>\n  def f():\n      return 1\n\n"
      "</parameter>\n\n</function>  \n</zyphra_tool_call>");
  REQUIRE(spaced.tool_calls.size() == 1);
  // One newline stripped on each side; indentation and the blank line kept.
  CHECK(spaced.tool_calls[0].arguments.at(0).value == "  def f():\n      return 1\n");

  // A value may contain markup-like text; only </parameter> ends it.
  ChatOutput markup = parse_chat_output(block(
      "<function=write>\n<parameter=body>\n<p>a < b</p>\n</function> <parameter=x>\n</parameter>\n"
      "</function>\n"));
  REQUIRE(markup.tool_calls.size() == 1);
  CHECK(markup.tool_calls[0].arguments.at(0).value == "<p>a < b</p>\n</function> <parameter=x>");

  // CRLF line ends are stripped the same way; an empty value is fine.
  ChatOutput crlf = parse_chat_output(
      "<zyphra_tool_call>\r\n<function=f>\r\n<parameter=a>\r\nv\r\n</parameter>\r\n"
      "<parameter=empty></parameter></function>\r\n</zyphra_tool_call>");
  REQUIRE(crlf.tool_calls.size() == 1);
  CHECK(crlf.tool_calls[0] == call("f", {{"a", "v"}, {"empty", ""}}));
}

TEST_CASE("malformed blocks stay in the answer and are reported with a reason") {
  struct Case {
    std::string body;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"<function=f>\n<parameter=a>\n1\n</parameter>\n", "missing </function>"},
      {"<function=f>\n<parameter=a>\n1\n</function>\n", "missing </parameter>"},
      {"<function=f>\nhello\n</function>\n", "unexpected text"},
      {"<function=>\n</function>\n", "bad function name"},
      {"<function=two\nlines>\n</function>\n", "bad function name"},
      {"<function=f>\n<parameter=>\nv\n</parameter>\n</function>\n", "bad parameter name"},
      {"{\"name\": \"f\", \"arguments\": {}}", "JSON"},
      {"\n\n", "empty"},
      {"call f please", "expected <function=NAME>"},
      {"<function=f>\n</function>\ntrailing words", "expected <function=NAME>"},
  };
  for (const Case& c : cases) {
    INFO("body: ", c.body);
    std::string raw = "<zyphra_tool_call>" + c.body + "</zyphra_tool_call>";
    ChatOutput output = parse_chat_output("Before. " + raw + " After.");
    CHECK(output.tool_calls.empty());
    REQUIRE(output.malformed_tool_calls.size() == 1);
    CHECK(output.malformed_tool_calls[0].raw_text == raw);
    CHECK(output.malformed_tool_calls[0].reason.find(c.reason) != std::string::npos);
    CHECK(output.content == "Before. " + raw + " After.");
  }
}

TEST_CASE("a bad block does not affect good ones") {
  std::string bad = "<zyphra_tool_call>\n<function=broken>\noops\n</function>\n</zyphra_tool_call>";
  std::string text = block(function("good", {{"k", "v"}})) + "\n" + bad + "\n" +
                     block(function("also_good", {}));
  ChatOutput output = parse_chat_output(text);
  REQUIRE(output.tool_calls.size() == 2);
  CHECK(output.tool_calls[0].name == "good");
  CHECK(output.tool_calls[1].name == "also_good");
  REQUIRE(output.malformed_tool_calls.size() == 1);
  CHECK(output.content == bad);
}

TEST_CASE("a block opened inside another is a malformed outer block plus the inner one") {
  std::string text =
      "<zyphra_tool_call>\n<function=outer>\n<zyphra_tool_call>\n<function=inner>\n"
      "<parameter=q>\nx\n</parameter>\n</function>\n</zyphra_tool_call>";
  ChatOutput output = parse_chat_output(text);
  REQUIRE(output.tool_calls.size() == 1);
  CHECK(output.tool_calls[0] == call("inner", {{"q", "x"}}));
  REQUIRE(output.malformed_tool_calls.size() == 1);
  CHECK(output.malformed_tool_calls[0].raw_text == "<zyphra_tool_call>\n<function=outer>\n");
  CHECK(output.malformed_tool_calls[0].reason.find("new <zyphra_tool_call>") != std::string::npos);
  CHECK(output.content == "<zyphra_tool_call>\n<function=outer>");
}

TEST_CASE("a block still open at the end: complete calls accepted, partial ones malformed") {
  ChatOutput complete = parse_chat_output(
      "Sure.\n<zyphra_tool_call>\n<function=f>\n<parameter=a>\n1\n</parameter>\n</function>\n");
  REQUIRE(complete.tool_calls.size() == 1);
  CHECK(complete.tool_calls[0] == call("f", {{"a", "1"}}));
  CHECK(complete.content == "Sure.");
  CHECK(complete.malformed_tool_calls.empty());

  std::string partial = "<zyphra_tool_call>\n<function=f>\n<parameter=a>\nhalf a val";
  ChatOutput truncated = parse_chat_output("Sure.\n" + partial);
  CHECK(truncated.tool_calls.empty());
  REQUIRE(truncated.malformed_tool_calls.size() == 1);
  CHECK(truncated.malformed_tool_calls[0].raw_text == partial);
  CHECK(truncated.malformed_tool_calls[0].reason.find("ended inside") != std::string::npos);
  CHECK(truncated.content == "Sure.\n" + partial);
}

TEST_CASE("tool-call markup inside reasoning stays reasoning; parsing can be switched off") {
  std::string tool = block(function("f", {{"a", "1"}}));
  ChatOutput output = parse_chat_output("<think>maybe " + tool + "</think>no call");
  CHECK(output.reasoning == "maybe " + tool);
  CHECK(output.content == "no call");
  CHECK(output.tool_calls.empty());

  ChatOutputOptions off;
  off.parse_tool_calls = false;
  ChatOutput plain = parse_chat_output("x " + tool, off);
  CHECK(plain.content == "x " + tool);
  CHECK(plain.tool_calls.empty());
}

TEST_CASE("parse_tool_call_block on its own") {
  ToolCallBlockParse parsed = parse_tool_call_block(function("f", {{"a", "1"}}));
  CHECK(parsed.ok());
  REQUIRE(parsed.calls.size() == 1);
  CHECK(parsed.calls[0] == call("f", {{"a", "1"}}));
  ToolCallBlockParse bad = parse_tool_call_block("<function=f>\n");
  CHECK_FALSE(bad.ok());
  CHECK(bad.calls.empty());
}

// ---- streaming ----------------------------------------------------------------------------------

TEST_CASE("streaming emits deltas as soon as they are unambiguous") {
  ChatOutputParser parser;
  std::vector<ChatEvent> events;
  parser.feed("<thi", events);
  CHECK(events.empty());
  parser.feed("nk>\nLet me see", events);
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == ChatEventKind::reasoning_delta);
  CHECK(events[0].text == "Let me see");
  CHECK(parser.in_reasoning());
  events.clear();

  parser.feed(".\n</thi", events);  // "." is emitted; the newline might be trailing; "</thi" might close
  REQUIRE(events.size() == 1);
  CHECK(events[0].text == ".");
  events.clear();

  parser.feed("nk>\n\nIt is", events);
  REQUIRE(events.size() == 2);
  CHECK(events[0].kind == ChatEventKind::reasoning_end);
  CHECK(events[1].kind == ChatEventKind::content_delta);
  CHECK(events[1].text == "It is");
  events.clear();

  parser.feed(" sunny.\n<zyphra_tool_call>\n<function=log>\n<parameter=msg>\nhi\n", events);
  REQUIRE(events.size() == 1);
  CHECK(events[0].text == " sunny.");
  CHECK(parser.in_tool_call());
  events.clear();

  parser.feed("</parameter>\n</function>\n</zyphra_tool_call>", events);
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == ChatEventKind::tool_call);
  CHECK(events[0].tool_call == call("log", {{"msg", "hi"}}));
  events.clear();

  parser.finish(events);
  CHECK(events.empty());
  CHECK_THROWS_AS(parser.feed("more", events), Error);
}

TEST_CASE("streaming agrees with the one-shot parse however the text is split") {
  const std::string good = block(function("get_weather", {{"city", "Z\xC3\xBCrich"}, {"days", "3"}}));
  const std::vector<std::pair<std::string, bool>> samples = {
      {"Hello \xE2\x82\xAC 5, caf\xC3\xA9!", false},
      {"<think>\nr\xC3\xA9" "flexion\n</think>\n\nr\xC3\xA9ponse  \n", false},
      {"thinking...\n</think>\n\nanswer", true},
      {"thinking forever", true},
      {"  <think>\n\n</think>\n\n" + good + "\n", false},
      {"Sure. " + good + " and " + block(function("b", {})) + " done.", false},
      {"x <zyphra_tool_call>\n<function=f>\nnope\n</function>\n</zyphra_tool_call> y", false},
      {"<zyphra_tool_call>\n<function=outer>\n" + good, false},
      {"Calling.\n<zyphra_tool_call>\n<function=f>\n<parameter=a>\n1\n</parameter>\n</function>", false},
      {"<think>plan " + good + "</think>" + good, false},
      {"a </think> b <zyphra_tool_cal c <think>", false},
  };
  Lcg random{777};
  for (const auto& sample : samples) {
    const std::string& text = sample.first;  // INFO captures it in a lambda: not a binding (clang 14)
    ChatOutputOptions options;
    options.starts_in_reasoning = sample.second;
    ChatOutput expected = parse_chat_output(text, options);
    for (int trial = 0; trial < 60; ++trial) {
      std::vector<std::string> pieces;
      if (trial == 0) {
        for (char c : text) pieces.emplace_back(1, c);  // byte by byte
      } else {
        for (size_t pos = 0; pos < text.size();) {
          size_t take = std::min(text.size() - pos, static_cast<size_t>(1 + random.next(9)));
          pieces.push_back(text.substr(pos, take));
          pos += take;
        }
      }
      ChatOutputParser parser(options);
      std::vector<ChatEvent> events;
      for (const std::string& piece : pieces) parser.feed(piece, events);
      parser.finish(events);
      INFO("text: ", text, " trial ", trial);
      bool order_ok = false;
      ChatOutput streamed = fold(events, order_ok);
      CHECK(order_ok);
      check_same(streamed, expected);
      // Deltas never end inside a UTF-8 character, even when the pieces did.
      for (const ChatEvent& event : events) CHECK(utf8::is_valid(event.text));
    }
  }
}
