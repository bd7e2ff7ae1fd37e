// chat_template/objects.h - the non-data objects templates handle: namespace(), the loop
// variable, macros, builtin functions, bound methods of strings/lists/dicts, cycler, joiner.
#pragma once

#include "chat_template/ast.h"
#include "chat_template/jinja_value.h"
#include "chat_template/renderer.h"

#include <string>

namespace zaya::jinja {

// namespace(...): the one mutable container, assigned with {% set ns.attr = value %}.
class NamespaceObject : public Object {
 public:
  explicit NamespaceObject(Dict attrs) : attrs_(std::move(attrs)) {}
  std::string_view type_name() const override { return "Namespace"; }
  Val get_attr(Renderer& renderer, std::string_view name) override;
  bool set_attr(std::string_view name, Val value) override;
  std::string repr() const override;
  void release() override { attrs_.clear(); }

 private:
  Dict attrs_;
  mutable bool in_repr_ = false;  // Python prints a namespace that contains itself as {...}
};

// The `loop` variable inside {% for %}.
class LoopObject : public Object {
 public:
  LoopObject(Val items, int depth0, const ForStmt* stmt, ScopePtr scope)
      : items_(std::move(items)), depth0_(depth0), stmt_(stmt), scope_(std::move(scope)) {}
  std::string_view type_name() const override { return "LoopContext"; }
  Val get_attr(Renderer& renderer, std::string_view name) override;
  bool is_callable() const override { return true; }
  // loop(children) in a recursive loop renders the loop body for `children`.
  Val call(Renderer& renderer, const CallArgs& args) override;
  std::string repr() const override;
  void release() override;

  void set_index(size_t index0) { index0_ = index0; }
  Val cycle(const CallArgs& args) const;
  Val changed(const CallArgs& args);

 private:
  size_t length() const { return items_.as_list().size(); }
  Val items_;
  size_t index0_ = 0;
  int depth0_;
  const ForStmt* stmt_;
  ScopePtr scope_;
  bool has_last_changed_ = false;
  Val last_changed_;
};

class MacroObject : public Object {
 public:
  MacroObject(const MacroDef* def, ScopePtr closure) : def_(def), closure_(std::move(closure)) {}
  std::string_view type_name() const override { return "Macro"; }
  Val get_attr(Renderer& renderer, std::string_view name) override;
  bool is_callable() const override { return true; }
  Val call(Renderer& renderer, const CallArgs& args) override;
  std::string repr() const override;
  void release() override { closure_.reset(); }

 private:
  const MacroDef* def_;
  ScopePtr closure_;
};

using BuiltinFn = Val (*)(Renderer& renderer, const CallArgs& args);

// A global function: range, namespace, dict, raise_exception, strftime_now, cycler, joiner.
class BuiltinFunction : public Object {
 public:
  BuiltinFunction(std::string_view name, BuiltinFn fn) : name_(name), fn_(fn) {}
  std::string_view type_name() const override { return "function"; }
  bool is_callable() const override { return true; }
  Val call(Renderer& renderer, const CallArgs& args) override { return fn_(renderer, args); }
  std::string repr() const override;

 private:
  std::string_view name_;
  BuiltinFn fn_;
};

// "text".startswith, messages.append, message.get...: a method bound to its receiver.
class BoundMethod : public Object {
 public:
  BoundMethod(Val receiver, std::string_view name) : receiver_(std::move(receiver)), name_(name) {}
  std::string_view type_name() const override { return "builtin_function_or_method"; }
  bool is_callable() const override { return true; }
  Val call(Renderer& renderer, const CallArgs& args) override;
  std::string repr() const override;

 private:
  Val receiver_;
  std::string_view name_;  // points into the static method-name tables
};

// Looks up a global name (range, namespace, ...); nullptr if there is none.
const Val* find_global(std::string_view name);

// Methods of str, list and dict that templates may call. has_method finds `name` among the
// receiver type's safe methods (and returns the static spelling a BoundMethod keeps). Mutating
// methods (list.append, dict.update, ...) are refused, as HF's ImmutableSandboxedEnvironment
// does: unsafe_method_message() gives the SecurityError text for them, or "" if `name` is not
// one.
bool has_method(const Val& receiver, std::string_view name, std::string_view& static_name);
std::string unsafe_method_message(const Val& receiver, std::string_view name);
Val call_method(Renderer& renderer, const Val& receiver, std::string_view name, const CallArgs& args);

}  // namespace zaya::jinja
