// chat_template/renderer.h - executes a parsed template against variables.
//
// One Renderer lives for one render() call: it owns the scopes, counts steps, bytes and
// nesting against TemplateLimits, and provides the services filters, tests and methods need
// (calling values, making strings within limits, reading the injected clock).
#pragma once

#include <zaya/chat_template.h>
#include <zaya/value.h>

#include "chat_template/ast.h"
#include "chat_template/jinja_value.h"

#include <chrono>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

namespace zaya::jinja {

struct Scope {
  std::shared_ptr<Scope> parent;
  Dict vars;
};
using ScopePtr = std::shared_ptr<Scope>;

class Renderer {
 public:
  Renderer(const Program& program, const TemplateLimits& limits, const std::tm& now);
  ~Renderer();
  Renderer(const Renderer&) = delete;
  Renderer& operator=(const Renderer&) = delete;

  // Renders the whole template; `variables` must be an object.
  std::string render(const Value& variables);

  // ---- services for filters, tests, methods and objects ----------------------------------------

  // Counts evaluation steps against max_steps and checks the time budget now and then.
  void tick(uint64_t steps = 1);
  // Counts bytes built against max_allocated_bytes and a single string against max_output_bytes.
  void charge(size_t bytes);
  void check_string_size(size_t bytes);
  Val make_string(std::string text);
  Val make_list(List items, bool is_tuple = false);
  Val make_iterator(List items, std::string_view iterator_type = "generator");
  Val make_dict(Dict items);
  // Registers an object so its references are released when the render ends.
  template <typename T, typename... Args>
  std::shared_ptr<T> make_object(Args&&... args) {
    auto object = std::make_shared<T>(std::forward<Args>(args)...);
    objects_.push_back(object);
    return object;
  }

  Val call(const Val& callee, const CallArgs& args);
  Val apply_filter(std::string_view name, const Val& input, const CallArgs& args);
  bool apply_test(std::string_view name, const Val& value, const CallArgs& args);
  const std::tm& now() const { return now_; }
  const TemplateLimits& limits() const { return limits_; }

  // Macro and recursive-loop entry points for MacroObject and LoopObject.
  Val invoke_macro(const MacroDef& def, const ScopePtr& closure, const CallArgs& args);
  Val run_loop_recursively(const ForStmt& loop, const ScopePtr& scope, const Val& iterable, int depth);

  // RAII guard for nested evaluation; throws limit_exceeded past max_depth.
  class DepthGuard {
   public:
    explicit DepthGuard(Renderer& r) : renderer_(r) {
      if (++renderer_.depth_ > renderer_.limits_.max_depth) renderer_.depth_exceeded();
    }
    ~DepthGuard() { --renderer_.depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

   private:
    Renderer& renderer_;
  };

 private:
  enum class Flow { normal, break_loop, continue_loop };

  Flow exec(const Body& body, const ScopePtr& scope, std::string& out);
  Flow exec_stmt(const Stmt& stmt, const ScopePtr& scope, std::string& out);
  [[gnu::noinline]] void exec_print(const PrintStmt& stmt, const ScopePtr& scope, std::string& out);
  [[gnu::noinline]] Flow exec_set_block(const SetBlockStmt& stmt, const ScopePtr& scope);
  [[gnu::noinline]] void exec_call_block(const CallBlockStmt& stmt, const ScopePtr& scope, std::string& out);
  [[gnu::noinline]] Flow exec_filter_block(const FilterBlockStmt& stmt, const ScopePtr& scope, std::string& out);
  [[gnu::noinline]] Flow exec_scope(const ScopeStmt& stmt, const ScopePtr& scope, std::string& out);
  Flow exec_for(const ForStmt& stmt, const ScopePtr& scope, std::string& out, int depth);
  void run_loop(const ForStmt& stmt, const ScopePtr& scope, const Val& iterable, std::string& out, int depth);
  void exec_set(const Target& target, Val value, const ScopePtr& scope);
  void assign(const Target& target, const Val& value, Scope& scope);
  std::string capture(const Body& body, const ScopePtr& scope);
  Val apply_filter_chain(const Expr& filter, const Val& content, const ScopePtr& scope);

  Val eval(const Expr& expr, const ScopePtr& scope);
  [[gnu::noinline]] Val eval_list(const ListExpr& expr, const ScopePtr& scope);
  [[gnu::noinline]] Val eval_dict(const DictExpr& expr, const ScopePtr& scope);
  [[gnu::noinline]] Val eval_getattr(const GetAttrExpr& expr, const ScopePtr& scope);
  [[gnu::noinline]] Val eval_getitem(const GetItemExpr& expr, const ScopePtr& scope);
  [[gnu::noinline]] Val eval_slice(const SliceExpr& expr, const ScopePtr& scope);
  [[gnu::noinline]] Val eval_call(const CallExpr& expr, const ScopePtr& scope);
  [[gnu::noinline]] Val eval_filter(const FilterExpr& expr, const ScopePtr& scope);
  [[gnu::noinline]] Val eval_test(const TestExpr& expr, const ScopePtr& scope);
  [[gnu::noinline]] Val eval_unary(const UnaryExpr& expr, const ScopePtr& scope);
  [[gnu::noinline]] Val eval_binary(const BinaryExpr& expr, const ScopePtr& scope);
  [[gnu::noinline]] Val eval_compare(const CompareExpr& expr, const ScopePtr& scope);
  [[gnu::noinline]] Val eval_concat(const ConcatExpr& expr, const ScopePtr& scope);
  [[gnu::noinline]] Val eval_condition(const ConditionExpr& expr, const ScopePtr& scope);
  CallArgs eval_args(const CallArgsExpr& args, const ScopePtr& scope);
  Val lookup(std::string_view name, const ScopePtr& scope);

  [[gnu::noinline]] ScopePtr bind_macro_arguments(const MacroDef& def, const ScopePtr& closure, const CallArgs& args);
  void append_output(std::string& out, std::string_view text);
  [[noreturn]] void depth_exceeded();
  [[noreturn]] void steps_exceeded();

  const Program& program_;
  const TemplateLimits& limits_;
  std::tm now_;
  std::chrono::steady_clock::time_point deadline_;
  uint64_t steps_ = 0;
  uint64_t next_clock_check_ = 0;
  size_t allocated_ = 0;
  int depth_ = 0;
  int current_line_ = 0;
  std::vector<std::shared_ptr<Object>> objects_;
};

}  // namespace zaya::jinja
