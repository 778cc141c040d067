// Renders a parsed template: scopes (for-loops and macros get their own), loop variables,
// break/continue, macros with defaults and caller(), namespace assignment.
#pragma once

#include <string>

#include "router/chat/jinja_ast.h"
#include "router/chat/jinja_value.h"

namespace tg::chat::jinja {

// Renders `tmpl` with `variables` (a dict Value) on top of `globals`. Throws ChatTemplateError
// when the template raises and tg::Error for other failures (type errors, unknown filters).
std::string Render(const Template& tmpl, const Value& globals, const Value& variables);

}  // namespace tg::chat::jinja
