// chat_template/chat_template.cpp - the public ChatTemplate API over the parser and renderer.
#include <zaya/chat_template.h>
#include <zaya/error.h>

#include "chat_template/parser.h"
#include "chat_template/renderer.h"

#include <chrono>
#include <new>

namespace zaya {

struct ChatTemplate::Impl {
  TemplateLimits limits;
  jinja::Program program;
};

ChatTemplate::ChatTemplate(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
ChatTemplate::~ChatTemplate() = default;

ChatTemplate ChatTemplate::parse(std::string_view source, TemplateLimits limits) {
  if (limits.max_depth < 1) fail(ErrorCode::invalid_argument, "TemplateLimits::max_depth must be at least 1");
  auto impl = std::make_shared<Impl>();
  impl->limits = limits;
  try {
    impl->program = jinja::parse_template(source, limits.max_depth);
  } catch (const std::bad_alloc&) {
    fail(ErrorCode::out_of_memory, "out of memory while parsing the chat template");
  }
  return ChatTemplate(std::move(impl));
}

const TemplateLimits& ChatTemplate::limits() const { return impl_->limits; }

namespace {

std::tm current_local_time() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  localtime_r(&now, &tm);
  return tm;
}

}  // namespace

std::string ChatTemplate::render(const Value& variables, const RenderOptions& options) const {
  std::tm now = options.now ? *options.now : current_local_time();
  try {
    jinja::Renderer renderer(impl_->program, impl_->limits, now);
    return renderer.render(variables);
  } catch (const std::bad_alloc&) {
    fail(ErrorCode::out_of_memory, "out of memory while rendering the chat template");
  }
}

std::string ChatTemplate::render_chat(const Value& messages, const Value& tools, bool add_generation_prompt,
                                      const Value& extra, const RenderOptions& options) const {
  if (!extra.is_object() && !extra.is_null()) fail(ErrorCode::invalid_argument, "extra template variables must be an object");
  Value variables = extra.is_null() ? Value::object() : extra;
  variables["messages"] = messages;
  variables["tools"] = tools;
  if (!variables.find("documents")) variables["documents"] = Value();
  variables["add_generation_prompt"] = add_generation_prompt;
  return render(variables, options);
}

}  // namespace zaya
