// src/sampling/chat_output.cpp - ZAYA1 reasoning / answer / tool-call splitting (see
// zaya/chat_output.h).
#include <zaya/chat_output.h>
#include <zaya/error.h>
#include <zaya/utf8.h>

#include <fmt/format.h>

#include <algorithm>

namespace zaya {

namespace {

constexpr std::string_view kThinkOpen = "<think>";
constexpr std::string_view kThinkClose = "</think>";
constexpr std::string_view kToolCallOpen = "<zyphra_tool_call>";
constexpr std::string_view kToolCallClose = "</zyphra_tool_call>";
constexpr std::string_view kFunctionOpen = "<function=";
constexpr std::string_view kFunctionClose = "</function>";
constexpr std::string_view kParameterOpen = "<parameter=";
constexpr std::string_view kParameterClose = "</parameter>";
constexpr std::string_view kWhitespace = " \t\n\r\f\v";

bool is_space(char c) { return kWhitespace.find(c) != std::string_view::npos; }

std::string_view trim(std::string_view text) {
  size_t begin = text.find_first_not_of(kWhitespace);
  if (begin == std::string_view::npos) return {};
  size_t end = text.find_last_not_of(kWhitespace);
  return text.substr(begin, end - begin + 1);
}

// Length of the longest suffix of `text` that is a proper prefix of `tag`.
size_t partial_tag_suffix(std::string_view text, std::string_view tag) {
  size_t longest = std::min(text.size(), tag.size() - 1);
  for (size_t length = longest; length > 0; --length) {
    if (text.substr(text.size() - length) == tag.substr(0, length)) return length;
  }
  return 0;
}

// A short, printable quote of model text for error messages (cut on a character boundary).
std::string excerpt(std::string_view text) {
  constexpr size_t kMaxBytes = 40;
  if (text.size() <= kMaxBytes) return std::string(text);
  size_t cut = kMaxBytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut)) + "...";
}

// Function and parameter names: trimmed, non-empty, on one line and without '<' (both signs of
// a tag that lost its '>').
bool parse_name(std::string_view raw, std::string& name) {
  std::string_view trimmed = trim(raw);
  if (trimmed.empty() || trimmed.find_first_of("<\n\r") != std::string_view::npos) return false;
  name.assign(trimmed);
  return true;
}

// Values sit on their own lines between the tags: drop exactly one newline on each side.
std::string_view strip_value_newlines(std::string_view value) {
  if (value.starts_with("\r\n")) value.remove_prefix(2);
  else if (value.starts_with('\n')) value.remove_prefix(1);
  if (value.ends_with("\r\n")) value.remove_suffix(2);
  else if (value.ends_with('\n')) value.remove_suffix(1);
  return value;
}

}  // namespace

// ---- one tool-call block ------------------------------------------------------------------------

ToolCallBlockParse parse_tool_call_block(std::string_view body) {
  ToolCallBlockParse result;
  size_t pos = 0;
  auto skip_space = [&] {
    while (pos < body.size() && is_space(body[pos])) ++pos;
  };
  auto malformed = [&](std::string reason) {
    result.calls.clear();
    result.error = std::move(reason);
    return result;
  };

  skip_space();
  if (pos == body.size()) return malformed("empty <zyphra_tool_call> block");
  if (body[pos] == '{')
    return malformed("JSON tool-call bodies are not supported (expected <function=NAME>)");

  while (pos < body.size()) {
    if (!body.substr(pos).starts_with(kFunctionOpen))
      return malformed(fmt::format("expected <function=NAME>, found \"{}\"",
                                   excerpt(body.substr(pos))));
    pos += kFunctionOpen.size();
    size_t name_end = body.find('>', pos);
    ToolCall call;
    if (name_end == std::string_view::npos || !parse_name(body.substr(pos, name_end - pos), call.name))
      return malformed(fmt::format("bad function name in \"<function={}\"",
                                   excerpt(body.substr(pos))));
    pos = name_end + 1;

    for (;;) {
      skip_space();
      if (pos >= body.size())
        return malformed(fmt::format("function \"{}\" is missing </function>", call.name));
      std::string_view rest = body.substr(pos);
      if (rest.starts_with(kFunctionClose)) {
        pos += kFunctionClose.size();
        break;
      }
      if (!rest.starts_with(kParameterOpen))
        return malformed(fmt::format(
            "unexpected text \"{}\" in function \"{}\" (expected <parameter=NAME> or </function>)",
            excerpt(rest), call.name));
      pos += kParameterOpen.size();
      ToolCallArgument argument;
      name_end = body.find('>', pos);
      if (name_end == std::string_view::npos ||
          !parse_name(body.substr(pos, name_end - pos), argument.name))
        return malformed(fmt::format("bad parameter name in \"<parameter={}\" of function \"{}\"",
                                     excerpt(body.substr(pos)), call.name));
      pos = name_end + 1;
      size_t value_end = body.find(kParameterClose, pos);
      if (value_end == std::string_view::npos)
        return malformed(fmt::format("parameter \"{}\" of function \"{}\" is missing </parameter>",
                                     argument.name, call.name));
      argument.value.assign(strip_value_newlines(body.substr(pos, value_end - pos)));
      pos = value_end + kParameterClose.size();
      call.arguments.push_back(std::move(argument));
    }
    result.calls.push_back(std::move(call));
    skip_space();
  }
  return result;
}

// ---- streaming parser ---------------------------------------------------------------------------

void ChatOutputParser::SectionEmitter::emit(std::string_view text, std::vector<ChatEvent>& events) {
  if (at_start_) {
    size_t first = text.find_first_not_of(kWhitespace);
    if (first == std::string_view::npos) return;
    text.remove_prefix(first);
    at_start_ = false;
  }
  tail_.append(text);
  // Hold back trailing whitespace (it is dropped if the section ends here) and an incomplete
  // UTF-8 sequence (the rest of the character may be in the next piece).
  size_t keep_from = tail_.size() - utf8::incomplete_tail(tail_);
  while (keep_from > 0 && is_space(tail_[keep_from - 1])) --keep_from;
  if (keep_from == 0) return;
  ChatEvent event;
  event.kind = kind_;
  event.text = tail_.substr(0, keep_from);
  events.push_back(std::move(event));
  tail_.erase(0, keep_from);
}

void ChatOutputParser::SectionEmitter::close(std::vector<ChatEvent>& events) {
  size_t end = tail_.find_last_not_of(kWhitespace);
  if (end != std::string::npos) {
    ChatEvent event;
    event.kind = kind_;
    event.text = tail_.substr(0, end + 1);
    events.push_back(std::move(event));
  }
  tail_.clear();
}

ChatOutputParser::ChatOutputParser(ChatOutputOptions options)
    : options_(options),
      mode_(options.starts_in_reasoning ? Mode::reasoning : Mode::awaiting_start),
      reasoning_started_(options.starts_in_reasoning) {}

void ChatOutputParser::feed(std::string_view piece, std::vector<ChatEvent>& events) {
  if (finished_)
    fail(ErrorCode::invalid_argument, "chat output: text fed after finish()");
  pending_.append(piece);
  process(events, /*at_end=*/false);
}

void ChatOutputParser::finish(std::vector<ChatEvent>& events) {
  if (finished_) return;
  process(events, /*at_end=*/true);
  reasoning_.close(events);
  content_.close(events);
  finished_ = true;
}

void ChatOutputParser::finish_tool_call_block(std::string_view body, bool terminated,
                                              std::string_view unterminated_reason,
                                              std::vector<ChatEvent>& events) {
  ToolCallBlockParse parsed = parse_tool_call_block(body);
  // An unclosed block whose functions are all complete is accepted: the model stopped (or
  // moved on) right before </zyphra_tool_call>, and the calls themselves are unambiguous.
  if (parsed.ok()) {
    for (ToolCall& call : parsed.calls) {
      ChatEvent event;
      event.kind = ChatEventKind::tool_call;
      event.tool_call = std::move(call);
      events.push_back(std::move(event));
    }
    return;
  }
  std::string raw;
  raw.reserve(kToolCallOpen.size() + body.size() + kToolCallClose.size());
  raw.append(kToolCallOpen).append(body);
  if (terminated) raw.append(kToolCallClose);
  content_.emit(raw, events);
  ChatEvent event;
  event.kind = ChatEventKind::malformed_tool_call;
  event.text = std::move(raw);
  event.error = terminated ? std::move(parsed.error)
                           : fmt::format("{} ({})", unterminated_reason, parsed.error);
  events.push_back(std::move(event));
}

void ChatOutputParser::process(std::vector<ChatEvent>& events, bool at_end) {
  for (;;) {
    switch (mode_) {
      case Mode::awaiting_start: {
        // Is the first non-whitespace text "<think>"? Wait until that is decided.
        size_t first = pending_.find_first_not_of(kWhitespace);
        if (first == std::string::npos) {
          if (!at_end) return;
          mode_ = Mode::content;
          continue;
        }
        std::string_view rest = std::string_view(pending_).substr(first);
        if (rest.starts_with(kThinkOpen)) {
          pending_.erase(0, first + kThinkOpen.size());
          mode_ = Mode::reasoning;
          reasoning_started_ = true;
          continue;
        }
        if (!at_end && kThinkOpen.starts_with(rest)) return;
        mode_ = Mode::content;
        continue;
      }

      case Mode::reasoning: {
        size_t close = pending_.find(kThinkClose);
        if (close != std::string::npos) {
          reasoning_.emit(std::string_view(pending_).substr(0, close), events);
          reasoning_.close(events);
          events.push_back(ChatEvent{ChatEventKind::reasoning_end, {}, {}, {}});
          pending_.erase(0, close + kThinkClose.size());
          reasoning_finished_ = true;
          mode_ = Mode::content;
          continue;
        }
        size_t hold = at_end ? 0 : partial_tag_suffix(pending_, kThinkClose);
        reasoning_.emit(std::string_view(pending_).substr(0, pending_.size() - hold), events);
        pending_.erase(0, pending_.size() - hold);
        return;
      }

      case Mode::content: {
        size_t open = options_.parse_tool_calls ? pending_.find(kToolCallOpen) : std::string::npos;
        if (open != std::string::npos) {
          content_.emit(std::string_view(pending_).substr(0, open), events);
          pending_.erase(0, open + kToolCallOpen.size());
          mode_ = Mode::tool_call;
          tag_search_from_ = 0;
          continue;
        }
        size_t hold = (at_end || !options_.parse_tool_calls)
                          ? 0
                          : partial_tag_suffix(pending_, kToolCallOpen);
        content_.emit(std::string_view(pending_).substr(0, pending_.size() - hold), events);
        pending_.erase(0, pending_.size() - hold);
        return;
      }

      case Mode::tool_call: {
        // The block is buffered whole; resume the tag search where the last one stopped so a
        // long block costs linear time.
        size_t close = pending_.find(kToolCallClose, tag_search_from_);
        size_t reopen = pending_.find(kToolCallOpen, tag_search_from_);
        if (reopen != std::string::npos && (close == std::string::npos || reopen < close)) {
          finish_tool_call_block(std::string_view(pending_).substr(0, reopen), false,
                                 "a new <zyphra_tool_call> started before this one was closed",
                                 events);
          pending_.erase(0, reopen + kToolCallOpen.size());
          tag_search_from_ = 0;
          continue;
        }
        if (close != std::string::npos) {
          finish_tool_call_block(std::string_view(pending_).substr(0, close), true, {}, events);
          pending_.erase(0, close + kToolCallClose.size());
          mode_ = Mode::content;
          continue;
        }
        if (at_end) {
          finish_tool_call_block(pending_, false,
                                 "the output ended inside a <zyphra_tool_call> block", events);
          pending_.clear();
          mode_ = Mode::content;
          continue;
        }
        constexpr size_t kLongestTag = std::max(kToolCallOpen.size(), kToolCallClose.size());
        tag_search_from_ = pending_.size() >= kLongestTag ? pending_.size() - kLongestTag + 1 : 0;
        return;
      }
    }
  }
}

// ---- one-shot -----------------------------------------------------------------------------------

ChatOutput parse_chat_output(std::string_view text, const ChatOutputOptions& options) {
  ChatOutputParser parser(options);
  std::vector<ChatEvent> events;
  parser.feed(text, events);
  parser.finish(events);

  ChatOutput output;
  for (ChatEvent& event : events) {
    switch (event.kind) {
      case ChatEventKind::reasoning_delta: output.reasoning += event.text; break;
      case ChatEventKind::reasoning_end: break;
      case ChatEventKind::content_delta: output.content += event.text; break;
      case ChatEventKind::tool_call: output.tool_calls.push_back(std::move(event.tool_call)); break;
      case ChatEventKind::malformed_tool_call:
        output.malformed_tool_calls.push_back({std::move(event.text), std::move(event.error)});
        break;
    }
  }
  output.reasoning_started = parser.reasoning_started();
  output.reasoning_finished = parser.reasoning_finished();
  return output;
}

}  // namespace zaya
