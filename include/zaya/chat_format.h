// zaya/chat_format.h - turning a conversation into prompt token ids the way transformers'
// apply_chat_template(tokenize=True) does: the model's own chat template (from
// tokenizer_config.json or chat_template.jinja) rendered with the tokenizer's special tokens as
// variables, then encoded WITHOUT adding special tokens again (the template writes <bos> itself).
#pragma once

#include <zaya/chat_template.h>
#include <zaya/tokenizer.h>
#include <zaya/value.h>

#include <string>
#include <vector>

namespace zaya {

struct ChatRequest {
  Value messages = Value::array();   // [{"role": "...", "content": "..."}, ...]
  Value tools;                       // null or a list of tool schemas
  bool add_generation_prompt = true;
  Value extra = Value::object();     // e.g. {"enable_thinking": false}; merged over the defaults
};

class ChatFormatter {
 public:
  // Throws zaya::Error(unsupported) when the tokenizer files carry no chat template.
  explicit ChatFormatter(const Tokenizer& tokenizer, TemplateLimits limits = {});

  std::string render(const ChatRequest& request, const RenderOptions& options = {}) const;
  std::vector<int32_t> encode(const ChatRequest& request, const RenderOptions& options = {}) const;
  const ChatTemplate& chat_template() const noexcept { return template_; }

 private:
  const Tokenizer* tokenizer_;
  ChatTemplate template_;
  Value special_tokens_;
};

}  // namespace zaya
