// zaya/chat_output.h - splitting ZAYA1 generated text into reasoning, answer and tool calls.
//
// ZAYA1 output looks like
//
//   <think>
//   ...reasoning...
//   </think>
//
//   ...answer text...
//   <zyphra_tool_call>
//   <function=get_weather>
//   <parameter=city>
//   Paris
//   </parameter>
//   </function>
//   </zyphra_tool_call>
//
// Reasoning:
//   * `<think>` opens reasoning only as the first non-whitespace text of the output; elsewhere it
//     is ordinary text. When the chat template already opened `<think>` in the prompt, set
//     `starts_in_reasoning` and the output starts inside reasoning.
//   * `</think>` closes reasoning. If it never comes (truncated generation), everything is
//     reasoning and `reasoning_finished` stays false. A `</think>` in the answer is plain text.
//   * Reasoning and answer are each trimmed of leading and trailing whitespace (the template
//     writes "</think>\n\n" between them).
//
// Tool calls (only in the answer; tool-call markup inside reasoning stays reasoning text):
//   * A block is `<zyphra_tool_call>` ... `</zyphra_tool_call>` holding one or more
//     `<function=NAME>` ... `</function>`, each holding zero or more
//     `<parameter=ARG>VALUE</parameter>`. Whitespace between tags is ignored; names are trimmed.
//   * VALUE is the raw text up to the first `</parameter>`, minus one leading and one trailing
//     newline (the format puts values on their own lines); other whitespace is kept, so code and
//     multi-line values survive. Parameters keep their order; repeated names are kept as is.
//   * Well-formed blocks are removed from the answer and returned as ToolCalls.
//   * A malformed block (missing or unexpected tag, text outside tags, empty or multi-line name,
//     unterminated parameter, a second `<zyphra_tool_call>` before the first closed, a JSON body)
//     is left in the answer verbatim, so nothing the model wrote is lost, and is also reported
//     in `malformed_tool_calls` with the reason. A block still open when the output ends is
//     accepted if every function in it is complete (generation stopped right before
//     `</zyphra_tool_call>`), and malformed otherwise.
//
// parse_chat_output() is the one-shot form. ChatOutputParser is the streaming form: feed decoded
// pieces, receive events; the one-shot form is defined as the fold of the streaming events, so
// both always agree, whatever the piece boundaries.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace zaya {

struct ToolCallArgument {
  std::string name;
  std::string value;
  bool operator==(const ToolCallArgument&) const = default;
};

struct ToolCall {
  std::string name;
  std::vector<ToolCallArgument> arguments;  // in the order written
  bool operator==(const ToolCall&) const = default;
};

struct MalformedToolCall {
  std::string raw_text;  // the block as written (also left in the answer text)
  std::string reason;
};

struct ChatOutputOptions {
  bool starts_in_reasoning = false;  // the prompt already opened <think>
  bool parse_tool_calls = true;      // false: tool-call markup stays answer text
};

struct ChatOutput {
  std::string reasoning;
  std::string content;  // the answer, without well-formed tool-call blocks
  std::vector<ToolCall> tool_calls;
  std::vector<MalformedToolCall> malformed_tool_calls;
  bool reasoning_started = false;   // output started in reasoning or opened <think>
  bool reasoning_finished = false;  // </think> was seen
};

ChatOutput parse_chat_output(std::string_view text, const ChatOutputOptions& options = {});

// Parses the text between <zyphra_tool_call> and </zyphra_tool_call>.
struct ToolCallBlockParse {
  std::vector<ToolCall> calls;
  std::string error;  // empty when well-formed
  bool ok() const noexcept { return error.empty(); }
};
ToolCallBlockParse parse_tool_call_block(std::string_view body);

// ---- streaming --------------------------------------------------------------------------------

enum class ChatEventKind : int {
  reasoning_delta = 0,      // text: more reasoning
  reasoning_end = 1,        // </think> seen (no text)
  content_delta = 2,        // text: more answer
  tool_call = 3,            // tool_call: one complete, well-formed call
  malformed_tool_call = 4,  // text: the raw block (already emitted as content), error: why
};

struct ChatEvent {
  ChatEventKind kind = ChatEventKind::content_delta;
  std::string text;
  ToolCall tool_call;
  std::string error;
};

class ChatOutputParser {
 public:
  explicit ChatOutputParser(ChatOutputOptions options = {});

  // Feeds the next decoded piece; appends the events it completes to `events`. Text that might
  // be the start of a tag, trailing whitespace and incomplete UTF-8 are held back until they
  // are resolved; a tool-call block is held until it closes.
  void feed(std::string_view piece, std::vector<ChatEvent>& events);

  // End of output: resolves everything held back. Feeding after finish raises invalid_argument.
  void finish(std::vector<ChatEvent>& events);

  bool in_reasoning() const noexcept { return mode_ == Mode::reasoning; }
  bool in_tool_call() const noexcept { return mode_ == Mode::tool_call; }
  bool reasoning_started() const noexcept { return reasoning_started_; }
  bool reasoning_finished() const noexcept { return reasoning_finished_; }

 private:
  enum class Mode { awaiting_start, reasoning, content, tool_call };

  // Emits one section's text as deltas, trimming leading and trailing whitespace of the whole
  // section and never ending a delta inside a UTF-8 sequence.
  class SectionEmitter {
   public:
    explicit SectionEmitter(ChatEventKind kind) : kind_(kind) {}
    void emit(std::string_view text, std::vector<ChatEvent>& events);
    void close(std::vector<ChatEvent>& events);

   private:
    ChatEventKind kind_;
    bool at_start_ = true;
    std::string tail_;  // trailing whitespace / incomplete UTF-8 not emitted yet
  };

  void process(std::vector<ChatEvent>& events, bool at_end);
  void finish_tool_call_block(std::string_view body, bool terminated,
                              std::string_view unterminated_reason,
                              std::vector<ChatEvent>& events);

  ChatOutputOptions options_;
  Mode mode_;
  std::string pending_;        // text fed but not yet classified
  size_t tag_search_from_ = 0;  // inside a tool-call block: where the close-tag search resumes
  SectionEmitter reasoning_{ChatEventKind::reasoning_delta};
  SectionEmitter content_{ChatEventKind::content_delta};
  bool reasoning_started_ = false;
  bool reasoning_finished_ = false;
  bool finished_ = false;
};

}  // namespace zaya
