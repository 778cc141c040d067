// Recursive-descent parser with Jinja2's operator precedence:
// cond-expr < or < and < not < compare < +,- < ~ < *,/,//,% < ** < unary < postfix/filter/test.
#include <initializer_list>

#include "common/error.h"
#include "router/chat/jinja_ast.h"
#include "router/chat/jinja_lexer.h"

namespace tg::chat::jinja {
namespace {

using TK = Token::Kind;

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  std::unique_ptr<Template> ParseTemplate() {
    auto t = std::make_unique<Template>();
    std::string end;
    t->body = ParseBody({}, &end);
    return t;
  }

 private:
  const Token& Peek(size_t ahead = 0) const {
    const size_t i = pos_ + ahead;
    return i < tokens_.size() ? tokens_[i] : tokens_.back();
  }
  const Token& Next() { return tokens_[pos_ < tokens_.size() - 1 ? pos_++ : pos_]; }
  bool IsOp(const char* op, size_t ahead = 0) const {
    return Peek(ahead).kind == TK::kOp && Peek(ahead).text == op;
  }
  bool IsName(const char* name, size_t ahead = 0) const {
    return Peek(ahead).kind == TK::kName && Peek(ahead).text == name;
  }
  bool AcceptOp(const char* op) {
    if (!IsOp(op)) return false;
    ++pos_;
    return true;
  }
  bool AcceptName(const char* name) {
    if (!IsName(name)) return false;
    ++pos_;
    return true;
  }
  [[noreturn]] void Fail(const std::string& what) const {
    throw Error(ErrorKind::kInvalidArgument,
                "chat template syntax error (line " + std::to_string(Peek().line) + "): " + what);
  }
  void ExpectOp(const char* op) {
    if (!AcceptOp(op)) Fail(std::string("expected '") + op + "', got '" + Peek().text + "'");
  }
  std::string ExpectName() {
    if (Peek().kind != TK::kName) Fail("expected a name, got '" + Peek().text + "'");
    return Next().text;
  }
  void ExpectBlockEnd() {
    if (Peek().kind != TK::kBlockEnd) Fail("expected end of tag, got '" + Peek().text + "'");
    ++pos_;
  }

  ExprPtr MakeExpr(Expr::Kind kind) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = Peek().line;
    return e;
  }

  // Statements until one of `ends` ({% endfor %}, {% else %}...) is met; its name goes to *end.
  Body ParseBody(std::initializer_list<const char*> ends, std::string* end) {
    Body body;
    while (true) {
      const Token& t = Peek();
      if (t.kind == TK::kEof) {
        if (ends.size() != 0) Fail(std::string("missing {% ") + *ends.begin() + " %}");
        return body;
      }
      if (t.kind == TK::kText) {
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::kText;
        n->text = Next().text;
        body.push_back(std::move(n));
        continue;
      }
      if (t.kind == TK::kVarBegin) {
        ++pos_;
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::kOutput;
        n->line = t.line;
        n->expr = ParseExpression();
        if (Peek().kind != TK::kVarEnd) Fail("expected '}}', got '" + Peek().text + "'");
        ++pos_;
        body.push_back(std::move(n));
        continue;
      }
      if (t.kind != TK::kBlockBegin) Fail("unexpected '" + t.text + "'");
      const Token& keyword = Peek(1);
      for (const char* e : ends) {
        if (keyword.kind == TK::kName && keyword.text == e) {
          pos_ += 2;
          *end = e;
          return body;
        }
      }
      ++pos_;
      body.push_back(ParseStatement());
    }
  }

  std::unique_ptr<Node> ParseStatement() {
    const int line = Peek().line;
    const std::string keyword = ExpectName();
    auto n = std::make_unique<Node>();
    n->line = line;
    std::string end;
    if (keyword == "if") {
      n->kind = Node::Kind::kIf;
      ExprPtr cond = ParseExpression();
      ExpectBlockEnd();
      while (true) {
        Body body = ParseBody({"elif", "else", "endif"}, &end);
        n->branches.emplace_back(std::move(cond), std::move(body));
        if (end == "elif") {
          cond = ParseExpression();
          ExpectBlockEnd();
          continue;
        }
        ExpectBlockEnd();
        if (end == "else") {
          n->else_body = ParseBody({"endif"}, &end);
          ExpectBlockEnd();
        }
        return n;
      }
    }
    if (keyword == "for") {
      n->kind = Node::Kind::kFor;
      do {
        n->targets.push_back(ExpectName());
      } while (AcceptOp(","));
      if (!AcceptName("in")) Fail("expected 'in' in for loop");
      n->expr = ParseExpression(/*allow_cond=*/false);
      if (AcceptName("if")) n->filter = ParseExpression(false);
      AcceptName("recursive");
      ExpectBlockEnd();
      n->body = ParseBody({"else", "endfor"}, &end);
      ExpectBlockEnd();
      if (end == "else") {
        n->else_body = ParseBody({"endfor"}, &end);
        ExpectBlockEnd();
      }
      return n;
    }
    if (keyword == "set") {
      n->kind = Node::Kind::kSet;
      n->targets.push_back(ExpectName());
      if (AcceptOp(".")) {
        n->target_attr = ExpectName();
      } else {
        while (AcceptOp(",")) n->targets.push_back(ExpectName());
      }
      if (AcceptOp("=")) {
        n->expr = ParseTupleOrExpression();
        ExpectBlockEnd();
      } else {
        ExpectBlockEnd();
        n->body = ParseBody({"endset"}, &end);
        ExpectBlockEnd();
      }
      return n;
    }
    if (keyword == "macro") {
      n->kind = Node::Kind::kMacro;
      n->text = ExpectName();
      ExpectOp("(");
      while (!AcceptOp(")")) {
        std::string param = ExpectName();
        ExprPtr fallback;
        if (AcceptOp("=")) fallback = ParseExpression();
        n->params.emplace_back(std::move(param), std::move(fallback));
        if (!IsOp(")")) ExpectOp(",");
      }
      ExpectBlockEnd();
      n->body = ParseBody({"endmacro"}, &end);
      if (Peek().kind == TK::kName) ++pos_;  // {% endmacro name %}
      ExpectBlockEnd();
      return n;
    }
    if (keyword == "call") {
      n->kind = Node::Kind::kCallBlock;
      if (IsOp("(")) {  // caller parameters are not supported; skip "(...)"
        Fail("call blocks with caller arguments are not supported");
      }
      n->expr = ParseExpression();
      ExpectBlockEnd();
      n->body = ParseBody({"endcall"}, &end);
      ExpectBlockEnd();
      return n;
    }
    if (keyword == "filter") {
      n->kind = Node::Kind::kFilterBlock;
      auto f = MakeExpr(Expr::Kind::kFilter);
      f->name = ExpectName();
      if (AcceptOp("(")) ParseCallArgs(*f);
      n->filter = std::move(f);
      ExpectBlockEnd();
      n->body = ParseBody({"endfilter"}, &end);
      ExpectBlockEnd();
      return n;
    }
    if (keyword == "break" || keyword == "continue") {
      n->kind = keyword == "break" ? Node::Kind::kBreak : Node::Kind::kContinue;
      ExpectBlockEnd();
      return n;
    }
    if (keyword == "do") {
      n->kind = Node::Kind::kDo;
      n->expr = ParseTupleOrExpression();
      ExpectBlockEnd();
      return n;
    }
    if (keyword == "generation") {  // transformers' AssistantTracker: renders its body
      n->kind = Node::Kind::kScope;
      ExpectBlockEnd();
      n->body = ParseBody({"endgeneration"}, &end);
      ExpectBlockEnd();
      return n;
    }
    Fail("unknown tag '" + keyword + "'");
  }

  // `a, b` without brackets is a tuple (in set and do).
  ExprPtr ParseTupleOrExpression() {
    ExprPtr first = ParseExpression();
    if (!IsOp(",")) return first;
    auto t = MakeExpr(Expr::Kind::kTuple);
    t->args.push_back(std::move(first));
    while (AcceptOp(",")) {
      if (Peek().kind == TK::kBlockEnd) break;
      t->args.push_back(ParseExpression());
    }
    return t;
  }

  ExprPtr ParseExpression(bool allow_cond = true) {
    ExprPtr e = ParseOr();
    while (allow_cond && IsName("if")) {
      ++pos_;
      auto c = MakeExpr(Expr::Kind::kCond);
      c->a = ParseOr();
      c->b = std::move(e);
      if (AcceptName("else")) c->c = ParseExpression();
      e = std::move(c);
    }
    return e;
  }

  ExprPtr Binary(Expr::Kind kind, std::string op, ExprPtr a, ExprPtr b) {
    auto e = MakeExpr(kind);
    e->name = std::move(op);
    e->a = std::move(a);
    e->b = std::move(b);
    return e;
  }

  ExprPtr ParseOr() {
    ExprPtr e = ParseAnd();
    while (AcceptName("or")) e = Binary(Expr::Kind::kOr, "or", std::move(e), ParseAnd());
    return e;
  }
  ExprPtr ParseAnd() {
    ExprPtr e = ParseNot();
    while (AcceptName("and")) e = Binary(Expr::Kind::kAnd, "and", std::move(e), ParseNot());
    return e;
  }
  ExprPtr ParseNot() {
    if (AcceptName("not")) {
      auto e = MakeExpr(Expr::Kind::kUnary);
      e->name = "not";
      e->a = ParseNot();
      return e;
    }
    return ParseCompare();
  }
  ExprPtr ParseCompare() {
    ExprPtr e = ParseMath1();
    while (true) {
      std::string op;
      if (Peek().kind == TK::kOp &&
          (IsOp("==") || IsOp("!=") || IsOp("<") || IsOp(">") || IsOp("<=") || IsOp(">="))) {
        op = Next().text;
      } else if (IsName("in")) {
        ++pos_;
        op = "in";
      } else if (IsName("not") && IsName("in", 1)) {
        pos_ += 2;
        op = "not in";
      } else {
        return e;
      }
      e = Binary(Expr::Kind::kBinary, op, std::move(e), ParseMath1());
    }
  }
  ExprPtr ParseMath1() {
    ExprPtr e = ParseConcat();
    while (IsOp("+") || IsOp("-")) {
      std::string op = Next().text;
      e = Binary(Expr::Kind::kBinary, op, std::move(e), ParseConcat());
    }
    return e;
  }
  ExprPtr ParseConcat() {
    ExprPtr e = ParseMath2();
    while (AcceptOp("~")) e = Binary(Expr::Kind::kBinary, "~", std::move(e), ParseMath2());
    return e;
  }
  ExprPtr ParseMath2() {
    ExprPtr e = ParsePow();
    while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
      std::string op = Next().text;
      e = Binary(Expr::Kind::kBinary, op, std::move(e), ParsePow());
    }
    return e;
  }
  ExprPtr ParsePow() {
    ExprPtr e = ParseUnary(true);
    while (AcceptOp("**")) e = Binary(Expr::Kind::kBinary, "**", std::move(e), ParseUnary(true));
    return e;
  }
  ExprPtr ParseUnary(bool with_filter) {
    ExprPtr e;
    if (IsOp("-") || IsOp("+")) {
      e = MakeExpr(Expr::Kind::kUnary);
      e->name = Next().text;
      e->a = ParseUnary(false);
    } else {
      e = ParsePrimary();
    }
    e = ParsePostfix(std::move(e));
    if (with_filter) e = ParseFilterTail(std::move(e));
    return e;
  }

  void ParseCallArgs(Expr& call) {
    while (!AcceptOp(")")) {
      if (Peek().kind == TK::kName && IsOp("=", 1)) {
        std::string key = Next().text;
        ++pos_;
        call.kwargs.emplace_back(std::move(key), ParseExpression());
      } else {
        call.args.push_back(ParseExpression());
      }
      if (!IsOp(")")) ExpectOp(",");
    }
  }

  ExprPtr ParsePostfix(ExprPtr e) {
    while (true) {
      if (AcceptOp(".")) {
        auto g = MakeExpr(Expr::Kind::kGetAttr);
        if (Peek().kind == TK::kInt) {
          g->kind = Expr::Kind::kGetItem;
          auto idx = MakeExpr(Expr::Kind::kLiteral);
          idx->value = Value(static_cast<int64_t>(std::stoll(Next().text)));
          g->b = std::move(idx);
        } else {
          g->name = ExpectName();
        }
        g->a = std::move(e);
        e = std::move(g);
      } else if (AcceptOp("[")) {
        ExprPtr parts[3];
        int colons = 0;
        while (!IsOp("]")) {
          if (AcceptOp(":")) {
            if (++colons > 2) Fail("bad slice");
            continue;
          }
          parts[colons] = ParseExpression();
        }
        ExpectOp("]");
        if (colons == 0) {
          auto g = MakeExpr(Expr::Kind::kGetItem);
          g->a = std::move(e);
          g->b = std::move(parts[0]);
          if (!g->b) Fail("empty subscript");
          e = std::move(g);
        } else {
          auto s = MakeExpr(Expr::Kind::kSlice);
          s->a = std::move(e);
          s->b = std::move(parts[0]);
          s->c = std::move(parts[1]);
          s->d = std::move(parts[2]);
          e = std::move(s);
        }
      } else if (AcceptOp("(")) {
        auto call = MakeExpr(Expr::Kind::kCall);
        call->a = std::move(e);
        ParseCallArgs(*call);
        e = std::move(call);
      } else {
        return e;
      }
    }
  }

  // Filters ("| name(args)") and tests ("is [not] name args") after a value.
  ExprPtr ParseFilterTail(ExprPtr e) {
    while (true) {
      if (AcceptOp("|")) {
        auto f = MakeExpr(Expr::Kind::kFilter);
        f->name = ExpectName();
        while (AcceptOp(".")) f->name += "." + ExpectName();
        f->a = std::move(e);
        if (AcceptOp("(")) ParseCallArgs(*f);
        e = std::move(f);
      } else if (IsName("is")) {
        ++pos_;
        auto t = MakeExpr(Expr::Kind::kTest);
        t->negated = AcceptName("not");
        t->name = ExpectName();
        t->a = std::move(e);
        if (AcceptOp("(")) {
          ParseCallArgs(*t);
        } else if ((Peek().kind == TK::kName || Peek().kind == TK::kString ||
                    Peek().kind == TK::kInt || Peek().kind == TK::kFloat || IsOp("[") ||
                    IsOp("{")) &&
                   !IsName("else") && !IsName("or") && !IsName("and") && !IsName("if") &&
                   !IsName("in") && !IsName("not") && !IsName("is")) {
          t->args.push_back(ParsePostfix(ParsePrimary()));
        }
        e = std::move(t);
      } else {
        return e;
      }
    }
  }

  ExprPtr ParsePrimary() {
    const Token& t = Peek();
    auto lit = [&](Value v) {
      auto e = MakeExpr(Expr::Kind::kLiteral);
      e->value = std::move(v);
      return e;
    };
    switch (t.kind) {
      case TK::kString: {
        std::string s = Next().text;
        while (Peek().kind == TK::kString) s += Next().text;  // adjacent literals concatenate
        return lit(Value(std::move(s)));
      }
      case TK::kInt:
        return lit(Value(static_cast<int64_t>(std::stoll(Next().text))));
      case TK::kFloat:
        return lit(Value(std::stod(Next().text)));
      case TK::kName: {
        const std::string name = Next().text;
        if (name == "true" || name == "True") return lit(Value(true));
        if (name == "false" || name == "False") return lit(Value(false));
        if (name == "none" || name == "None") return lit(Value::None());
        auto e = MakeExpr(Expr::Kind::kName);
        e->name = name;
        return e;
      }
      case TK::kOp:
        if (AcceptOp("(")) {
          if (AcceptOp(")")) return MakeExpr(Expr::Kind::kTuple);
          ExprPtr first = ParseExpression();
          if (AcceptOp(")")) return first;
          auto tuple = MakeExpr(Expr::Kind::kTuple);
          tuple->args.push_back(std::move(first));
          while (AcceptOp(",")) {
            if (IsOp(")")) break;
            tuple->args.push_back(ParseExpression());
          }
          ExpectOp(")");
          return tuple;
        }
        if (AcceptOp("[")) {
          auto list = MakeExpr(Expr::Kind::kList);
          while (!AcceptOp("]")) {
            list->args.push_back(ParseExpression());
            if (!IsOp("]")) ExpectOp(",");
          }
          return list;
        }
        if (AcceptOp("{")) {
          auto dict = MakeExpr(Expr::Kind::kDict);
          while (!AcceptOp("}")) {
            dict->args.push_back(ParseExpression());
            ExpectOp(":");
            dict->args.push_back(ParseExpression());
            if (!IsOp("}")) ExpectOp(",");
          }
          return dict;
        }
        break;
      default:
        break;
    }
    Fail("unexpected '" + t.text + "' in expression");
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
};

}  // namespace

std::unique_ptr<Template> Parse(const std::string& source) {
  return Parser(Lex(source)).ParseTemplate();
}

}  // namespace tg::chat::jinja
