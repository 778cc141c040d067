// The parsed form of a Jinja template: expression and statement trees.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "router/chat/jinja_value.h"

namespace tg::chat::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,  // value
    kName,     // name
    kGetAttr,  // a.name
    kGetItem,  // a[b]
    kSlice,    // a[b:c:d]; absent parts are null
    kCall,     // a(args..., kwargs...)
    kFilter,   // a | name(args...)
    kTest,     // a is [not] name(args...)
    kUnary,    // op a ("-", "+", "not")
    kBinary,   // a op b (arithmetic, comparison, "in", "not in", "~")
    kAnd,
    kOr,
    kCond,  // b if a else c
    kList,
    kTuple,
    kDict,  // args are key, value, key, value...
  };
  Kind kind;
  Value value;
  std::string name;  // name / attribute / filter / test / operator
  bool negated = false;
  ExprPtr a, b, c, d;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  int line = 0;
};

struct Node;
using Body = std::vector<std::unique_ptr<Node>>;

struct Node {
  enum class Kind {
    kText,       // text
    kOutput,     // {{ expr }}
    kIf,         // branches (cond, body) ..., else_body
    kFor,        // targets in expr [if filter] body else else_body
    kSet,        // targets (or target_attr) = expr, or block set with body
    kMacro,      // name(params) body
    kCallBlock,  // {% call macro(args) %}body{% endcall %}: body becomes caller()
    kFilterBlock,
    kBreak,
    kContinue,
    kDo,
    kScope,  // a body rendered as is ({% generation %}, {% with %} without variables)
  };
  Kind kind;
  std::string text;
  ExprPtr expr, filter;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body, else_body;
  std::vector<std::string> targets;                     // loop / set variable names
  std::string target_attr;                              // {% set ns.attr = ... %}: targets[0] is ns
  std::vector<std::pair<std::string, ExprPtr>> params;  // macro parameters with defaults
  int line = 0;
};

struct Template {
  Body body;
};

// Throws tg::Error(kInvalidArgument) with the line on syntax errors.
std::unique_ptr<Template> Parse(const std::string& source);

}  // namespace tg::chat::jinja
