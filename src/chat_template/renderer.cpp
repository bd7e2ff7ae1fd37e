// chat_template/renderer.cpp - statement execution, expression evaluation, scopes and limits.
//
// Scoping follows jinja2: `if` shares its scope; each for-loop iteration, macro call, call
// block, filter/set block and `with` gets a child scope, so a {% set %} inside them is not
// seen outside (which is why templates use namespace()). Macros close over the scope they are
// defined in, by reference, so they see later assignments to it, as in jinja2.
#include "chat_template/renderer.h"

#include <zaya/error.h>

#include "chat_template/filters.h"
#include "chat_template/jinja_tests.h"
#include "chat_template/limits.h"
#include "chat_template/objects.h"
#include "chat_template/operators.h"
#include "chat_template/raised_error.h"

namespace zaya::jinja {

Renderer::Renderer(const Program& program, const TemplateLimits& limits, const std::tm& now)
    : program_(program), limits_(limits), now_(now) {
  if (limits_.max_seconds > 0 && limits_.max_seconds < 1e9) {
    deadline_ = std::chrono::steady_clock::now() +
                std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(limits_.max_seconds));
  } else {
    deadline_ = std::chrono::steady_clock::time_point::max();
  }
}

Renderer::~Renderer() {
  // Objects can hold each other and the scopes that hold them (a macro stored in the scope it
  // closes over, a namespace stored in itself). Clearing them all first breaks every cycle;
  // objects_ keeps each alive until then, so nothing is destroyed recursively mid-way.
  for (auto& object : objects_) object->release();
  objects_.clear();
}

std::string Renderer::render(const Value& variables) {
  if (!variables.is_object()) fail(ErrorCode::invalid_argument, "template variables must be a JSON object");
  auto root = std::make_shared<Scope>();
  for (const auto& [name, value] : variables.as_object()) root->vars.set(name, from_value(value));
  std::string out;
  ReprSizeLimit repr_limit(limits_.max_output_bytes);
  try {
    exec(program_.body, root, out);
  } catch (const RaisedError& e) {
    throw Error(ErrorCode::template_error, e.what());
  } catch (const Error& e) {
    if (e.code() == ErrorCode::template_error) {
      throw Error(ErrorCode::template_error, fmt::format("line {}: {}", current_line_, e.what()));
    }
    throw;
  }
  return out;
}

// ---- limits -------------------------------------------------------------------------------------

void Renderer::tick(uint64_t steps) {
  steps_ += steps;
  if (steps_ > limits_.max_steps) steps_exceeded();
  if (steps_ >= next_clock_check_) {
    next_clock_check_ = steps_ + 1024;
    if (std::chrono::steady_clock::now() > deadline_) {
      fail(ErrorCode::limit_exceeded, "rendering the chat template took longer than {} s (line {})",
           limits_.max_seconds, current_line_);
    }
  }
}

void Renderer::steps_exceeded() {
  fail(ErrorCode::limit_exceeded, "rendering the chat template took more than {} steps (line {})", limits_.max_steps,
       current_line_);
}

void Renderer::depth_exceeded() {
  fail(ErrorCode::limit_exceeded, "chat template nests deeper than {} levels while rendering (line {})",
       limits_.max_depth, current_line_);
}

void Renderer::charge(size_t bytes) {
  allocated_ += bytes;
  if (allocated_ > limits_.max_allocated_bytes) {
    fail(ErrorCode::limit_exceeded, "chat template built more than {} bytes of values (line {})",
         limits_.max_allocated_bytes, current_line_);
  }
}

void Renderer::check_string_size(size_t bytes) {
  if (bytes > limits_.max_output_bytes) {
    fail(ErrorCode::limit_exceeded, "chat template built a string of {} bytes, more than max_output_bytes {} (line {})",
         bytes, limits_.max_output_bytes, current_line_);
  }
}

Val Renderer::make_string(std::string text) {
  check_string_size(text.size());
  charge(text.size());
  return Val(std::move(text));
}

Val Renderer::make_list(List items, bool is_tuple) {
  charge(items.size() * sizeof(Val));
  tick(items.size() / 16);
  return Val::list(std::move(items), is_tuple);
}

Val Renderer::make_iterator(List items, std::string_view iterator_type) {
  charge(items.size() * sizeof(Val));
  tick(items.size() / 16);
  return Val::iterator(std::move(items), iterator_type);
}

Val Renderer::make_dict(Dict items) {
  charge(items.size() * (sizeof(Val) + 32));
  tick(items.size() / 16);
  return Val::dict(std::move(items));
}

void Renderer::append_output(std::string& out, std::string_view text) {
  if (out.size() + text.size() > limits_.max_output_bytes) {
    fail(ErrorCode::limit_exceeded, "rendered chat template exceeds max_output_bytes {} (line {})",
         limits_.max_output_bytes, current_line_);
  }
  out.append(text);
}

// ---- statements ---------------------------------------------------------------------------------

Renderer::Flow Renderer::exec(const Body& body, const ScopePtr& scope, std::string& out) {
  for (const StmtPtr& stmt : body) {
    Flow flow = exec_stmt(*stmt, scope, out);
    if (flow != Flow::normal) return flow;
  }
  return Flow::normal;
}

std::string Renderer::capture(const Body& body, const ScopePtr& scope) {
  std::string out;
  exec(body, scope, out);
  return out;
}

// Like eval(), exec_stmt() only dispatches; the statements that hold values or buffers run in
// their own functions so that nesting blocks costs little native stack.
Renderer::Flow Renderer::exec_stmt(const Stmt& stmt, const ScopePtr& scope, std::string& out) {
  tick();
  current_line_ = stmt.line;
  switch (stmt.kind) {
    case StmtKind::text: append_output(out, static_cast<const TextStmt&>(stmt).text); return Flow::normal;
    case StmtKind::print: exec_print(static_cast<const PrintStmt&>(stmt), scope, out); return Flow::normal;
    case StmtKind::if_: {
      DepthGuard guard(*this);
      const auto& s = static_cast<const IfStmt&>(stmt);
      for (const auto& [test, body] : s.branches) {
        if (truthy(eval(*test, scope))) return exec(body, scope, out);
      }
      return exec(s.else_body, scope, out);
    }
    case StmtKind::for_: {
      DepthGuard guard(*this);
      return exec_for(static_cast<const ForStmt&>(stmt), scope, out, 0);
    }
    case StmtKind::set: {
      const auto& s = static_cast<const SetStmt&>(stmt);
      exec_set(s.target, eval(*s.value, scope), scope);
      return Flow::normal;
    }
    case StmtKind::set_block: {
      DepthGuard guard(*this);
      return exec_set_block(static_cast<const SetBlockStmt&>(stmt), scope);
    }
    case StmtKind::macro: {
      const auto& s = static_cast<const MacroStmt&>(stmt);
      scope->vars.set(s.def.name, Val(std::shared_ptr<Object>(make_object<MacroObject>(&s.def, scope))));
      return Flow::normal;
    }
    case StmtKind::call_block: {
      DepthGuard guard(*this);
      exec_call_block(static_cast<const CallBlockStmt&>(stmt), scope, out);
      return Flow::normal;
    }
    case StmtKind::filter_block: {
      DepthGuard guard(*this);
      return exec_filter_block(static_cast<const FilterBlockStmt&>(stmt), scope, out);
    }
    case StmtKind::scope: {
      DepthGuard guard(*this);
      return exec_scope(static_cast<const ScopeStmt&>(stmt), scope, out);
    }
    case StmtKind::break_: return Flow::break_loop;
    case StmtKind::continue_: return Flow::continue_loop;
  }
  return Flow::normal;
}

void Renderer::exec_print(const PrintStmt& s, const ScopePtr& scope, std::string& out) {
  Val v = eval(*s.expr, scope);
  if (v.is_string()) {
    append_output(out, v.as_string());
  } else {
    append_output(out, to_str(v));
  }
}

Renderer::Flow Renderer::exec_set_block(const SetBlockStmt& s, const ScopePtr& scope) {
  auto inner = std::make_shared<Scope>();
  inner->parent = scope;
  std::string content;
  Flow flow = exec(s.body, inner, content);
  if (flow != Flow::normal) return flow;
  Val value = make_string(std::move(content));
  if (s.filter) value = apply_filter_chain(*s.filter, value, scope);
  exec_set(s.target, std::move(value), scope);
  return Flow::normal;
}

void Renderer::exec_call_block(const CallBlockStmt& s, const ScopePtr& scope, std::string& out) {
  Val callee = eval(*s.call->callee, scope);
  CallArgs args = eval_args(s.call->args, scope);
  args.keywords.emplace_back("caller", Val(std::shared_ptr<Object>(make_object<MacroObject>(&s.caller, scope))));
  Val result = call(callee, args);
  append_output(out, to_str(result));
}

Renderer::Flow Renderer::exec_filter_block(const FilterBlockStmt& s, const ScopePtr& scope, std::string& out) {
  auto inner = std::make_shared<Scope>();
  inner->parent = scope;
  std::string content;
  Flow flow = exec(s.body, inner, content);
  if (flow != Flow::normal) return flow;
  Val result = apply_filter_chain(*s.filter, make_string(std::move(content)), scope);
  append_output(out, to_str(result));
  return Flow::normal;
}

Renderer::Flow Renderer::exec_scope(const ScopeStmt& s, const ScopePtr& scope, std::string& out) {
  auto inner = std::make_shared<Scope>();
  inner->parent = scope;
  // jinja2 evaluates every value in the enclosing scope before assigning any of them.
  std::vector<Val> values;
  values.reserve(s.assignments.size());
  for (const auto& assignment : s.assignments) values.push_back(eval(*assignment.second, scope));
  for (size_t i = 0; i < values.size(); ++i) assign(s.assignments[i].first, values[i], *inner);
  return exec(s.body, inner, out);
}

Renderer::Flow Renderer::exec_for(const ForStmt& stmt, const ScopePtr& scope, std::string& out, int depth) {
  run_loop(stmt, scope, eval(*stmt.iterable, scope), out, depth);
  return Flow::normal;  // break/continue end here
}

void Renderer::run_loop(const ForStmt& stmt, const ScopePtr& scope, const Val& iterable, std::string& out, int depth) {
  Val items;
  if (iterable.is_list() && !iterable.is_iterator() && !stmt.filter) {
    items = iterable;  // share the list; no copy
  } else {
    List all = iterate(iterable);
    if (stmt.filter) {
      // jinja2 applies the filter before the loop sees the items, so loop.length and
      // loop.last count only the kept ones.
      List kept;
      for (Val& item : all) {
        tick();
        auto probe = std::make_shared<Scope>();
        probe->parent = scope;
        assign(stmt.target, item, *probe);
        if (truthy(eval(*stmt.filter, probe))) kept.push_back(std::move(item));
      }
      all = std::move(kept);
    }
    items = make_list(std::move(all));
  }
  const List& list = items.as_list();
  if (list.empty()) {
    auto inner = std::make_shared<Scope>();
    inner->parent = scope;
    exec(stmt.else_body, inner, out);
    return;
  }
  auto loop = make_object<LoopObject>(items, depth, &stmt, scope);
  Val loop_value{std::shared_ptr<Object>(loop)};
  for (size_t i = 0; i < list.size(); ++i) {
    tick();
    loop->set_index(i);
    auto iteration = std::make_shared<Scope>();
    iteration->parent = scope;
    assign(stmt.target, list[i], *iteration);
    iteration->vars.set("loop", loop_value);
    if (exec(stmt.body, iteration, out) == Flow::break_loop) break;
  }
}

Val Renderer::run_loop_recursively(const ForStmt& loop, const ScopePtr& scope, const Val& iterable, int depth) {
  DepthGuard guard(*this);
  if (!loop.recursive) fail(ErrorCode::template_error, "the loop variable can only be called in a recursive loop");
  std::string out;
  run_loop(loop, scope, iterable, out, depth);
  return make_string(std::move(out));
}

void Renderer::exec_set(const Target& target, Val value, const ScopePtr& scope) {
  if (target.kind == Target::Kind::namespace_attr) {
    Val ns = lookup(target.name, scope);
    if (!ns.is_object() || !ns.as_object().set_attr(target.attr, std::move(value))) {
      fail(ErrorCode::template_error, "cannot assign attribute on non-namespace object");
    }
    return;
  }
  assign(target, value, *scope);
}

void Renderer::assign(const Target& target, const Val& value, Scope& scope) {
  switch (target.kind) {
    case Target::Kind::name: scope.vars.set(target.name, value); return;
    case Target::Kind::namespace_attr: fail(ErrorCode::template_error, "cannot assign to a namespace attribute here");
    case Target::Kind::tuple: {
      List items = iterate(value);
      if (items.size() > target.items.size()) {
        fail(ErrorCode::template_error, "too many values to unpack (expected {})", target.items.size());
      }
      if (items.size() < target.items.size()) {
        fail(ErrorCode::template_error, "not enough values to unpack (expected {}, got {})", target.items.size(),
             items.size());
      }
      for (size_t i = 0; i < items.size(); ++i) assign(target.items[i], items[i], scope);
      return;
    }
  }
}

Val Renderer::apply_filter_chain(const Expr& filter, const Val& content, const ScopePtr& scope) {
  const auto& f = static_cast<const FilterExpr&>(filter);
  Val input = f.input ? apply_filter_chain(*f.input, content, scope) : content;
  CallArgs args = eval_args(f.args, scope);
  return apply_filter(f.name, input, args);
}

// ---- expressions --------------------------------------------------------------------------------

Val Renderer::lookup(std::string_view name, const ScopePtr& scope) {
  for (const Scope* s = scope.get(); s; s = s->parent.get()) {
    if (const Val* v = s->vars.find(name)) return *v;
  }
  if (const Val* global = find_global(name)) return *global;
  return Val::undefined(fmt::format("'{}' is undefined", name));
}

// eval() only dispatches: each kind is evaluated in its own (not inlined) function, so that the
// frame every level of expression nesting puts on the native stack stays small.
Val Renderer::eval(const Expr& expr, const ScopePtr& scope) {
  tick();
  DepthGuard guard(*this);
  switch (expr.kind) {
    case ExprKind::literal: return static_cast<const LiteralExpr&>(expr).value;
    case ExprKind::name: return lookup(static_cast<const NameExpr&>(expr).name, scope);
    case ExprKind::list: return eval_list(static_cast<const ListExpr&>(expr), scope);
    case ExprKind::dict: return eval_dict(static_cast<const DictExpr&>(expr), scope);
    case ExprKind::getattr: return eval_getattr(static_cast<const GetAttrExpr&>(expr), scope);
    case ExprKind::getitem: return eval_getitem(static_cast<const GetItemExpr&>(expr), scope);
    case ExprKind::slice: return eval_slice(static_cast<const SliceExpr&>(expr), scope);
    case ExprKind::call: return eval_call(static_cast<const CallExpr&>(expr), scope);
    case ExprKind::filter: return eval_filter(static_cast<const FilterExpr&>(expr), scope);
    case ExprKind::test: return eval_test(static_cast<const TestExpr&>(expr), scope);
    case ExprKind::unary: return eval_unary(static_cast<const UnaryExpr&>(expr), scope);
    case ExprKind::binary: return eval_binary(static_cast<const BinaryExpr&>(expr), scope);
    case ExprKind::compare: return eval_compare(static_cast<const CompareExpr&>(expr), scope);
    case ExprKind::concat: return eval_concat(static_cast<const ConcatExpr&>(expr), scope);
    case ExprKind::condition: return eval_condition(static_cast<const ConditionExpr&>(expr), scope);
  }
  return Val();
}

Val Renderer::eval_list(const ListExpr& e, const ScopePtr& scope) {
  List items;
  items.reserve(e.items.size());
  for (const auto& item : e.items) items.push_back(eval(*item, scope));
  return make_list(std::move(items), e.is_tuple);
}

Val Renderer::eval_dict(const DictExpr& e, const ScopePtr& scope) {
  Dict items;
  for (const auto& [key_expr, value_expr] : e.items) {
    Val key = eval(*key_expr, scope);
    if (!key.is_string()) {
      current_line_ = e.line;
      fail(ErrorCode::template_error, "dict keys must be strings in chat templates (got {})", type_name(key));
    }
    items.set(key.as_string(), eval(*value_expr, scope));
  }
  return make_dict(std::move(items));
}

Val Renderer::eval_getattr(const GetAttrExpr& e, const ScopePtr& scope) {
  Val object = eval(*e.object, scope);
  current_line_ = e.line;
  return get_attr(*this, object, e.name);
}

Val Renderer::eval_getitem(const GetItemExpr& e, const ScopePtr& scope) {
  Val object = eval(*e.object, scope);
  Val key = eval(*e.index, scope);
  current_line_ = e.line;
  return get_item(*this, object, key);
}

Val Renderer::eval_slice(const SliceExpr& e, const ScopePtr& scope) {
  Val object = eval(*e.object, scope);
  std::optional<Val> start, stop, step;
  if (e.start) start = eval(*e.start, scope);
  if (e.stop) stop = eval(*e.stop, scope);
  if (e.step) step = eval(*e.step, scope);
  current_line_ = e.line;
  return slice_value(*this, object, start ? &*start : nullptr, stop ? &*stop : nullptr, step ? &*step : nullptr);
}

Val Renderer::eval_filter(const FilterExpr& e, const ScopePtr& scope) {
  Val input = e.input ? eval(*e.input, scope) : Val();
  CallArgs args = eval_args(e.args, scope);
  current_line_ = e.line;
  return apply_filter(e.name, input, args);
}

Val Renderer::eval_test(const TestExpr& e, const ScopePtr& scope) {
  Val input = eval(*e.input, scope);
  CallArgs args = eval_args(e.args, scope);
  current_line_ = e.line;
  return Val(apply_test(e.name, input, args));
}

Val Renderer::eval_unary(const UnaryExpr& e, const ScopePtr& scope) {
  Val operand = eval(*e.operand, scope);
  if (e.op == UnaryOp::logical_not) return Val(!truthy(operand));
  current_line_ = e.line;
  return unary_op(e.op, operand);
}

Val Renderer::eval_binary(const BinaryExpr& e, const ScopePtr& scope) {
  Val left = eval(*e.left, scope);
  if (e.op == BinaryOp::logical_and) return truthy(left) ? eval(*e.right, scope) : left;
  if (e.op == BinaryOp::logical_or) return truthy(left) ? left : eval(*e.right, scope);
  Val right = eval(*e.right, scope);
  current_line_ = e.line;
  return binary_op(*this, e.op, left, right);
}

Val Renderer::eval_concat(const ConcatExpr& e, const ScopePtr& scope) {
  std::string text;
  for (const auto& part : e.parts) {
    Val v = eval(*part, scope);
    append_str(text, v);
    check_string_size(text.size());
  }
  return make_string(std::move(text));
}

Val Renderer::eval_condition(const ConditionExpr& e, const ScopePtr& scope) {
  if (truthy(eval(*e.test, scope))) return eval(*e.then, scope);
  if (e.otherwise) return eval(*e.otherwise, scope);
  return Val::undefined(fmt::format(
      "the inline if-expression on line {} evaluated to false and no else section was defined.", e.line));
}

Val Renderer::eval_compare(const CompareExpr& expr, const ScopePtr& scope) {
  Val left = eval(*expr.first, scope);
  for (const auto& [op, operand] : expr.rest) {
    Val right = eval(*operand, scope);
    current_line_ = expr.line;
    tick(comparison_cost(left) + comparison_cost(right));
    if (!compare_op(op, left, right)) return Val(false);
    left = std::move(right);
  }
  return Val(true);
}

CallArgs Renderer::eval_args(const CallArgsExpr& args, const ScopePtr& scope) {
  CallArgs out;
  out.positional.reserve(args.positional.size());
  for (const auto& arg : args.positional) out.positional.push_back(eval(*arg, scope));
  if (args.star_args) {
    Val extra = eval(*args.star_args, scope);
    for (Val& v : iterate(extra)) out.positional.push_back(std::move(v));
  }
  for (const auto& [name, arg] : args.keywords) out.keywords.emplace_back(name, eval(*arg, scope));
  if (args.star_kwargs) {
    Val extra = eval(*args.star_kwargs, scope);
    if (!extra.is_dict()) fail(ErrorCode::template_error, "argument after ** must be a mapping, not {}", type_name(extra));
    for (const auto& [name, v] : extra.as_dict()) out.keywords.emplace_back(name, v);
  }
  return out;
}

Val Renderer::eval_call(const CallExpr& expr, const ScopePtr& scope) {
  Val callee = eval(*expr.callee, scope);
  CallArgs args = eval_args(expr.args, scope);
  current_line_ = expr.line;
  return call(callee, args);
}

Val Renderer::call(const Val& callee, const CallArgs& args) {
  tick();
  if (callee.is_undefined()) fail_undefined(callee);
  if (callee.is_object() && callee.as_object().is_callable()) {
    DepthGuard guard(*this);
    return callee.as_object().call(*this, args);
  }
  fail(ErrorCode::template_error, "'{}' object is not callable", type_name(callee));
}

Val Renderer::apply_filter(std::string_view name, const Val& input, const CallArgs& args) {
  tick();
  FilterFn fn = find_filter(name);
  if (!fn) fail(ErrorCode::template_error, "No filter named '{}'.", name);
  return fn(*this, input, args);
}

bool Renderer::apply_test(std::string_view name, const Val& value, const CallArgs& args) {
  tick(1 + comparison_cost(value));
  for (const Val& arg : args.positional) tick(comparison_cost(arg));
  TestFn fn = find_test(name);
  if (!fn) fail(ErrorCode::template_error, "No test named '{}'.", name);
  return fn(*this, value, args);
}

// ---- macros -------------------------------------------------------------------------------------

Val Renderer::invoke_macro(const MacroDef& def, const ScopePtr& closure, const CallArgs& args) {
  DepthGuard guard(*this);
  tick();
  // Binding runs in its own frame, which is gone again while the body (and any recursion in it)
  // executes.
  ScopePtr frame = bind_macro_arguments(def, closure, args);
  std::string out;
  exec(def.body, frame, out);
  return make_string(std::move(out));
}

ScopePtr Renderer::bind_macro_arguments(const MacroDef& def, const ScopePtr& closure, const CallArgs& args) {
  auto frame = std::make_shared<Scope>();
  frame->parent = closure;
  const size_t param_count = def.params.size();
  std::vector<bool> keyword_used(args.keywords.size(), false);
  auto take_keyword = [&](std::string_view name) -> const Val* {
    for (size_t k = 0; k < args.keywords.size(); ++k) {
      if (!keyword_used[k] && args.keywords[k].first == name) {
        keyword_used[k] = true;
        return &args.keywords[k].second;
      }
    }
    return nullptr;
  };
  const size_t first_default = param_count - def.defaults.size();
  for (size_t i = 0; i < param_count; ++i) {
    const std::string& param = def.params[i];
    if (i < args.positional.size()) {
      frame->vars.set(param, args.positional[i]);
    } else if (const Val* kw = take_keyword(param)) {
      frame->vars.set(param, *kw);
    } else if (i >= first_default) {
      frame->vars.set(param, eval(*def.defaults[i - first_default], frame));
    } else {
      frame->vars.set(param, Val::undefined(fmt::format("parameter '{}' was not provided", param)));
    }
  }
  if (def.uses_caller) {
    const Val* caller = take_keyword("caller");
    frame->vars.set("caller", caller ? *caller : Val::undefined("No caller defined"));
  }
  Dict extra_keywords;
  for (size_t k = 0; k < args.keywords.size(); ++k) {
    if (keyword_used[k]) continue;
    if (!def.uses_kwargs) {
      if (args.keywords[k].first == "caller") {
        fail(ErrorCode::template_error, "macro '{}' was invoked with two values for the special caller argument", def.name);
      }
      fail(ErrorCode::template_error, "macro '{}' takes no keyword argument '{}'", def.name, args.keywords[k].first);
    }
    extra_keywords.set(args.keywords[k].first, args.keywords[k].second);
  }
  if (def.uses_kwargs) frame->vars.set("kwargs", make_dict(std::move(extra_keywords)));
  if (def.uses_varargs) {
    List extra;
    for (size_t i = param_count; i < args.positional.size(); ++i) extra.push_back(args.positional[i]);
    frame->vars.set("varargs", make_list(std::move(extra), /*is_tuple=*/true));
  } else if (args.positional.size() > param_count) {
    fail(ErrorCode::template_error, "macro '{}' takes not more than {} argument(s)", def.name, param_count);
  }
  return frame;
}

}  // namespace zaya::jinja
