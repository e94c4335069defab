// A Jinja interpreter for chat templates. The language is the subset Hugging Face chat templates
// use, with @huggingface/jinja's semantics (its output is what the tests compare against): the
// template is read with trim_blocks and lstrip_blocks on and one trailing newline dropped, as
// transformers does. Errors, at parse or render time, name the template line and column.
//
// Pipeline: jinja_lexer.cpp (text -> tokens) -> jinja_parser.cpp (tokens -> Node tree) ->
// jinja_eval.cpp (tree + variables -> text), with filters / tests / methods in jinja_builtins.cpp.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chat/jinja_limits.h"
#include "chat/jinja_value.h"

namespace fathom::chat {

enum class TokenType {
  Text, Number, String, Ident, Equals, OpenParen, CloseParen, OpenStatement, CloseStatement,
  OpenExpression, CloseExpression, OpenSquare, CloseSquare, OpenCurly, CloseCurly, Comma, Dot,
  Colon, Pipe, Additive, Multiplicative, Power, Comparison, Unary, Comment,
};

struct Token {
  TokenType type;
  std::string value;
  size_t pos;  // byte offset in the original template source
};

enum class NodeType {
  Text, Int, Float, String, ArrayLit, TupleLit, ObjectLit, Ident, Member, Call, Unary, Binary,
  Filter, Test, Select, Ternary, Slice, KwArg, Spread, KwSpread,
  If, For, Set, Macro, CallBlock, FilterBlock, Break, Continue, Comment,
};

// One node type for the whole tree keeps the parser and evaluator short; which fields a node
// uses depends on its type (noted at each use).
struct Node {
  NodeType type;
  size_t pos = 0;
  std::string str;          // identifier, string value, operator, test / filter name
  int64_t ival = 0;
  double fval = 0;
  bool flag = false;        // Member: computed ([...]); Test: negated
  std::unique_ptr<Node> a, b, c;
  std::vector<std::unique_ptr<Node>> list, list2;
  std::vector<std::pair<std::unique_ptr<Node>, std::unique_ptr<Node>>> pairs;
};
using NodePtr = std::unique_ptr<Node>;

// Formats "line:column" (both from 1) of a byte offset in source.
std::string line_col(std::string_view source, size_t pos);

std::vector<Token> tokenize(std::string_view source);
std::vector<NodePtr> parse(const std::vector<Token>& tokens, std::string_view source);

class Template {
 public:
  // Throws fathom::Error("chat template 3:14: ...") for a syntax error.
  explicit Template(std::string source);
  // vars are defined in order (as Python keyword arguments would be). Throws fathom::Error with
  // line:column for a render-time error, including raise_exception() from the template, and for
  // going past one of the limits (jinja_limits.h).
  std::string render(const std::vector<std::pair<std::string, Value>>& vars, const RenderLimits& limits = {}) const;

 private:
  std::string source_;
  std::shared_ptr<std::vector<NodePtr>> body_;
};

}  // namespace fathom::chat
