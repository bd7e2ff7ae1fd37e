// src/generation/chat_format.cpp - conversation -> template text -> token ids.
#include <zaya/chat_format.h>
#include <zaya/error.h>

namespace zaya {

ChatFormatter::ChatFormatter(const Tokenizer& tokenizer, TemplateLimits limits)
    : tokenizer_(&tokenizer),
      template_([&] {
        if (tokenizer.chat_template().empty())
          fail(ErrorCode::unsupported, "the tokenizer files have no chat template (tokenizer_config.json \"chat_template\" "
                                       "or chat_template.jinja)");
        return ChatTemplate::parse(tokenizer.chat_template(), limits);
      }()),
      special_tokens_(Value::object()) {
  auto add = [&](const char* name, const std::optional<SpecialToken>& token) {
    if (token) special_tokens_.as_object().set(name, Value(token->text));
  };
  add("bos_token", tokenizer.bos_token());
  add("eos_token", tokenizer.eos_token());
  add("pad_token", tokenizer.pad_token());
  add("unk_token", tokenizer.unk_token());
}

std::string ChatFormatter::render(const ChatRequest& request, const RenderOptions& options) const {
  if (!request.messages.is_array()) fail(ErrorCode::invalid_argument, "chat: messages must be a list");
  Value extra = special_tokens_;
  if (!request.extra.is_null()) {
    if (!request.extra.is_object()) fail(ErrorCode::invalid_argument, "chat: extra template variables must be an object");
    for (const auto& [key, value] : request.extra.as_object()) extra.as_object().set(key, value);
  }
  return template_.render_chat(request.messages, request.tools, request.add_generation_prompt, extra, options);
}

std::vector<int32_t> ChatFormatter::encode(const ChatRequest& request, const RenderOptions& options) const {
  return tokenizer_->encode(render(request, options), /*add_special_tokens=*/false);
}

}  // namespace zaya
