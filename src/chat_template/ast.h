// chat_template/ast.h - the parsed form of a template: expressions and statements.
//
// Nodes are plain structs tagged with a kind; the renderer switches on the kind. The parser
// bounds how deep these trees get (TemplateLimits::max_depth), which also bounds the recursion
// of the renderer and of the destructors.
#pragma once

#include "chat_template/jinja_value.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace zaya::jinja {

// ---- expressions ------------------------------------------------------------------------------

enum class ExprKind : uint8_t {
  literal,    // 'text', 42, 1.5, true, none
  name,       // messages
  list,       // [a, b] and (a, b)
  dict,       // {'k': v}
  getattr,    // obj.name
  getitem,    // obj[index]
  slice,      // obj[start:stop:step]
  call,       // f(args)
  filter,     // value | name(args)
  test,       // value is name(args)
  unary,      // not x, -x, +x
  binary,     // arithmetic, and, or
  compare,    // a == b < c, a in b
  concat,     // a ~ b ~ c
  condition,  // a if c else b
};

struct Expr {
  Expr(ExprKind k, int l) : kind(k), line(l) {}
  virtual ~Expr() = default;
  ExprKind kind;
  int line;
  uint32_t height = 1;  // longest path to a leaf; the parser caps it at max_depth
};
using ExprPtr = std::unique_ptr<Expr>;

struct CallArgsExpr {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keywords;
  ExprPtr star_args;    // *args
  ExprPtr star_kwargs;  // **kwargs
};

struct LiteralExpr : Expr {
  LiteralExpr(int l, Val v) : Expr(ExprKind::literal, l), value(std::move(v)) {}
  Val value;
};

struct NameExpr : Expr {
  NameExpr(int l, std::string n) : Expr(ExprKind::name, l), name(std::move(n)) {}
  std::string name;
};

struct ListExpr : Expr {
  ListExpr(int l, bool tuple) : Expr(ExprKind::list, l), is_tuple(tuple) {}
  std::vector<ExprPtr> items;
  bool is_tuple;
};

struct DictExpr : Expr {
  explicit DictExpr(int l) : Expr(ExprKind::dict, l) {}
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
};

struct GetAttrExpr : Expr {
  GetAttrExpr(int l, ExprPtr o, std::string n) : Expr(ExprKind::getattr, l), object(std::move(o)), name(std::move(n)) {}
  ExprPtr object;
  std::string name;
};

struct GetItemExpr : Expr {
  GetItemExpr(int l, ExprPtr o, ExprPtr i) : Expr(ExprKind::getitem, l), object(std::move(o)), index(std::move(i)) {}
  ExprPtr object;
  ExprPtr index;
};

struct SliceExpr : Expr {
  SliceExpr(int l, ExprPtr o) : Expr(ExprKind::slice, l), object(std::move(o)) {}
  ExprPtr object;
  ExprPtr start, stop, step;  // each may be null
};

struct CallExpr : Expr {
  CallExpr(int l, ExprPtr c) : Expr(ExprKind::call, l), callee(std::move(c)) {}
  ExprPtr callee;
  CallArgsExpr args;
};

struct FilterExpr : Expr {
  FilterExpr(int l, ExprPtr in, std::string n) : Expr(ExprKind::filter, l), input(std::move(in)), name(std::move(n)) {}
  ExprPtr input;  // null inside {% filter %} / {% set x | f %}: the block's output is the input
  std::string name;
  CallArgsExpr args;
};

struct TestExpr : Expr {
  TestExpr(int l, ExprPtr in, std::string n) : Expr(ExprKind::test, l), input(std::move(in)), name(std::move(n)) {}
  ExprPtr input;
  std::string name;
  CallArgsExpr args;
};

enum class UnaryOp : uint8_t { logical_not, negate, plus };

struct UnaryExpr : Expr {
  UnaryExpr(int l, UnaryOp o, ExprPtr e) : Expr(ExprKind::unary, l), op(o), operand(std::move(e)) {}
  UnaryOp op;
  ExprPtr operand;
};

enum class BinaryOp : uint8_t { add, sub, mul, div, floordiv, mod, pow, logical_and, logical_or };

struct BinaryExpr : Expr {
  BinaryExpr(int l, BinaryOp o, ExprPtr a, ExprPtr b)
      : Expr(ExprKind::binary, l), op(o), left(std::move(a)), right(std::move(b)) {}
  BinaryOp op;
  ExprPtr left, right;
};

enum class CompareOp : uint8_t { eq, ne, lt, le, gt, ge, in, not_in };

struct CompareExpr : Expr {
  CompareExpr(int l, ExprPtr f) : Expr(ExprKind::compare, l), first(std::move(f)) {}
  ExprPtr first;
  std::vector<std::pair<CompareOp, ExprPtr>> rest;  // a < b < c is (a < b) and (b < c)
};

struct ConcatExpr : Expr {
  explicit ConcatExpr(int l) : Expr(ExprKind::concat, l) {}
  std::vector<ExprPtr> parts;
};

struct ConditionExpr : Expr {
  ConditionExpr(int l, ExprPtr t, ExprPtr a, ExprPtr b)
      : Expr(ExprKind::condition, l), test(std::move(t)), then(std::move(a)), otherwise(std::move(b)) {}
  ExprPtr test, then;
  ExprPtr otherwise;  // null: jinja2 yields Undefined when the test fails
};

// ---- statements -------------------------------------------------------------------------------

enum class StmtKind : uint8_t {
  text,          // literal template text
  print,         // {{ expr }}
  if_,           // {% if %}{% elif %}{% else %}{% endif %}
  for_,          // {% for %}{% else %}{% endfor %}
  set,           // {% set target = expr %}
  set_block,     // {% set target %}...{% endset %}
  macro,         // {% macro name(args) %}...{% endmacro %}
  call_block,    // {% call macro(args) %}...{% endcall %}
  filter_block,  // {% filter name %}...{% endfilter %}
  scope,         // {% with %}...{% endwith %} and HF's {% generation %}...{% endgeneration %}
  break_,
  continue_,
};

struct Stmt {
  Stmt(StmtKind k, int l) : kind(k), line(l) {}
  virtual ~Stmt() = default;
  StmtKind kind;
  int line;
};
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

// Assignment target: a name, a (possibly nested) tuple of targets, or ns.attr.
struct Target {
  enum class Kind : uint8_t { name, tuple, namespace_attr } kind = Kind::name;
  std::string name;            // the name, or the namespace variable
  std::string attr;            // for namespace_attr
  std::vector<Target> items;   // for tuple
};

struct TextStmt : Stmt {
  TextStmt(int l, std::string t) : Stmt(StmtKind::text, l), text(std::move(t)) {}
  std::string text;
};

struct PrintStmt : Stmt {
  PrintStmt(int l, ExprPtr e) : Stmt(StmtKind::print, l), expr(std::move(e)) {}
  ExprPtr expr;
};

struct IfStmt : Stmt {
  explicit IfStmt(int l) : Stmt(StmtKind::if_, l) {}
  std::vector<std::pair<ExprPtr, Body>> branches;  // if and elifs
  Body else_body;
};

struct ForStmt : Stmt {
  explicit ForStmt(int l) : Stmt(StmtKind::for_, l) {}
  Target target;
  ExprPtr iterable;
  ExprPtr filter;  // {% for x in xs if cond %}
  bool recursive = false;
  Body body;
  Body else_body;
};

struct SetStmt : Stmt {
  SetStmt(int l, Target t, ExprPtr v) : Stmt(StmtKind::set, l), target(std::move(t)), value(std::move(v)) {}
  Target target;
  ExprPtr value;
};

struct SetBlockStmt : Stmt {
  explicit SetBlockStmt(int l) : Stmt(StmtKind::set_block, l) {}
  Target target;
  ExprPtr filter;  // FilterExpr chain whose innermost input is null, or null
  Body body;
};

// A macro definition; also used for the implicit `caller` of a call block.
struct MacroDef {
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // for the last defaults.size() params
  Body body;
  bool uses_caller = false;   // the body mentions `caller`
  bool uses_varargs = false;  // ... `varargs`: extra positional arguments are accepted
  bool uses_kwargs = false;   // ... `kwargs`: unknown keyword arguments are accepted
};

struct MacroStmt : Stmt {
  explicit MacroStmt(int l) : Stmt(StmtKind::macro, l) {}
  MacroDef def;
};

struct CallBlockStmt : Stmt {
  explicit CallBlockStmt(int l) : Stmt(StmtKind::call_block, l) {}
  std::unique_ptr<CallExpr> call;
  MacroDef caller;  // name "caller"; its body is the block's body
};

struct FilterBlockStmt : Stmt {
  explicit FilterBlockStmt(int l) : Stmt(StmtKind::filter_block, l) {}
  ExprPtr filter;  // FilterExpr chain whose innermost input is null
  Body body;
};

struct ScopeStmt : Stmt {
  explicit ScopeStmt(int l) : Stmt(StmtKind::scope, l) {}
  std::vector<std::pair<Target, ExprPtr>> assignments;  // {% with a = 1, b = 2 %}
  Body body;
};

struct LoopControlStmt : Stmt {
  LoopControlStmt(int l, StmtKind k) : Stmt(k, l) {}
};

struct Program {
  Body body;
};

}  // namespace zaya::jinja
