// Tokens -> Node tree, by recursive descent. Operator precedence, loosest first (as in
// @huggingface/jinja): `x if c else y` / select, or, and, not, comparisons and in / not in,
// + - ~, * / // %, **, `is` tests, | filters, unary + -, calls / members / slices, primaries.
#include "chat/jinja.h"
#include "chat/jinja_limits.h"
#include "core/error.h"

#include <charconv>
#include <system_error>

namespace fathom::chat {
namespace {

class Parser {
 public:
  Parser(const std::vector<Token>& t, std::string_view source) : t_(t), source_(source) {}

  std::vector<NodePtr> program() {
    std::vector<NodePtr> body;
    while (cur_ < t_.size()) body.push_back(any());
    return body;
  }

 private:
  // Nesting of what is being parsed: each recursive rule and each link of a left-deep chain
  // (a + b + c, x.y.z, v | f | g) is one level, so the height of the tree, and with it every
  // recursive walk of it (evaluation, destruction), stays within kMaxParseDepth.
  class Nest {
   public:
    explicit Nest(Parser& p, int levels = 1) : p_(p) {
      for (int k = 0; k < levels; ++k) more();
    }
    ~Nest() { p_.depth_ -= n_; }
    void more() {
      ++n_;
      if (++p_.depth_ > kMaxParseDepth) p_.error(fmt::format("the template nests deeper than {} levels", kMaxParseDepth));
    }

   private:
    Parser& p_;
    int n_ = 0;
  };

  [[noreturn]] void error(const std::string& msg) const {
    size_t pos = cur_ < t_.size() ? t_[cur_].pos : (t_.empty() ? 0 : t_.back().pos);
    fail("chat template {}: {}", line_col(source_, pos), msg);
  }
  bool at_end() const { return cur_ >= t_.size(); }
  bool is(TokenType type, size_t ahead = 0) const {
    return cur_ + ahead < t_.size() && t_[cur_ + ahead].type == type;
  }
  bool is_ident(std::string_view name, size_t ahead = 0) const {
    return is(TokenType::Ident, ahead) && t_[cur_ + ahead].value == name;
  }
  bool is_statement(std::initializer_list<std::string_view> names) const {
    if (!is(TokenType::OpenStatement) || !is(TokenType::Ident, 1)) return false;
    for (auto n : names)
      if (t_[cur_ + 1].value == n) return true;
    return false;
  }
  const Token& expect(TokenType type, const char* what) {
    if (!is(type)) error(std::string("expected ") + what);
    return t_[cur_++];
  }
  void expect_ident(const char* name) {
    if (!is_ident(name)) error(std::string("expected '") + name + "'");
    ++cur_;
  }
  NodePtr node(NodeType type, size_t pos) {
    auto n = std::make_unique<Node>();
    n->type = type;
    n->pos = pos;
    return n;
  }
  // Body statements until one of the named block tags (not consumed). An unclosed block is
  // reported at its opening tag, which is where the fix goes.
  void body_until(std::vector<NodePtr>& out, std::initializer_list<std::string_view> ends,
                  size_t opened_at) {
    while (!is_statement(ends)) {
      if (at_end()) {
        std::string names;
        for (auto e : ends) names += (names.empty() ? "{% " : " or {% ") + std::string(e) + " %}";
        fail("chat template {}: this block is never closed: expected {}", line_col(source_, opened_at), names);
      }
      out.push_back(any());
    }
  }
  void end_tag(const char* name) {
    expect(TokenType::OpenStatement, "'{%'");
    expect_ident(name);
    expect(TokenType::CloseStatement, "'%}'");
  }

  NodePtr any() {
    Nest nest(*this);
    const Token& tk = t_[cur_];
    switch (tk.type) {
      case TokenType::Comment: { ++cur_; auto n = node(NodeType::Comment, tk.pos); return n; }
      case TokenType::Text: { ++cur_; auto n = node(NodeType::Text, tk.pos); n->str = tk.value; return n; }
      case TokenType::OpenStatement: return statement();
      case TokenType::OpenExpression: {
        ++cur_;
        auto e = expression();
        expect(TokenType::CloseExpression, "'}}'");
        return e;
      }
      default: error("unexpected '" + tk.value + "'");
    }
  }

  NodePtr statement() {
    size_t pos = t_[cur_].pos;
    ++cur_;
    if (!is(TokenType::Ident)) error("expected a statement name after '{%'");
    std::string name = t_[cur_].value;
    ++cur_;
    if (name == "set") return set_statement(pos);
    if (name == "if") { auto n = if_statement(pos); end_tag("endif"); return n; }
    if (name == "for") { auto n = for_statement(pos); end_tag("endfor"); return n; }
    if (name == "macro") {
      auto n = node(NodeType::Macro, pos);
      auto id = primary();
      if (id->type != NodeType::Ident) error("expected a macro name");
      n->str = id->str;
      args(n->list, true);
      expect(TokenType::CloseStatement, "'%}'");
      body_until(n->list2, {"endmacro"}, pos);
      end_tag("endmacro");
      return n;
    }
    if (name == "call") {
      auto n = node(NodeType::CallBlock, pos);  // a: the call, list: caller params, list2: body
      if (is(TokenType::OpenParen)) args(n->list, true);
      auto callee = primary();
      if (callee->type != NodeType::Ident) error("expected a macro name after 'call'");
      auto call = node(NodeType::Call, callee->pos);
      call->a = std::move(callee);
      args(call->list, false);
      n->a = std::move(call);
      expect(TokenType::CloseStatement, "'%}'");
      body_until(n->list2, {"endcall"}, pos);
      end_tag("endcall");
      return n;
    }
    if (name == "break" || name == "continue") {
      expect(TokenType::CloseStatement, "'%}'");
      return node(name == "break" ? NodeType::Break : NodeType::Continue, pos);
    }
    if (name == "filter") {
      auto n = node(NodeType::FilterBlock, pos);  // a: filter (Ident or Call), list: body
      n->a = primary();
      if (n->a->type == NodeType::Ident && is(TokenType::OpenParen)) n->a = call(std::move(n->a));
      expect(TokenType::CloseStatement, "'%}'");
      body_until(n->list, {"endfilter"}, pos);
      end_tag("endfilter");
      return n;
    }
    --cur_;
    error("unknown statement '" + name + "'");
  }

  NodePtr set_statement(size_t pos) {
    auto n = node(NodeType::Set, pos);  // a: target, b: value (or list: block body)
    n->a = sequence(false);
    if (is(TokenType::Equals)) {
      ++cur_;
      n->b = sequence(false);
    } else {
      expect(TokenType::CloseStatement, "'%}'");
      body_until(n->list, {"endset"}, pos);
      expect(TokenType::OpenStatement, "'{%'");
      expect_ident("endset");
    }
    expect(TokenType::CloseStatement, "'%}'");
    return n;
  }

  NodePtr if_statement(size_t pos) {
    Nest nest(*this);  // each elif nests one level
    auto n = node(NodeType::If, pos);  // a: test, list: body, list2: else branch
    n->a = expression();
    expect(TokenType::CloseStatement, "'%}'");
    body_until(n->list, {"elif", "else", "endif"}, pos);
    if (is_statement({"elif"})) {
      size_t p = t_[cur_].pos;
      cur_ += 2;
      n->list2.push_back(if_statement(p));
    } else if (is_statement({"else"})) {
      cur_ += 2;
      expect(TokenType::CloseStatement, "'%}'");
      body_until(n->list2, {"endif"}, pos);
    }
    return n;
  }

  NodePtr for_statement(size_t pos) {
    auto n = node(NodeType::For, pos);  // a: loop target, b: iterable, list: body, list2: else
    n->a = sequence(true);
    if (n->a->type != NodeType::Ident && n->a->type != NodeType::TupleLit)
      error("expected a loop variable or tuple");
    if (!is_ident("in")) error("expected 'in' after the loop variable");
    ++cur_;
    n->b = expression();
    expect(TokenType::CloseStatement, "'%}'");
    body_until(n->list, {"endfor", "else"}, pos);
    if (is_statement({"else"})) {
      cur_ += 2;
      expect(TokenType::CloseStatement, "'%}'");
      body_until(n->list2, {"endfor"}, pos);
    }
    return n;
  }

  // `a, b, c` as a tuple; a single expression as itself.
  NodePtr sequence(bool primary_only) {
    size_t pos = at_end() ? 0 : t_[cur_].pos;
    auto first = primary_only ? primary() : expression();
    if (!is(TokenType::Comma)) return first;
    auto tuple = node(NodeType::TupleLit, pos);
    tuple->list.push_back(std::move(first));
    while (is(TokenType::Comma)) {
      ++cur_;
      tuple->list.push_back(primary_only ? primary() : expression());
    }
    return tuple;
  }

  NodePtr expression() {
    Nest nest(*this);
    size_t pos = at_end() ? 0 : t_[cur_].pos;
    auto a = logical_or();
    if (is_ident("if")) {
      ++cur_;
      auto test = logical_or();
      if (is_ident("else")) {
        ++cur_;
        auto n = node(NodeType::Ternary, pos);  // a: condition, b: if true, c: if false
        n->a = std::move(test);
        n->b = std::move(a);
        n->c = expression();
        return n;
      }
      auto n = node(NodeType::Select, pos);  // a: value, b: condition
      n->a = std::move(a);
      n->b = std::move(test);
      return n;
    }
    return a;
  }

  NodePtr binary(NodePtr left, std::string op, size_t pos, NodePtr right) {
    auto n = node(NodeType::Binary, pos);
    n->str = std::move(op);
    n->a = std::move(left);
    n->b = std::move(right);
    return n;
  }

  NodePtr logical_or() {
    auto left = logical_and();
    Nest nest(*this, 0);
    while (is_ident("or")) {
      nest.more();
      size_t p = t_[cur_++].pos;
      left = binary(std::move(left), "or", p, logical_and());
    }
    return left;
  }
  NodePtr logical_and() {
    auto left = logical_not();
    Nest nest(*this, 0);
    while (is_ident("and")) {
      nest.more();
      size_t p = t_[cur_++].pos;
      left = binary(std::move(left), "and", p, logical_not());
    }
    return left;
  }
  NodePtr logical_not() {
    Nest nest(*this);
    if (is_ident("not")) {
      auto n = node(NodeType::Unary, t_[cur_++].pos);
      n->str = "not";
      n->a = logical_not();
      return n;
    }
    return comparison();
  }
  NodePtr comparison() {
    auto left = additive();
    Nest nest(*this, 0);
    while (true) {
      std::string op;
      size_t p = at_end() ? 0 : t_[cur_].pos;
      if (is_ident("not") && is_ident("in", 1)) { op = "not in"; cur_ += 2; }
      else if (is_ident("in")) { op = "in"; ++cur_; }
      else if (is(TokenType::Comparison)) op = t_[cur_++].value;
      else break;
      nest.more();
      left = binary(std::move(left), op, p, additive());
    }
    return left;
  }
  NodePtr additive() {
    auto left = multiplicative();
    Nest nest(*this, 0);
    while (is(TokenType::Additive)) {
      nest.more();
      const Token& op = t_[cur_++];
      left = binary(std::move(left), op.value, op.pos, multiplicative());
    }
    return left;
  }
  NodePtr multiplicative() {
    auto left = power();
    Nest nest(*this, 0);
    while (is(TokenType::Multiplicative)) {
      nest.more();
      const Token& op = t_[cur_++];
      left = binary(std::move(left), op.value, op.pos, power());
    }
    return left;
  }
  NodePtr power() {
    auto left = test();
    Nest nest(*this, 0);
    while (is(TokenType::Power)) {
      nest.more();
      const Token& op = t_[cur_++];
      left = binary(std::move(left), op.value, op.pos, test());
    }
    return left;
  }
  NodePtr test() {
    auto operand = filter();
    Nest nest(*this, 0);
    while (is_ident("is")) {
      nest.more();
      auto n = node(NodeType::Test, t_[cur_++].pos);  // a: operand, str: test name, flag: negated
      if (is_ident("not")) { n->flag = true; ++cur_; }
      auto name = primary();
      if (name->type != NodeType::Ident) error("expected a test name after 'is'");
      n->str = name->str;
      n->a = std::move(operand);
      operand = std::move(n);
    }
    return operand;
  }
  NodePtr filter() {
    auto operand = unary_sign();
    Nest nest(*this, 0);
    while (is(TokenType::Pipe)) {
      nest.more();
      auto n = node(NodeType::Filter, t_[cur_++].pos);  // a: operand, b: Ident or Call
      auto f = primary();
      if (f->type != NodeType::Ident) error("expected a filter name after '|'");
      if (is(TokenType::OpenParen)) f = call(std::move(f));
      n->a = std::move(operand);
      n->b = std::move(f);
      operand = std::move(n);
    }
    return operand;
  }
  NodePtr unary_sign() {
    Nest nest(*this);
    if ((is(TokenType::Unary) || is(TokenType::Additive)) &&
        (t_[cur_].value == "-" || t_[cur_].value == "+")) {
      auto n = node(NodeType::Unary, t_[cur_].pos);
      n->str = t_[cur_++].value;
      n->a = unary_sign();
      return n;
    }
    auto m = member(primary());
    return is(TokenType::OpenParen) ? call(std::move(m)) : std::move(m);
  }
  NodePtr call(NodePtr callee) {
    Nest nest(*this);
    auto n = node(NodeType::Call, callee->pos);  // a: callee, list: arguments
    n->a = std::move(callee);
    args(n->list, false);
    NodePtr e = member(std::move(n));
    return is(TokenType::OpenParen) ? call(std::move(e)) : std::move(e);
  }
  // ( ... ) argument list: positional, name=value, *spread, **kwspread; or macro parameters.
  void args(std::vector<NodePtr>& out, bool parameters) {
    expect(TokenType::OpenParen, "'('");
    bool saw_keyword = false;
    while (!is(TokenType::CloseParen)) {
      if (at_end()) error("expected ')'");
      size_t p = t_[cur_].pos;
      if (!parameters && is(TokenType::Power)) {
        ++cur_;
        auto n = node(NodeType::KwSpread, p);
        n->a = expression();
        out.push_back(std::move(n));
      } else if (!parameters && is(TokenType::Multiplicative) && t_[cur_].value == "*") {
        ++cur_;
        auto n = node(NodeType::Spread, p);
        n->a = expression();
        out.push_back(std::move(n));
      } else {
        auto arg = expression();
        if (is(TokenType::Equals)) {
          ++cur_;
          if (arg->type != NodeType::Ident) error("expected a name before '='");
          auto kw = node(NodeType::KwArg, p);  // str: name, a: value
          kw->str = arg->str;
          kw->a = expression();
          arg = std::move(kw);
          saw_keyword = true;
        } else if (saw_keyword) {
          error(parameters ? "non-default parameter after a default one"
                           : "positional argument after a keyword argument");
        }
        if (parameters && arg->type != NodeType::Ident && arg->type != NodeType::KwArg)
          error("expected a parameter name");
        out.push_back(std::move(arg));
      }
      if (is(TokenType::Comma)) ++cur_;
    }
    ++cur_;
  }
  NodePtr member(NodePtr object) {
    Nest nest(*this, 0);
    while (is(TokenType::Dot) || is(TokenType::OpenSquare)) {
      nest.more();
      bool computed = is(TokenType::OpenSquare);
      auto n = node(NodeType::Member, t_[cur_++].pos);  // a: object, b: property, flag: computed
      n->flag = computed;
      n->a = std::move(object);
      if (computed) {
        n->b = subscript();
        expect(TokenType::CloseSquare, "']'");
      } else {
        n->b = primary();
        if (n->b->type != NodeType::Ident && n->b->type != NodeType::Int)
          error("expected a name or an integer after '.'");
      }
      object = std::move(n);
    }
    return object;
  }
  // Inside [ ]: an index, or a slice start:stop:step with any part left out.
  NodePtr subscript() {
    size_t pos = at_end() ? 0 : t_[cur_].pos;
    std::vector<NodePtr> parts;
    bool slice = false;
    while (!is(TokenType::CloseSquare)) {
      if (at_end()) error("expected ']'");
      if (is(TokenType::Colon)) {
        parts.push_back(nullptr);
        ++cur_;
        slice = true;
      } else {
        parts.push_back(expression());
        if (is(TokenType::Colon)) { ++cur_; slice = true; }
      }
    }
    if (parts.empty()) error("expected an index or a slice inside '[ ]'");
    if (!slice) return std::move(parts[0]);
    if (parts.size() > 3) error("a slice has at most 3 parts");
    auto n = node(NodeType::Slice, pos);  // a: start, b: stop, c: step (each may be null)
    n->a = std::move(parts[0]);
    if (parts.size() > 1) n->b = std::move(parts[1]);
    if (parts.size() > 2) n->c = std::move(parts[2]);
    return n;
  }
  NodePtr primary() {
    Nest nest(*this);
    if (at_end()) error("unexpected end of template");
    const Token& tk = t_[cur_++];
    switch (tk.type) {
      case TokenType::Number: {
        bool is_float = tk.value.find('.') != std::string::npos;
        auto n = node(is_float ? NodeType::Float : NodeType::Int, tk.pos);
        // from_chars, not stod/stoll: a literal out of range is the template's error, not a raw
        // std::out_of_range (found by fuzz_jinja).
        const char *b = tk.value.data(), *e = b + tk.value.size();
        if (b != e && *b == '+') ++b;  // the lexer keeps a sign; from_chars takes only '-'
        const std::from_chars_result r = is_float ? std::from_chars(b, e, n->fval) : std::from_chars(b, e, n->ival);
        if (r.ec == std::errc::result_out_of_range) error("number literal out of range: " + tk.value.substr(0, 40));
        if (r.ec != std::errc() || r.ptr != e) error("malformed number literal: " + tk.value.substr(0, 40));
        return n;
      }
      case TokenType::String: {
        auto n = node(NodeType::String, tk.pos);
        n->str = tk.value;
        while (is(TokenType::String)) n->str += t_[cur_++].value;  // 'a' 'b' is 'ab'
        return n;
      }
      case TokenType::Ident: {
        auto n = node(NodeType::Ident, tk.pos);
        n->str = tk.value;
        return n;
      }
      case TokenType::OpenParen: {
        auto e = sequence(false);
        expect(TokenType::CloseParen, "')'");
        return e;
      }
      case TokenType::OpenSquare: {
        auto n = node(NodeType::ArrayLit, tk.pos);
        while (!is(TokenType::CloseSquare)) {
          if (at_end()) error("expected ']'");
          n->list.push_back(expression());
          if (is(TokenType::Comma)) ++cur_;
        }
        ++cur_;
        return n;
      }
      case TokenType::OpenCurly: {
        auto n = node(NodeType::ObjectLit, tk.pos);
        while (!is(TokenType::CloseCurly)) {
          if (at_end()) error("expected '}'");
          auto k = expression();
          expect(TokenType::Colon, "':' between key and value");
          n->pairs.emplace_back(std::move(k), expression());
          if (is(TokenType::Comma)) ++cur_;
        }
        ++cur_;
        return n;
      }
      default:
        --cur_;
        error("unexpected '" + tk.value + "'");
    }
  }

  const std::vector<Token>& t_;
  std::string_view source_;
  size_t cur_ = 0;
  int depth_ = 0;
};

}  // namespace

std::vector<NodePtr> parse(const std::vector<Token>& tokens, std::string_view source) {
  return Parser(tokens, source).program();
}

}  // namespace fathom::chat
