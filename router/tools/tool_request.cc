#include "router/tools/tool_request.h"

#include <cctype>
#include <string>
#include <vector>

#include "common/error.h"
#include "router/api/grammar_params.h"
#include "router/api/json_fields.h"

namespace tg::tools {
namespace {

using api::Field;
using api::Invalid;
using api::Json;

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (const char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  }
  return true;
}

void CheckTool(const Json& tool, size_t index) {
  const std::string where = "`tools[" + std::to_string(index) + "]`";
  if (!tool.is_object()) Invalid(where + " must be an object");
  const Json* type = Field(tool, "type");
  if (!type || *type != "function") Invalid(where + ".type must be \"function\"");
  const Json* function = Field(tool, "function");
  if (!function || !function->is_object()) Invalid(where + ".function must be an object");
  const Json* name = Field(*function, "name");
  if (!name || !name->is_string() || !ValidName(name->get<std::string>())) {
    Invalid(where + ".function.name must be 1 to 64 letters, digits, '_' or '-'");
  }
  if (const Json* d = Field(*function, "description"); d && !d->is_string()) {
    Invalid(where + ".function.description must be a string");
  }
  if (const Json* p = Field(*function, "parameters"); p && !p->is_object()) {
    Invalid(where + ".function.parameters must be a JSON Schema object");
  }
}

const std::string& NameOf(const Json& tool) {
  return tool["function"]["name"].get_ref<const std::string&>();
}

// {"name": <name>, "arguments": <parameters>}, "name" first (Json keeps the order), as
// the tool prompt shows it and so that a stream can show the name before the arguments.
Json CallSchema(const std::string& name, Json parameters) {
  return {{"type", "object"},
          {"properties", {{"name", {{"const", name}}}, {"arguments", std::move(parameters)}}},
          {"required", {"name", "arguments"}},
          {"additionalProperties", false}};
}

// The schema of any one of `schemas`.
Json AnyOf(std::vector<Json> schemas) {
  if (schemas.size() == 1) return std::move(schemas[0]);
  return {{"anyOf", std::move(schemas)}};
}

Json ParametersOf(const Json& tool) {
  const Json* p = Field(tool["function"], "parameters");
  return p ? *p : Json{{"type", "object"}};
}

}  // namespace

ToolRequest ParseToolRequest(const Json& body) {
  ToolRequest out;
  if (const Json* tools = Field(body, "tools")) {
    if (!tools->is_array()) Invalid("`tools` must be a list");
    for (size_t i = 0; i < tools->size(); ++i) CheckTool((*tools)[i], i);
    out.tools = *tools;
  }
  const bool have_tools = out.tools.is_array() && !out.tools.empty();
  if (const Json* choice = Field(body, "tool_choice")) {
    if (choice->is_string()) {
      const std::string c = choice->get<std::string>();
      if (c == "auto") {
        out.choice = ToolChoice::kAuto;
      } else if (c == "none") {
        out.choice = ToolChoice::kNone;
      } else if (c == "required") {
        out.choice = ToolChoice::kRequired;
      } else {
        Invalid(
            "`tool_choice` must be \"auto\", \"none\", \"required\" or a named function, got \"" +
            c + "\"");
      }
    } else if (choice->is_object()) {
      const Json* function = Field(*choice, "function");
      const Json* name = function && function->is_object() ? Field(*function, "name") : nullptr;
      if (!name || !name->is_string()) {
        Invalid("`tool_choice` must be {\"type\": \"function\", \"function\": {\"name\": ...}}");
      }
      out.choice = ToolChoice::kFunction;
      out.function = name->get<std::string>();
      bool found = false;
      for (const Json& tool : out.tools) found = found || NameOf(tool) == out.function;
      if (!found) Invalid("`tool_choice` names \"" + out.function + "\", which is not in `tools`");
    } else {
      Invalid("`tool_choice` must be a string or an object");
    }
  }
  if (out.forced() && !have_tools) Invalid("`tool_choice` needs a non-empty `tools` list");
  if (const Json* p = Field(body, "parallel_tool_calls")) {
    if (!p->is_boolean()) Invalid("`parallel_tool_calls` must be a boolean");
    out.parallel = p->get<bool>();
  }
  return out;
}

api::GrammarRequest CallGrammar(const ToolRequest& tools, bool allow_no_tool) {
  std::vector<Json> calls;
  for (const Json& tool : tools.tools) {
    const std::string& name = NameOf(tool);
    if (tools.choice == ToolChoice::kFunction && name != tools.function) continue;
    if (allow_no_tool && name == kNoToolName) {
      Invalid(std::string("`tools` may not name a function \"") + kNoToolName +
              "\" on this model: that name answers without a call");
    }
    calls.push_back(CallSchema(name, ParametersOf(tool)));
  }
  // The answers allowed: one call, or a list of them (the tool prompt asks for one), and
  // maybe the no_tool answer.
  std::vector<Json> answers;
  if (tools.one_call()) {
    answers = std::move(calls);
  } else {
    answers.push_back({{"type", "array"}, {"minItems", 1}, {"items", AnyOf(std::move(calls))}});
  }
  if (allow_no_tool) {
    answers.push_back(CallSchema(kNoToolName, {{"type", "object"},
                                               {"properties", {{"content", {{"type", "string"}}}}},
                                               {"required", {"content"}},
                                               {"additionalProperties", false}}));
  }
  Json schema = AnyOf(std::move(answers));
  try {
    return api::JsonSchemaGrammar(std::move(schema));
  } catch (const Error& e) {
    Invalid("a function's `parameters` cannot be used: " + e.message());
  }
}

}  // namespace tg::tools
