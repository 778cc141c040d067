#include "router/chat/jinja_interpreter.h"

#include <cmath>
#include <unordered_map>

#include "common/error.h"
#include "router/chat/jinja_builtins.h"

namespace tg::chat::jinja {
namespace {

struct Scope {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Scope> parent;
};

enum class Flow { kNormal, kBreak, kContinue };

[[noreturn]] void Fail(const std::string& message, int line) {
  throw Error(ErrorKind::kInvalidArgument,
              "chat template error (line " + std::to_string(line) + "): " + message);
}

int64_t ToIndex(const Value& v, int line) {
  if (v.is_int()) return v.as_int();
  if (v.is_bool()) return v.as_bool() ? 1 : 0;
  Fail(std::string("indices must be integers, not ") + v.TypeName(), line);
}

// Python's slice semantics on a sequence of n items.
std::vector<size_t> SliceIndices(int64_t n, const Value& start, const Value& stop,
                                 const Value& step, int line) {
  const int64_t st = step.is_none() || step.is_undefined() ? 1 : ToIndex(step, line);
  if (st == 0) Fail("slice step cannot be zero", line);
  auto clamp = [&](const Value& v, int64_t fallback) {
    if (v.is_none() || v.is_undefined()) return fallback;
    int64_t i = ToIndex(v, line);
    if (i < 0) i += n;
    if (st > 0) return std::clamp<int64_t>(i, 0, n);
    return std::clamp<int64_t>(i, -1, n - 1);
  };
  const int64_t b = clamp(start, st > 0 ? 0 : n - 1);
  const int64_t e = clamp(stop, st > 0 ? n : -1);
  std::vector<size_t> out;
  for (int64_t i = b; st > 0 ? i < e : i > e; i += st) out.push_back(static_cast<size_t>(i));
  return out;
}

class Interpreter {
 public:
  Interpreter(const Value& globals, const Value& variables) {
    root_ = std::make_shared<Scope>();
    for (const auto& [k, v] : globals.as_dict()) root_->vars[k] = v;
    for (const auto& [k, v] : variables.as_dict()) root_->vars[k] = v;
    scope_ = root_;
  }

  std::string Run(const Template& t) {
    std::string out;
    ExecBody(t.body, out);
    return out;
  }

 private:
  Value Lookup(const std::string& name) const {
    for (const Scope* s = scope_.get(); s != nullptr; s = s->parent.get()) {
      auto it = s->vars.find(name);
      if (it != s->vars.end()) return it->second;
    }
    return Value();
  }

  Flow ExecBody(const Body& body, std::string& out) {
    for (const auto& n : body) {
      const Flow f = Exec(*n, out);
      if (f != Flow::kNormal) return f;
    }
    return Flow::kNormal;
  }

  void Assign(const std::vector<std::string>& targets, const Value& value, int line) {
    if (targets.size() == 1) {
      scope_->vars[targets[0]] = value;
      return;
    }
    const List items = Iterate(value);
    if (items.size() != targets.size()) {
      Fail("cannot unpack " + std::to_string(items.size()) + " values into " +
               std::to_string(targets.size()),
           line);
    }
    for (size_t k = 0; k < targets.size(); ++k) scope_->vars[targets[k]] = items[k];
  }

  Flow Exec(const Node& n, std::string& out) {
    switch (n.kind) {
      case Node::Kind::kText:
        out += n.text;
        return Flow::kNormal;
      case Node::Kind::kOutput:
        out += Eval(*n.expr).Str();
        return Flow::kNormal;
      case Node::Kind::kIf:
        for (const auto& [cond, body] : n.branches) {
          if (Eval(*cond).Truthy()) return ExecBody(body, out);
        }
        return ExecBody(n.else_body, out);
      case Node::Kind::kFor:
        return ExecFor(n, out);
      case Node::Kind::kSet: {
        Value v;
        if (n.expr) {
          v = Eval(*n.expr);
        } else {
          std::string captured;
          ExecBody(n.body, captured);
          v = Value(std::move(captured));
        }
        if (!n.target_attr.empty()) {
          const Value ns = Lookup(n.targets[0]);
          if (!ns.is_dict()) Fail("can only assign attributes of a namespace", n.line);
          ns.Set(n.target_attr, std::move(v));
        } else {
          Assign(n.targets, v, n.line);
        }
        return Flow::kNormal;
      }
      case Node::Kind::kMacro:
        scope_->vars[n.text] = MakeMacro(n, nullptr);
        return Flow::kNormal;
      case Node::Kind::kCallBlock: {
        // caller() renders the block body in the scope of the {% call %} site.
        const Node* body_node = &n;
        const std::shared_ptr<Scope> site = scope_;
        const Value caller = Value::MakeFunction([this, body_node, site](CallArgs&) {
          auto saved = scope_;
          scope_ = std::make_shared<Scope>(Scope{{}, site});
          std::string text;
          ExecBody(body_node->body, text);
          scope_ = saved;
          return Value(std::move(text));
        });
        const Expr& call = *n.expr;
        if (call.kind != Expr::Kind::kCall) Fail("call block needs a macro call", n.line);
        const Value callee = Eval(*call.a);
        CallArgs args = EvalArgs(call);
        args.keyword.emplace_back("caller", caller);
        if (!callee.is_function()) Fail("call block target is not callable", n.line);
        out += callee.as_function()(args).Str();
        return Flow::kNormal;
      }
      case Node::Kind::kFilterBlock: {
        std::string text;
        ExecBody(n.body, text);
        CallArgs args = EvalArgs(*n.filter);
        out += ApplyFilter(n.filter->name, Value(std::move(text)), args).Str();
        return Flow::kNormal;
      }
      case Node::Kind::kBreak:
        return Flow::kBreak;
      case Node::Kind::kContinue:
        return Flow::kContinue;
      case Node::Kind::kDo:
        Eval(*n.expr);
        return Flow::kNormal;
      case Node::Kind::kScope:
        return ExecBody(n.body, out);
    }
    return Flow::kNormal;
  }

  Flow ExecFor(const Node& n, std::string& out) {
    const Value iterable = Eval(*n.expr);
    if (iterable.is_none()) Fail("'NoneType' object is not iterable", n.line);
    List items = Iterate(iterable);
    auto saved = scope_;
    scope_ = std::make_shared<Scope>(Scope{{}, saved});
    if (n.filter) {
      List kept;
      for (const auto& item : items) {
        Assign(n.targets, item, n.line);
        if (Eval(*n.filter).Truthy()) kept.push_back(item);
      }
      items = std::move(kept);
    }
    const auto length = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < length; ++i) {
      Assign(n.targets, items[i], n.line);
      Dict loop{
          {"index", Value(i + 1)},
          {"index0", Value(i)},
          {"revindex", Value(length - i)},
          {"revindex0", Value(length - i - 1)},
          {"first", Value(i == 0)},
          {"last", Value(i == length - 1)},
          {"length", Value(length)},
          {"depth", Value(1)},
          {"depth0", Value(0)},
          {"previtem", i > 0 ? items[i - 1] : Value()},
          {"nextitem", i + 1 < length ? items[i + 1] : Value()},
      };
      loop.emplace_back("cycle", Value::MakeFunction([i](CallArgs& args) {
                          if (args.positional.empty()) return Value();
                          return args.positional[static_cast<size_t>(i) % args.positional.size()];
                        }));
      scope_->vars["loop"] = Value::MakeDict(std::move(loop));
      const Flow f = ExecBody(n.body, out);
      if (f == Flow::kBreak) break;
    }
    if (length == 0) ExecBody(n.else_body, out);
    scope_ = saved;
    return Flow::kNormal;
  }

  Value MakeMacro(const Node& n, const Value* /*unused*/) {
    const Node* node = &n;
    return Value::MakeFunction([this, node](CallArgs& args) {
      auto saved = scope_;
      scope_ = std::make_shared<Scope>(Scope{{}, root_});
      size_t next_positional = 0;
      for (const auto& [param, fallback] : node->params) {
        std::optional<Value> v;
        for (const auto& [k, kv] : args.keyword) {
          if (k == param) v = kv;
        }
        if (!v && next_positional < args.positional.size()) v = args.positional[next_positional++];
        if (!v && fallback) v = Eval(*fallback);
        scope_->vars[param] = v ? *v : Value();
      }
      for (const auto& [k, kv] : args.keyword) {
        if (k == "caller") scope_->vars["caller"] = kv;
      }
      List varargs(args.positional.begin() + static_cast<std::ptrdiff_t>(
                                                 std::min(next_positional, args.positional.size())),
                   args.positional.end());
      scope_->vars["varargs"] = Value::MakeList(std::move(varargs));
      std::string text;
      ExecBody(node->body, text);
      scope_ = saved;
      return Value(std::move(text));
    });
  }

  CallArgs EvalArgs(const Expr& call) {
    CallArgs args;
    for (const auto& a : call.args) args.positional.push_back(Eval(*a));
    for (const auto& [k, v] : call.kwargs) args.keyword.emplace_back(k, Eval(*v));
    return args;
  }

  Value GetAttr(const Value& obj, const std::string& name) {
    if (auto m = GetMethod(obj, name)) return *m;
    if (const Value* v = obj.Find(name)) return *v;
    return Value();
  }

  Value GetItem(const Value& obj, const Value& key, int line) {
    if (obj.is_dict()) {
      if (key.is_string()) {
        if (const Value* v = obj.Find(key.as_string())) return *v;
        return Value();
      }
      if (const Value* v = obj.Find(key.Str())) return *v;
      return Value();
    }
    if (obj.is_list() || obj.is_string()) {
      if (key.is_string()) return GetAttr(obj, key.as_string());
      int64_t i = ToIndex(key, line);
      if (obj.is_list()) {
        const auto n = static_cast<int64_t>(obj.as_list().size());
        if (i < 0) i += n;
        if (i < 0 || i >= n) return Value();
        return obj.as_list()[static_cast<size_t>(i)];
      }
      const auto chars = CodePoints(obj.as_string());
      const auto n = static_cast<int64_t>(chars.size());
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value();
      return Value(chars[static_cast<size_t>(i)]);
    }
    if (obj.is_undefined()) Fail("cannot index an undefined value", line);
    return Value();
  }

  Value Eval(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kLiteral:
        return e.value;
      case Expr::Kind::kName:
        return Lookup(e.name);
      case Expr::Kind::kGetAttr:
        return GetAttr(Eval(*e.a), e.name);
      case Expr::Kind::kGetItem:
        return GetItem(Eval(*e.a), Eval(*e.b), e.line);
      case Expr::Kind::kSlice: {
        const Value obj = Eval(*e.a);
        const Value start = e.b ? Eval(*e.b) : Value::None();
        const Value stop = e.c ? Eval(*e.c) : Value::None();
        const Value step = e.d ? Eval(*e.d) : Value::None();
        if (obj.is_list()) {
          List out;
          for (size_t i : SliceIndices(static_cast<int64_t>(obj.as_list().size()), start, stop,
                                       step, e.line)) {
            out.push_back(obj.as_list()[i]);
          }
          return Value::MakeList(std::move(out));
        }
        if (obj.is_string()) {
          const auto chars = CodePoints(obj.as_string());
          std::string out;
          for (size_t i :
               SliceIndices(static_cast<int64_t>(chars.size()), start, stop, step, e.line)) {
            out += chars[i];
          }
          return Value(std::move(out));
        }
        Fail(std::string("cannot slice ") + obj.TypeName(), e.line);
      }
      case Expr::Kind::kCall: {
        const Value callee = Eval(*e.a);
        if (!callee.is_function()) {
          Fail(std::string("'") + callee.TypeName() + "' object is not callable", e.line);
        }
        CallArgs args = EvalArgs(e);
        return callee.as_function()(args);
      }
      case Expr::Kind::kFilter: {
        const Value v = Eval(*e.a);
        CallArgs args = EvalArgs(e);
        return ApplyFilter(e.name, v, args);
      }
      case Expr::Kind::kTest: {
        const Value v = Eval(*e.a);
        CallArgs args = EvalArgs(e);
        return Value(ApplyTest(e.name, v, args) != e.negated);
      }
      case Expr::Kind::kUnary: {
        const Value v = Eval(*e.a);
        if (e.name == "not") return Value(!v.Truthy());
        if (v.is_int()) return Value(e.name == "-" ? -v.as_int() : v.as_int());
        if (v.is_float()) return Value(e.name == "-" ? -v.as_double() : v.as_double());
        Fail("bad operand type for unary " + e.name + ": " + v.TypeName(), e.line);
      }
      case Expr::Kind::kAnd: {
        Value a = Eval(*e.a);
        return a.Truthy() ? Eval(*e.b) : a;
      }
      case Expr::Kind::kOr: {
        Value a = Eval(*e.a);
        return a.Truthy() ? a : Eval(*e.b);
      }
      case Expr::Kind::kCond:
        if (Eval(*e.a).Truthy()) return Eval(*e.b);
        return e.c ? Eval(*e.c) : Value();
      case Expr::Kind::kList:
      case Expr::Kind::kTuple: {
        List items;
        for (const auto& a : e.args) items.push_back(Eval(*a));
        if (e.kind == Expr::Kind::kTuple) return Value::MakeTuple(std::move(items));
        return Value::MakeList(std::move(items));
      }
      case Expr::Kind::kDict: {
        Dict items;
        for (size_t k = 0; k + 1 < e.args.size(); k += 2) {
          const Value key = Eval(*e.args[k]);
          Value v = Eval(*e.args[k + 1]);
          bool replaced = false;
          for (auto& [name, existing] : items) {
            if (name == key.Str()) {
              existing = v;
              replaced = true;
            }
          }
          if (!replaced) items.emplace_back(key.Str(), std::move(v));
        }
        return Value::MakeDict(std::move(items));
      }
      case Expr::Kind::kBinary:
        return EvalBinary(e);
    }
    return Value();
  }

  Value EvalBinary(const Expr& e) {
    const Value a = Eval(*e.a);
    const Value b = Eval(*e.b);
    const std::string& op = e.name;
    if (op == "~") return Value(a.Str() + b.Str());
    if (op == "==") return Value(Equals(a, b));
    if (op == "!=") return Value(!Equals(a, b));
    if (op == "<") return Value(Less(a, b));
    if (op == ">") return Value(Less(b, a));
    if (op == "<=") return Value(!Less(b, a));
    if (op == ">=") return Value(!Less(a, b));
    if (op == "in" || op == "not in") {
      bool found = false;
      if (b.is_string()) {
        if (!a.is_string()) Fail("'in <string>' requires string as left operand", e.line);
        found = b.as_string().find(a.as_string()) != std::string::npos;
      } else if (b.is_list()) {
        for (const auto& item : b.as_list()) found = found || Equals(item, a);
      } else if (b.is_dict()) {
        found = a.is_string() && b.Find(a.as_string()) != nullptr;
      } else if (!b.is_undefined()) {
        Fail(std::string("argument of type '") + b.TypeName() + "' is not iterable", e.line);
      }
      return Value(op == "in" ? found : !found);
    }
    if (a.is_undefined() || b.is_undefined()) {
      Fail("undefined value in '" + op + "' expression", e.line);
    }
    if (op == "+") {
      if (a.is_string() && b.is_string()) return Value(a.as_string() + b.as_string());
      if (a.is_list() && b.is_list()) {
        List items = a.as_list();
        items.insert(items.end(), b.as_list().begin(), b.as_list().end());
        return Value::MakeList(std::move(items));
      }
    }
    if (op == "*" && (a.is_string() || a.is_list()) && b.is_int()) {
      if (a.is_string()) {
        std::string out;
        for (int64_t k = 0; k < b.as_int(); ++k) out += a.as_string();
        return Value(std::move(out));
      }
      List items;
      for (int64_t k = 0; k < b.as_int(); ++k) {
        items.insert(items.end(), a.as_list().begin(), a.as_list().end());
      }
      return Value::MakeList(std::move(items));
    }
    if (op == "%" && a.is_string()) {
      CallArgs args;
      args.positional.push_back(b);
      return ApplyFilter("format", a, args);
    }
    const bool numeric = (a.is_number() || a.is_bool()) && (b.is_number() || b.is_bool());
    if (!numeric) {
      Fail(std::string("unsupported operand type(s) for ") + op + ": '" + a.TypeName() + "' and '" +
               b.TypeName() + "'",
           e.line);
    }
    auto as_int = [](const Value& v) { return v.is_bool() ? int64_t{v.as_bool()} : v.as_int(); };
    auto as_double = [](const Value& v) {
      return v.is_bool() ? (v.as_bool() ? 1.0 : 0.0) : v.as_double();
    };
    const bool ints = !a.is_float() && !b.is_float();
    if (op == "/") {
      if (as_double(b) == 0.0) Fail("division by zero", e.line);
      return Value(as_double(a) / as_double(b));
    }
    if (ints) {
      const int64_t x = as_int(a), y = as_int(b);
      if (op == "+") return Value(x + y);
      if (op == "-") return Value(x - y);
      if (op == "*") return Value(x * y);
      if (op == "**") {
        if (y < 0) return Value(std::pow(static_cast<double>(x), static_cast<double>(y)));
        int64_t r = 1;
        for (int64_t k = 0; k < y; ++k) r *= x;
        return Value(r);
      }
      if (y == 0) Fail("integer division or modulo by zero", e.line);
      int64_t q = x / y, r = x % y;
      if (r != 0 && ((r < 0) != (y < 0))) {  // Python floors
        --q;
        r += y;
      }
      return Value(op == "//" ? q : r);
    }
    const double x = as_double(a), y = as_double(b);
    if (op == "+") return Value(x + y);
    if (op == "-") return Value(x - y);
    if (op == "*") return Value(x * y);
    if (op == "**") return Value(std::pow(x, y));
    if (y == 0.0) Fail("float division by zero", e.line);
    if (op == "//") return Value(std::floor(x / y));
    return Value(x - std::floor(x / y) * y);
  }

  std::shared_ptr<Scope> root_, scope_;
};

}  // namespace

std::string Render(const Template& tmpl, const Value& globals, const Value& variables) {
  return Interpreter(globals, variables).Run(tmpl);
}

}  // namespace tg::chat::jinja
