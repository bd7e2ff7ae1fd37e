// zaya/chat_template.h - renders Hugging Face chat templates (Jinja) exactly like transformers.
//
// HF renders chat templates with Python jinja2 (ImmutableSandboxedEnvironment, trim_blocks,
// lstrip_blocks, loopcontrols) plus `tojson` (json.dumps with ensure_ascii=False),
// `raise_exception(msg)` and `strftime_now(fmt)`. ChatTemplate reimplements that subset of
// Jinja and Python semantics so that prompts come out byte for byte the same.
//
// Supported: the whole statement set chat templates use (if/elif/else, for with loop.*, else,
// filters and recursive, set incl. ns.attr and block set, namespace, macro/call/caller, filter
// blocks, with, break/continue, raw, comments, whitespace control), jinja2's builtin filters and
// tests, str/dict/list methods, Python semantics for printing, truthiness, comparisons and
// arithmetic, and jinja2's Undefined. Not supported: extends/block/include/import (there is
// nothing to load), integers beyond 64 bits in arithmetic (they still pass through from JSON),
// non-string dict keys, and full Unicode case tables (common scripts only).
//
// Templates come from model files downloaded from the internet, so rendering is bounded:
// every limit below fails with zaya::Error(ErrorCode::limit_exceeded) instead of crashing,
// hanging or exhausting memory. Template mistakes and raise_exception() fail with
// ErrorCode::template_error (for raise_exception the message is exactly the template's).
#pragma once

#include <zaya/value.h>

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace zaya {

struct TemplateLimits {
  // Size of the rendered text; also the largest string any expression may build.
  size_t max_output_bytes = size_t{16} << 20;
  // Nesting bound for parsing (parentheses, nested blocks, expression trees) and for rendering
  // (nested blocks and expressions plus macro calls, counted together; a recursive macro uses
  // about 4 levels per call). At the default, rendering needs up to ~256 KiB of native stack in
  // optimized builds (several times more in debug or sanitizer builds): lower it for threads
  // with small stacks.
  int max_depth = 512;
  // Evaluation steps per render: expressions, statements, loop iterations and items processed
  // by filters each count one.
  uint64_t max_steps = 20'000'000;
  // Wall-clock budget per render, checked every 1024 steps; <= 0 disables it.
  double max_seconds = 5.0;
  // Total bytes of strings and containers built during one render (an upper bound on the
  // memory a template can make the renderer hold).
  size_t max_allocated_bytes = size_t{512} << 20;
};

struct RenderOptions {
  // The clock behind strftime_now(); unset means the current local time.
  std::optional<std::tm> now;
};

class ChatTemplate {
 public:
  // Parses `source` (the chat_template string of tokenizer_config.json or chat_template.jinja).
  // Throws zaya::Error(template_error) on syntax errors or invalid UTF-8 and
  // zaya::Error(limit_exceeded) when it nests deeper than limits.max_depth.
  static ChatTemplate parse(std::string_view source, TemplateLimits limits = {});

  // Renders with `variables` (a JSON object) as the template's top-level names. Thread-safe:
  // a ChatTemplate is immutable and renders share nothing.
  std::string render(const Value& variables, const RenderOptions& options = {}) const;

  // Renders a conversation the way transformers' apply_chat_template does: `messages`, `tools`
  // (null when there are none, as HF passes tools=None), `documents` = null,
  // `add_generation_prompt`, plus every member of `extra` (special tokens such as bos_token,
  // and options such as enable_thinking).
  std::string render_chat(const Value& messages, const Value& tools = Value(), bool add_generation_prompt = false,
                          const Value& extra = Value::object(), const RenderOptions& options = {}) const;

  const TemplateLimits& limits() const;

  ChatTemplate(const ChatTemplate&) = default;
  ChatTemplate(ChatTemplate&&) noexcept = default;
  ChatTemplate& operator=(const ChatTemplate&) = default;
  ChatTemplate& operator=(ChatTemplate&&) noexcept = default;
  ~ChatTemplate();

 private:
  struct Impl;
  explicit ChatTemplate(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

}  // namespace zaya
