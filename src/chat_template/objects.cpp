// chat_template/objects.cpp - namespace(), loop, macro, builtin-function and bound-method
// objects.
#include "chat_template/objects.h"

#include <zaya/error.h>

#include "chat_template/operators.h"
#include "chat_template/python_text.h"

namespace zaya::jinja {

// ---- namespace ----------------------------------------------------------------------------------

Val NamespaceObject::get_attr(Renderer&, std::string_view name) {
  if (const Val* v = attrs_.find(name)) return *v;
  return Val::undefined(fmt::format("'Namespace object' has no attribute {}", python_string_repr(name)));
}

bool NamespaceObject::set_attr(std::string_view name, Val value) {
  attrs_.set(std::string(name), std::move(value));
  return true;
}

std::string NamespaceObject::repr() const {
  if (in_repr_) return "<Namespace {...}>";
  in_repr_ = true;
  struct Reset {
    bool& flag;
    ~Reset() { flag = false; }
  } reset{in_repr_};
  std::string out = "<Namespace {";
  bool first = true;
  for (const auto& [key, value] : attrs_) {
    if (!first) out += ", ";
    first = false;
    out += python_string_repr(key);
    out += ": ";
    out += jinja::repr(value);
  }
  out += "}>";
  return out;
}

// ---- loop ---------------------------------------------------------------------------------------

namespace {

// loop.cycle / loop.changed bound to their loop.
class LoopMethod : public Object {
 public:
  LoopMethod(std::shared_ptr<LoopObject> loop, bool is_cycle) : loop_(std::move(loop)), is_cycle_(is_cycle) {}
  std::string_view type_name() const override { return "method"; }
  bool is_callable() const override { return true; }
  Val call(Renderer&, const CallArgs& args) override { return is_cycle_ ? loop_->cycle(args) : loop_->changed(args); }
  std::string repr() const override { return is_cycle_ ? "<bound method LoopContext.cycle>" : "<bound method LoopContext.changed>"; }

 private:
  std::shared_ptr<LoopObject> loop_;
  bool is_cycle_;
};

}  // namespace

Val LoopObject::get_attr(Renderer& renderer, std::string_view name) {
  const size_t n = length();
  const List& items = items_.as_list();
  auto count = [](size_t v) { return Val(static_cast<int64_t>(v)); };
  if (name == "index") return count(index0_ + 1);
  if (name == "index0") return count(index0_);
  if (name == "revindex") return count(n - index0_);
  if (name == "revindex0") return count(n - index0_ - 1);
  if (name == "first") return Val(index0_ == 0);
  if (name == "last") return Val(index0_ + 1 == n);
  if (name == "length") return count(n);
  if (name == "depth") return Val(static_cast<int64_t>(depth0_) + 1);
  if (name == "depth0") return Val(static_cast<int64_t>(depth0_));
  if (name == "previtem") return index0_ > 0 ? items[index0_ - 1] : Val::undefined("there is no previous item");
  if (name == "nextitem") return index0_ + 1 < n ? items[index0_ + 1] : Val::undefined("there is no next item");
  if (name == "cycle" || name == "changed") {
    auto self = std::static_pointer_cast<LoopObject>(shared_from_this());
    return Val(renderer.make_object<LoopMethod>(std::move(self), name == "cycle"));
  }
  return Object::get_attr(renderer, name);
}

Val LoopObject::call(Renderer& renderer, const CallArgs& args) {
  if (args.positional.size() != 1 || !args.keywords.empty()) {
    fail(ErrorCode::template_error, "loop() takes exactly one argument (the items to recurse into)");
  }
  return renderer.run_loop_recursively(*stmt_, scope_, args.positional[0], depth0_ + 1);
}

Val LoopObject::cycle(const CallArgs& args) const {
  if (args.positional.empty()) fail(ErrorCode::template_error, "no items for cycling given");
  return args.positional[index0_ % args.positional.size()];
}

Val LoopObject::changed(const CallArgs& args) {
  Val current = Val::list(args.positional, true);
  if (has_last_changed_ && equals(current, last_changed_)) return Val(false);
  has_last_changed_ = true;
  last_changed_ = std::move(current);
  return Val(true);
}

std::string LoopObject::repr() const { return fmt::format("<LoopContext {}/{}>", index0_ + 1, length()); }

void LoopObject::release() {
  scope_.reset();
  last_changed_ = Val();
}

// ---- macro --------------------------------------------------------------------------------------

Val MacroObject::get_attr(Renderer& renderer, std::string_view name) {
  if (name == "name") return Val(def_->name);
  if (name == "arguments") {
    List params;
    for (const auto& p : def_->params) params.emplace_back(p);
    return renderer.make_list(std::move(params), true);
  }
  if (name == "catch_kwargs") return Val(def_->uses_kwargs);
  if (name == "catch_varargs") return Val(def_->uses_varargs);
  if (name == "caller") return Val(def_->uses_caller);
  return Object::get_attr(renderer, name);
}

Val MacroObject::call(Renderer& renderer, const CallArgs& args) {
  if (!closure_) fail(ErrorCode::template_error, "macro '{}' called after its render finished", def_->name);
  return renderer.invoke_macro(*def_, closure_, args);
}

std::string MacroObject::repr() const { return fmt::format("<Macro {}>", python_string_repr(def_->name)); }

// ---- functions and methods ------------------------------------------------------------------------

std::string BuiltinFunction::repr() const { return fmt::format("<function {}>", name_); }

Val BoundMethod::call(Renderer& renderer, const CallArgs& args) { return call_method(renderer, receiver_, name_, args); }

std::string BoundMethod::repr() const {
  return fmt::format("<built-in method {} of {}>", name_, object_type_repr(receiver_));
}

}  // namespace zaya::jinja
