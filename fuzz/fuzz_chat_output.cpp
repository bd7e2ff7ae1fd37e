// fuzz/fuzz_chat_output.cpp - splitting generated text into reasoning, answer and tool calls.
// Model output is steered by untrusted prompts, so it is hostile input too. Input: byte 0 holds
// the options and the piece length for streaming; the rest is the text.
// Accepted: the one-shot parse equals the fold of the streaming events fed in arbitrary pieces
// (the header's contract), every text field is valid UTF-8 when the input is, nothing throws.
#include "fuzz_support.h"

#include <zaya/chat_output.h>
#include <zaya/utf8.h>

#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zaya;
  fuzz::Input in(data, size);
  const uint8_t flags = in.byte();
  ChatOutputOptions options;
  options.starts_in_reasoning = flags & 1;
  options.parse_tool_calls = !(flags & 2);
  const size_t piece = 1 + (flags >> 2);  // 1..64 bytes per piece
  const std::string_view text = in.rest();

  const ChatOutput whole = parse_chat_output(text, options);

  ChatOutputParser parser(options);
  std::vector<ChatEvent> events;
  for (size_t at = 0; at < text.size(); at += piece) parser.feed(text.substr(at, piece), events);
  parser.finish(events);
  ChatOutput folded;
  folded.reasoning_started = parser.reasoning_started();
  folded.reasoning_finished = parser.reasoning_finished();
  for (const ChatEvent& e : events) {
    switch (e.kind) {
      case ChatEventKind::reasoning_delta: folded.reasoning += e.text; break;
      case ChatEventKind::reasoning_end: break;
      case ChatEventKind::content_delta: folded.content += e.text; break;
      case ChatEventKind::tool_call: folded.tool_calls.push_back(e.tool_call); break;
      case ChatEventKind::malformed_tool_call: folded.malformed_tool_calls.push_back({e.text, e.error}); break;
    }
  }
  ZAYA_FUZZ_CHECK(folded.reasoning == whole.reasoning);
  ZAYA_FUZZ_CHECK(folded.content == whole.content);
  ZAYA_FUZZ_CHECK(folded.tool_calls == whole.tool_calls);
  ZAYA_FUZZ_CHECK(folded.malformed_tool_calls.size() == whole.malformed_tool_calls.size());
  for (size_t i = 0; i < folded.malformed_tool_calls.size(); ++i) {
    ZAYA_FUZZ_CHECK(folded.malformed_tool_calls[i].raw_text == whole.malformed_tool_calls[i].raw_text);
    ZAYA_FUZZ_CHECK(folded.malformed_tool_calls[i].reason == whole.malformed_tool_calls[i].reason);
  }
  ZAYA_FUZZ_CHECK(folded.reasoning_started == whole.reasoning_started);
  ZAYA_FUZZ_CHECK(folded.reasoning_finished == whole.reasoning_finished);
  if (utf8::is_valid(text)) {
    ZAYA_FUZZ_CHECK(utf8::is_valid(whole.reasoning) && utf8::is_valid(whole.content));
    for (const ChatEvent& e : events) ZAYA_FUZZ_CHECK(utf8::is_valid(e.text));
    for (const ToolCall& call : whole.tool_calls) {
      ZAYA_FUZZ_CHECK(utf8::is_valid(call.name));
      for (const ToolCallArgument& a : call.arguments) ZAYA_FUZZ_CHECK(utf8::is_valid(a.name) && utf8::is_valid(a.value));
    }
  }
  return 0;
}
