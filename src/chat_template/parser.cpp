// chat_template/parser.cpp - a recursive-descent parser mirroring jinja2/parser.py, so that
// precedence and the odd corners (tests binding tighter than `not`, `**` being left
// associative, conditional expressions without else) behave the same.
#include "chat_template/parser.h"

#include <zaya/error.h>

#include <algorithm>
#include <initializer_list>

namespace zaya::jinja {

namespace {

class Parser {
 public:
  Parser(std::vector<Token> tokens, int max_depth) : tokens_(std::move(tokens)), max_depth_(max_depth) {}

  Program parse() {
    Program program;
    program.body = subparse({});
    if (current().type != TokenType::eof) fail_here(fmt::format("unexpected {}", describe_current()));
    return program;
  }

 private:
  // ---- token stream ----------------------------------------------------------------------------

  const Token& current() const { return tokens_[pos_]; }
  const Token& look() const { return tokens_[std::min(pos_ + 1, tokens_.size() - 1)]; }
  const Token& next() {
    const Token& t = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  bool is_name(std::string_view value) const { return current().type == TokenType::name && current().text == value; }
  bool skip_name(std::string_view value) {
    if (!is_name(value)) return false;
    next();
    return true;
  }
  bool skip(TokenType type) {
    if (current().type != type) return false;
    next();
    return true;
  }
  std::string describe_current() const {
    const Token& t = current();
    if (t.type == TokenType::name) return fmt::format("'{}'", t.text);
    if (t.type == TokenType::data) return "template data";
    return describe(t.type);
  }
  const Token& expect(TokenType type) {
    if (current().type != type) {
      if (current().type == TokenType::eof) fail_here(fmt::format("unexpected end of template, expected {}", describe(type)));
      fail_here(fmt::format("expected token {}, got {}", describe(type), describe_current()));
    }
    return next();
  }
  void expect_name(std::string_view value) {
    if (!is_name(value)) fail_here(fmt::format("expected '{}', got {}", value, describe_current()));
    next();
  }

  [[noreturn]] void fail_here(const std::string& message) const {
    fail(ErrorCode::template_error, "template syntax error at line {}: {}", current().line, message);
  }

  // Guards every recursive production: hostile templates like "((((((..." or thousands of
  // nested blocks must fail cleanly instead of exhausting the native stack.
  class DepthGuard {
   public:
    explicit DepthGuard(Parser& p) : parser_(p) {
      if (++parser_.depth_ > parser_.max_depth_) {
        fail(ErrorCode::limit_exceeded, "template nests deeper than the limit of {} (line {})", parser_.max_depth_,
             parser_.current().line);
      }
    }
    ~DepthGuard() { --parser_.depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

   private:
    Parser& parser_;
  };

  // Records the height of a freshly built node, so that long operator chains (which the parser
  // builds iteratively) cannot produce trees too deep to evaluate or destroy recursively.
  template <typename Node>
  std::unique_ptr<Node> finish(std::unique_ptr<Node> node, std::initializer_list<const Expr*> children) {
    uint32_t height = 0;
    for (const Expr* child : children)
      if (child) height = std::max(height, child->height);
    set_height(*node, height + 1);
    return node;
  }
  void set_height(Expr& node, uint32_t height) {
    if (height > static_cast<uint32_t>(max_depth_)) {
      fail(ErrorCode::limit_exceeded, "expression nests deeper than the limit of {} (line {})", max_depth_, node.line);
    }
    node.height = height;
  }
  uint32_t args_height(const CallArgsExpr& args) const {
    uint32_t h = 0;
    for (const auto& a : args.positional) h = std::max(h, a->height);
    for (const auto& [k, a] : args.keywords) h = std::max(h, a->height);
    if (args.star_args) h = std::max(h, args.star_args->height);
    if (args.star_kwargs) h = std::max(h, args.star_kwargs->height);
    return h;
  }

  // ---- statements --------------------------------------------------------------------------------

  // Parses template content until a block whose first name is one of `end_names` (left as the
  // current token) or the end of the template.
  Body subparse(std::initializer_list<std::string_view> end_names) {
    Body body;
    while (current().type != TokenType::eof) {
      const Token& token = current();
      if (token.type == TokenType::data) {
        body.push_back(std::make_unique<TextStmt>(token.line, token.text));
        next();
      } else if (token.type == TokenType::variable_begin) {
        int line = token.line;
        next();
        ExprPtr expr = parse_tuple(true, {});
        expect(TokenType::variable_end);
        body.push_back(std::make_unique<PrintStmt>(line, std::move(expr)));
      } else if (token.type == TokenType::block_begin) {
        next();
        if (current().type == TokenType::name &&
            std::find(end_names.begin(), end_names.end(), current().text) != end_names.end()) {
          return body;
        }
        parse_statement(body);
        expect(TokenType::block_end);
      } else {
        fail_here(fmt::format("unexpected {}", describe_current()));
      }
    }
    if (end_names.size() > 0) {
      std::string expected;
      for (auto name : end_names) expected += (expected.empty() ? "'" : " or '") + std::string(name) + "'";
      fail_here(fmt::format("unexpected end of template, expected {}", expected));
    }
    return body;
  }

  // parse_statements: the rest of the opening tag, the body, and (with drop_needle) the end name.
  Body parse_statements(std::initializer_list<std::string_view> end_names, bool drop_needle) {
    skip(TokenType::colon);
    expect(TokenType::block_end);
    Body body = subparse(end_names);
    if (drop_needle) next();
    return body;
  }

  void parse_statement(Body& body) {
    DepthGuard guard(*this);
    const Token& token = current();
    if (token.type != TokenType::name) fail_here("tag name expected");
    const std::string& tag = token.text;
    int line = token.line;
    if (tag == "if") return body.push_back(parse_if());
    if (tag == "for") return body.push_back(parse_for());
    if (tag == "set") return body.push_back(parse_set());
    if (tag == "macro") return body.push_back(parse_macro());
    if (tag == "call") return body.push_back(parse_call_block());
    if (tag == "filter") return body.push_back(parse_filter_block());
    if (tag == "with") return body.push_back(parse_with());
    if (tag == "generation") {
      // HF's AssistantTracker extension: renders its body unchanged (in a new scope).
      next();
      auto node = std::make_unique<ScopeStmt>(line);
      node->body = parse_statements({"endgeneration"}, true);
      return body.push_back(std::move(node));
    }
    if (tag == "print") {
      next();
      bool first = true;
      while (current().type != TokenType::block_end) {
        if (!first) expect(TokenType::comma);
        first = false;
        body.push_back(std::make_unique<PrintStmt>(line, parse_expression(true)));
      }
      return;
    }
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) fail_here(fmt::format("'{}' outside loop", tag));
      next();
      return body.push_back(std::make_unique<LoopControlStmt>(line, tag == "break" ? StmtKind::break_ : StmtKind::continue_));
    }
    if (tag == "block" || tag == "extends" || tag == "include" || tag == "import" || tag == "from" ||
        tag == "autoescape" || tag == "do") {
      fail_here(fmt::format("the '{}' tag is not supported in chat templates", tag));
    }
    fail_here(fmt::format("encountered unknown tag '{}'", tag));
  }

  StmtPtr parse_if() {
    auto node = std::make_unique<IfStmt>(current().line);
    next();  // if
    while (true) {
      ExprPtr test = parse_tuple(false, {});
      Body branch = parse_statements({"elif", "else", "endif"}, false);
      node->branches.emplace_back(std::move(test), std::move(branch));
      const Token& token = next();
      if (token.text == "elif") continue;
      if (token.text == "else") node->else_body = parse_statements({"endif"}, true);
      break;
    }
    return node;
  }

  StmtPtr parse_for() {
    auto node = std::make_unique<ForStmt>(current().line);
    next();  // for
    node->target = parse_assign_target(/*with_namespace=*/false, {"in"});
    expect_name("in");
    node->iterable = parse_tuple(false, {"recursive"});
    if (skip_name("if")) node->filter = parse_expression(true);
    node->recursive = skip_name("recursive");
    ++loop_depth_;
    node->body = parse_statements({"endfor", "else"}, false);
    --loop_depth_;
    if (next().text == "else") node->else_body = parse_statements({"endfor"}, true);
    return node;
  }

  StmtPtr parse_set() {
    int line = current().line;
    next();  // set
    Target target = parse_assign_target(/*with_namespace=*/true, {});
    if (skip(TokenType::assign)) {
      ExprPtr value = parse_tuple(true, {});
      return std::make_unique<SetStmt>(line, std::move(target), std::move(value));
    }
    auto node = std::make_unique<SetBlockStmt>(line);
    node->target = std::move(target);
    if (current().type == TokenType::pipe) node->filter = parse_filter(nullptr, false);
    node->body = parse_statements({"endset"}, true);
    return node;
  }

  void parse_signature(MacroDef& def) {
    expect(TokenType::lparen);
    while (current().type != TokenType::rparen) {
      if (!def.params.empty()) expect(TokenType::comma);
      const Token& name = expect(TokenType::name);
      def.params.push_back(name.text);
      if (skip(TokenType::assign)) {
        def.defaults.push_back(parse_expression(true));
      } else if (!def.defaults.empty()) {
        fail_here("non-default argument follows default argument");
      }
    }
    expect(TokenType::rparen);
  }

  // Parses a macro-like body with loop controls reset and names like `caller` recorded.
  Body parse_macro_body(MacroDef& def, std::string_view end_name) {
    int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;
    macro_stack_.push_back(&def);
    Body body = parse_statements({end_name}, true);
    macro_stack_.pop_back();
    loop_depth_ = saved_loop_depth;
    return body;
  }

  StmtPtr parse_macro() {
    auto node = std::make_unique<MacroStmt>(current().line);
    next();  // macro
    node->def.name = expect(TokenType::name).text;
    parse_signature(node->def);
    node->def.body = parse_macro_body(node->def, "endmacro");
    return node;
  }

  StmtPtr parse_call_block() {
    auto node = std::make_unique<CallBlockStmt>(current().line);
    next();  // call
    node->caller.name = "caller";
    if (current().type == TokenType::lparen) parse_signature(node->caller);
    ExprPtr call = parse_expression(true);
    if (call->kind != ExprKind::call) fail_here("expected call");
    node->call.reset(static_cast<CallExpr*>(call.release()));
    node->caller.body = parse_macro_body(node->caller, "endcall");
    return node;
  }

  StmtPtr parse_filter_block() {
    auto node = std::make_unique<FilterBlockStmt>(current().line);
    next();  // filter
    node->filter = parse_filter(nullptr, true);
    node->body = parse_statements({"endfilter"}, true);
    return node;
  }

  StmtPtr parse_with() {
    auto node = std::make_unique<ScopeStmt>(current().line);
    next();  // with
    while (current().type != TokenType::block_end) {
      if (!node->assignments.empty()) expect(TokenType::comma);
      Target target = parse_assign_target(false, {});
      expect(TokenType::assign);
      node->assignments.emplace_back(std::move(target), parse_expression(true));
    }
    node->body = parse_statements({"endwith"}, true);
    return node;
  }

  // Assignment targets: a name, a tuple of names ("k, v" or "(k, v)"), or ns.attr for set.
  Target parse_assign_target(bool with_namespace, std::initializer_list<std::string_view> extra_end) {
    if (with_namespace && current().type == TokenType::name && look().type == TokenType::dot) {
      Target t;
      t.kind = Target::Kind::namespace_attr;
      t.name = next().text;
      next();  // dot
      t.attr = expect(TokenType::name).text;
      return t;
    }
    Target tuple;
    tuple.kind = Target::Kind::tuple;
    bool is_tuple = false;
    while (true) {
      if (!tuple.items.empty()) expect(TokenType::comma);
      if (is_tuple_end(extra_end)) break;
      tuple.items.push_back(parse_target_primary());
      if (current().type == TokenType::comma) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (tuple.items.empty()) fail_here(fmt::format("expected an assignment target, got {}", describe_current()));
      return std::move(tuple.items.front());
    }
    return tuple;
  }

  Target parse_target_primary() {
    DepthGuard guard(*this);
    if (current().type == TokenType::name) {
      const std::string& name = current().text;
      if (name == "true" || name == "false" || name == "True" || name == "False" || name == "none" || name == "None") {
        fail_here(fmt::format("can't assign to '{}'", name));
      }
      Target t;
      t.name = next().text;
      return t;
    }
    if (skip(TokenType::lparen)) {
      Target t = parse_assign_target(false, {});
      expect(TokenType::rparen);
      return t;
    }
    fail_here(fmt::format("can't assign to {}", describe_current()));
  }

  bool is_tuple_end(std::initializer_list<std::string_view> extra_end) const {
    TokenType type = current().type;
    if (type == TokenType::variable_end || type == TokenType::block_end || type == TokenType::rparen) return true;
    if (type == TokenType::name)
      for (auto name : extra_end)
        if (current().text == name) return true;
    return false;
  }

  // ---- expressions -------------------------------------------------------------------------------

  // A comma-separated expression list becomes a tuple: "{{ a, b }}", "{% for x in a, b %}".
  ExprPtr parse_tuple(bool with_condexpr, std::initializer_list<std::string_view> extra_end,
                      bool explicit_parentheses = false) {
    int line = current().line;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect(TokenType::comma);
      if (is_tuple_end(extra_end)) break;
      items.push_back(parse_expression(with_condexpr));
      if (current().type == TokenType::comma) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items.front());
      if (!explicit_parentheses) fail_here(fmt::format("expected an expression, got {}", describe_current()));
    }
    auto node = std::make_unique<ListExpr>(line, true);
    node->items = std::move(items);
    uint32_t height = 0;
    for (const auto& item : node->items) height = std::max(height, item->height);
    set_height(*node, height + 1);
    return node;
  }

  ExprPtr parse_expression(bool with_condexpr) { return with_condexpr ? parse_condexpr() : parse_or(); }

  ExprPtr parse_condexpr() {
    DepthGuard guard(*this);
    int line = current().line;
    ExprPtr expr1 = parse_or();
    while (skip_name("if")) {
      ExprPtr expr2 = parse_or();
      ExprPtr expr3;
      if (skip_name("else")) expr3 = parse_condexpr();
      auto node = std::make_unique<ConditionExpr>(line, std::move(expr2), std::move(expr1), std::move(expr3));
      expr1 = finish(std::move(node), {});
      auto* cond = static_cast<ConditionExpr*>(expr1.get());
      set_height(*cond, 1 + std::max({cond->test->height, cond->then->height,
                                      cond->otherwise ? cond->otherwise->height : 0u}));
      line = current().line;
    }
    return expr1;
  }

  ExprPtr parse_or() {
    int line = current().line;
    ExprPtr left = parse_and();
    while (skip_name("or")) {
      ExprPtr right = parse_and();
      const Expr* l = left.get();
      const Expr* r = right.get();
      left = finish(std::make_unique<BinaryExpr>(line, BinaryOp::logical_or, std::move(left), std::move(right)), {l, r});
      line = current().line;
    }
    return left;
  }

  ExprPtr parse_and() {
    int line = current().line;
    ExprPtr left = parse_not();
    while (skip_name("and")) {
      ExprPtr right = parse_not();
      const Expr* l = left.get();
      const Expr* r = right.get();
      left = finish(std::make_unique<BinaryExpr>(line, BinaryOp::logical_and, std::move(left), std::move(right)), {l, r});
      line = current().line;
    }
    return left;
  }

  ExprPtr parse_not() {
    DepthGuard guard(*this);
    if (is_name("not")) {
      int line = next().line;
      ExprPtr operand = parse_not();
      const Expr* o = operand.get();
      return finish(std::make_unique<UnaryExpr>(line, UnaryOp::logical_not, std::move(operand)), {o});
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    int line = current().line;
    ExprPtr expr = parse_math1();
    std::unique_ptr<CompareExpr> node;
    while (true) {
      CompareOp op;
      TokenType type = current().type;
      if (type == TokenType::eq) op = CompareOp::eq;
      else if (type == TokenType::ne) op = CompareOp::ne;
      else if (type == TokenType::lt) op = CompareOp::lt;
      else if (type == TokenType::lteq) op = CompareOp::le;
      else if (type == TokenType::gt) op = CompareOp::gt;
      else if (type == TokenType::gteq) op = CompareOp::ge;
      else if (is_name("in")) op = CompareOp::in;
      else if (is_name("not") && look().type == TokenType::name && look().text == "in") {
        next();
        op = CompareOp::not_in;
      } else {
        break;
      }
      next();
      if (!node) node = std::make_unique<CompareExpr>(line, std::move(expr));
      node->rest.emplace_back(op, parse_math1());
    }
    if (!node) return expr;
    uint32_t height = node->first->height;
    for (const auto& [op, operand] : node->rest) height = std::max(height, operand->height);
    set_height(*node, height + 1);
    return node;
  }

  ExprPtr parse_math1() {
    int line = current().line;
    ExprPtr left = parse_concat();
    while (current().type == TokenType::add || current().type == TokenType::sub) {
      BinaryOp op = next().type == TokenType::add ? BinaryOp::add : BinaryOp::sub;
      ExprPtr right = parse_concat();
      const Expr* l = left.get();
      const Expr* r = right.get();
      left = finish(std::make_unique<BinaryExpr>(line, op, std::move(left), std::move(right)), {l, r});
      line = current().line;
    }
    return left;
  }

  ExprPtr parse_concat() {
    int line = current().line;
    ExprPtr first = parse_math2();
    if (current().type != TokenType::tilde) return first;
    auto node = std::make_unique<ConcatExpr>(line);
    node->parts.push_back(std::move(first));
    while (skip(TokenType::tilde)) node->parts.push_back(parse_math2());
    uint32_t height = 0;
    for (const auto& part : node->parts) height = std::max(height, part->height);
    set_height(*node, height + 1);
    return node;
  }

  ExprPtr parse_math2() {
    int line = current().line;
    ExprPtr left = parse_pow();
    while (true) {
      TokenType type = current().type;
      BinaryOp op;
      if (type == TokenType::mul) op = BinaryOp::mul;
      else if (type == TokenType::div) op = BinaryOp::div;
      else if (type == TokenType::floordiv) op = BinaryOp::floordiv;
      else if (type == TokenType::mod) op = BinaryOp::mod;
      else break;
      next();
      ExprPtr right = parse_pow();
      const Expr* l = left.get();
      const Expr* r = right.get();
      left = finish(std::make_unique<BinaryExpr>(line, op, std::move(left), std::move(right)), {l, r});
      line = current().line;
    }
    return left;
  }

  ExprPtr parse_pow() {
    int line = current().line;
    ExprPtr left = parse_unary(true);
    while (skip(TokenType::pow)) {
      ExprPtr right = parse_unary(true);
      const Expr* l = left.get();
      const Expr* r = right.get();
      left = finish(std::make_unique<BinaryExpr>(line, BinaryOp::pow, std::move(left), std::move(right)), {l, r});
      line = current().line;
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    int line = current().line;
    ExprPtr node;
    if (skip(TokenType::sub)) {
      ExprPtr operand = parse_unary(false);
      const Expr* o = operand.get();
      node = finish(std::make_unique<UnaryExpr>(line, UnaryOp::negate, std::move(operand)), {o});
    } else if (skip(TokenType::add)) {
      ExprPtr operand = parse_unary(false);
      const Expr* o = operand.get();
      node = finish(std::make_unique<UnaryExpr>(line, UnaryOp::plus, std::move(operand)), {o});
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    DepthGuard guard(*this);
    const Token& token = current();
    int line = token.line;
    switch (token.type) {
      case TokenType::name: {
        const std::string& name = token.text;
        ExprPtr node;
        if (name == "true" || name == "True") node = std::make_unique<LiteralExpr>(line, Val(true));
        else if (name == "false" || name == "False") node = std::make_unique<LiteralExpr>(line, Val(false));
        else if (name == "none" || name == "None") node = std::make_unique<LiteralExpr>(line, Val::none());
        else {
          note_name(name);
          node = std::make_unique<NameExpr>(line, name);
        }
        next();
        return node;
      }
      case TokenType::string: {
        std::string value = next().text;
        while (current().type == TokenType::string) value += next().text;  // adjacent literals join
        return std::make_unique<LiteralExpr>(line, Val(std::move(value)));
      }
      case TokenType::integer: {
        const Token& t = next();
        if (t.int_overflow) return std::make_unique<LiteralExpr>(line, Val::big_integer(t.text));
        return std::make_unique<LiteralExpr>(line, Val(t.int_value));
      }
      case TokenType::floating: return std::make_unique<LiteralExpr>(line, Val(next().float_value));
      case TokenType::lparen: {
        next();
        ExprPtr node = parse_tuple(true, {}, /*explicit_parentheses=*/true);
        expect(TokenType::rparen);
        return node;
      }
      case TokenType::lbracket: {
        next();
        auto node = std::make_unique<ListExpr>(line, false);
        while (current().type != TokenType::rbracket) {
          if (!node->items.empty()) expect(TokenType::comma);
          if (current().type == TokenType::rbracket) break;
          node->items.push_back(parse_expression(true));
        }
        expect(TokenType::rbracket);
        uint32_t height = 0;
        for (const auto& item : node->items) height = std::max(height, item->height);
        set_height(*node, height + 1);
        return node;
      }
      case TokenType::lbrace: {
        next();
        auto node = std::make_unique<DictExpr>(line);
        uint32_t height = 0;
        while (current().type != TokenType::rbrace) {
          if (!node->items.empty()) expect(TokenType::comma);
          if (current().type == TokenType::rbrace) break;
          ExprPtr key = parse_expression(true);
          expect(TokenType::colon);
          ExprPtr value = parse_expression(true);
          height = std::max({height, key->height, value->height});
          node->items.emplace_back(std::move(key), std::move(value));
        }
        expect(TokenType::rbrace);
        set_height(*node, height + 1);
        return node;
      }
      default:
        if (token.type == TokenType::eof) fail_here("unexpected end of template");
        fail_here(fmt::format("unexpected {}", describe_current()));
    }
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      TokenType type = current().type;
      if (type == TokenType::dot || type == TokenType::lbracket) {
        node = parse_subscript(std::move(node));
      } else if (type == TokenType::lparen) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      TokenType type = current().type;
      if (type == TokenType::pipe) {
        node = parse_filter(std::move(node), false);
      } else if (is_name("is")) {
        node = parse_test(std::move(node));
      } else if (type == TokenType::lparen) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr node) {
    DepthGuard guard(*this);
    const Token& token = next();
    int line = token.line;
    if (token.type == TokenType::dot) {
      const Token& attr = next();
      if (attr.type == TokenType::name) {
        const Expr* o = node.get();
        return finish(std::make_unique<GetAttrExpr>(line, std::move(node), attr.text), {o});
      }
      if (attr.type != TokenType::integer) fail_here("expected name or number");
      const Expr* o = node.get();
      auto index = std::make_unique<LiteralExpr>(attr.line, attr.int_overflow ? Val::big_integer(attr.text) : Val(attr.int_value));
      return finish(std::make_unique<GetItemExpr>(line, std::move(node), std::move(index)), {o});
    }
    // '[' subscript (',' subscript)* ']'
    std::vector<ExprPtr> args;
    std::vector<std::unique_ptr<SliceExpr>> slices;
    bool any_slice = false;
    while (current().type != TokenType::rbracket) {
      if (!args.empty()) expect(TokenType::comma);
      args.push_back(parse_subscribed(any_slice));
    }
    expect(TokenType::rbracket);
    if (args.empty()) fail_here("expected subscript expression");
    if (args.size() == 1) {
      ExprPtr arg = std::move(args.front());
      if (arg->kind == ExprKind::slice) {
        auto* slice = static_cast<SliceExpr*>(arg.get());
        slice->object = std::move(node);
        uint32_t height = std::max({slice->object->height, slice->start ? slice->start->height : 0u,
                                    slice->stop ? slice->stop->height : 0u, slice->step ? slice->step->height : 0u});
        set_height(*slice, height + 1);
        return arg;
      }
      const Expr* o = node.get();
      const Expr* a = arg.get();
      return finish(std::make_unique<GetItemExpr>(line, std::move(node), std::move(arg)), {o, a});
    }
    if (any_slice) fail_here("multi-dimensional slicing is not supported");
    auto tuple = std::make_unique<ListExpr>(line, true);
    uint32_t height = 0;
    for (auto& a : args) height = std::max(height, a->height);
    tuple->items = std::move(args);
    set_height(*tuple, height + 1);
    const Expr* o = node.get();
    const Expr* t = tuple.get();
    return finish(std::make_unique<GetItemExpr>(line, std::move(node), std::move(tuple)), {o, t});
  }

  // One subscript: an expression or a slice "a:b:c" (any part may be missing). A slice comes
  // back as a SliceExpr without its object.
  ExprPtr parse_subscribed(bool& any_slice) {
    int line = current().line;
    ExprPtr start;
    if (current().type != TokenType::colon) {
      start = parse_expression(true);
      if (current().type != TokenType::colon) return start;
    }
    next();  // first colon
    any_slice = true;
    auto slice = std::make_unique<SliceExpr>(line, nullptr);
    slice->start = std::move(start);
    if (current().type != TokenType::colon && current().type != TokenType::rbracket && current().type != TokenType::comma) {
      slice->stop = parse_expression(true);
    }
    if (skip(TokenType::colon)) {
      if (current().type != TokenType::rbracket && current().type != TokenType::comma) slice->step = parse_expression(true);
    }
    return slice;
  }

  CallArgsExpr parse_call_args() {
    expect(TokenType::lparen);
    CallArgsExpr args;
    bool require_comma = false;
    while (current().type != TokenType::rparen) {
      if (require_comma) {
        expect(TokenType::comma);
        if (current().type == TokenType::rparen) break;  // trailing comma
      }
      if (skip(TokenType::mul)) {
        if (args.star_args || args.star_kwargs) fail_here("invalid syntax for function call expression");
        args.star_args = parse_expression(true);
      } else if (skip(TokenType::pow)) {
        if (args.star_kwargs) fail_here("invalid syntax for function call expression");
        args.star_kwargs = parse_expression(true);
      } else if (current().type == TokenType::name && look().type == TokenType::assign) {
        if (args.star_kwargs) fail_here("invalid syntax for function call expression");
        std::string key = next().text;
        next();  // '='
        args.keywords.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (args.star_args || args.star_kwargs || !args.keywords.empty()) {
          fail_here("invalid syntax for function call expression");
        }
        args.positional.push_back(parse_expression(true));
      }
      require_comma = true;
    }
    expect(TokenType::rparen);
    return args;
  }

  ExprPtr parse_call(ExprPtr callee) {
    DepthGuard guard(*this);
    int line = current().line;
    auto node = std::make_unique<CallExpr>(line, std::move(callee));
    node->args = parse_call_args();
    set_height(*node, 1 + std::max(node->callee->height, args_height(node->args)));
    return node;
  }

  std::string parse_dotted_name() {
    std::string name = expect(TokenType::name).text;
    while (skip(TokenType::dot)) name += "." + expect(TokenType::name).text;
    return name;
  }

  // `| name(args)` chains; with start_inline the first name has no leading pipe ({% filter %}).
  ExprPtr parse_filter(ExprPtr node, bool start_inline) {
    DepthGuard guard(*this);
    while (current().type == TokenType::pipe || start_inline) {
      if (!start_inline) next();
      start_inline = false;
      int line = current().line;
      std::string name = parse_dotted_name();
      auto filter = std::make_unique<FilterExpr>(line, std::move(node), std::move(name));
      if (current().type == TokenType::lparen) filter->args = parse_call_args();
      set_height(*filter, 1 + std::max(filter->input ? filter->input->height : 0u, args_height(filter->args)));
      node = std::move(filter);
    }
    return node;
  }

  ExprPtr parse_test(ExprPtr node) {
    DepthGuard guard(*this);
    int line = next().line;  // is
    bool negated = skip_name("not");
    std::string name = parse_dotted_name();
    auto test = std::make_unique<TestExpr>(line, std::move(node), std::move(name));
    TokenType type = current().type;
    if (type == TokenType::lparen) {
      test->args = parse_call_args();
    } else if ((type == TokenType::name || type == TokenType::string || type == TokenType::integer ||
                type == TokenType::floating || type == TokenType::lparen || type == TokenType::lbracket ||
                type == TokenType::lbrace) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
      // `x is divisibleby 3`, `x is sameas none`: a single argument without parentheses.
      if (is_name("is")) fail_here("you cannot chain multiple tests with is");
      test->args.positional.push_back(parse_postfix(parse_primary()));
    }
    set_height(*test, 1 + std::max(test->input->height, args_height(test->args)));
    ExprPtr result = std::move(test);
    if (negated) {
      const Expr* r = result.get();
      result = finish(std::make_unique<UnaryExpr>(line, UnaryOp::logical_not, std::move(result)), {r});
    }
    return result;
  }

  // Macros accept `caller`, extra positional or extra keyword arguments only if their body
  // mentions caller / varargs / kwargs, as in jinja2.
  void note_name(const std::string& name) {
    if (macro_stack_.empty()) return;
    MacroDef* def = macro_stack_.back();
    if (name == "caller") def->uses_caller = true;
    if (name == "varargs") def->uses_varargs = true;
    if (name == "kwargs") def->uses_kwargs = true;
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int max_depth_;
  int depth_ = 0;
  int loop_depth_ = 0;
  std::vector<MacroDef*> macro_stack_;
};

}  // namespace

Program parse_template(std::string_view source, int max_depth) {
  Parser parser(tokenize(source), max_depth);
  return parser.parse();
}

}  // namespace zaya::jinja
