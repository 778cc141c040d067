#include "router/chat/chat_template.h"

#include <ctime>

#include "router/chat/jinja_ast.h"
#include "router/chat/jinja_builtins.h"
#include "router/chat/jinja_interpreter.h"

namespace tg::chat {

ChatTemplate::ChatTemplate(std::string source)
    : source_(std::move(source)), template_(jinja::Parse(source_)) {}
ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::Render(const nlohmann::ordered_json& messages,
                                 const ChatRenderOptions& options) const {
  using jinja::Value;
  const std::time_t now = options.now ? *options.now : std::time(nullptr);
  const Value globals = Value::MakeDict(jinja::MakeGlobals(now));
  // The variables transformers' apply_chat_template passes to the template.
  jinja::Dict vars;
  vars.emplace_back("messages", Value::FromJson(messages));
  vars.emplace_back("tools", Value::FromJson(options.tools));
  vars.emplace_back("documents", Value::None());
  vars.emplace_back("add_generation_prompt", Value(options.add_generation_prompt));
  vars.emplace_back("bos_token", Value(options.bos_token));
  vars.emplace_back("eos_token", Value(options.eos_token));
  const Value variables = Value::MakeDict(std::move(vars));
  for (const auto& [key, value] : options.extra_context.items()) {
    variables.Set(key, Value::FromJson(value));
  }
  return jinja::Render(*template_, globals, variables);
}

}  // namespace tg::chat
