#include "router/tools/tool_request.h"

#include <cctype>
#include <optional>
#include <string_view>

#include "common/error.h"
#include "router/api/grammar_params.h"
#include "router/api/json_fields.h"

namespace tg::tools {
namespace {

using api::Field;
using api::Invalid;
using nlohmann::json;

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (const char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  }
  return true;
}

void CheckTool(const json& tool, size_t index) {
  const std::string where = "`tools[" + std::to_string(index) + "]`";
  if (!tool.is_object()) Invalid(where + " must be an object");
  const json* type = Field(tool, "type");
  if (!type || *type != "function") Invalid(where + ".type must be \"function\"");
  const json* function = Field(tool, "function");
  if (!function || !function->is_object()) Invalid(where + ".function must be an object");
  const json* name = Field(*function, "name");
  if (!name || !name->is_string() || !ValidName(name->get<std::string>())) {
    Invalid(where + ".function.name must be 1 to 64 letters, digits, '_' or '-'");
  }
  if (const json* d = Field(*function, "description"); d && !d->is_string()) {
    Invalid(where + ".function.description must be a string");
  }
  if (const json* p = Field(*function, "parameters"); p && !p->is_object()) {
    Invalid(where + ".function.parameters must be a JSON Schema object");
  }
}

const std::string& NameOf(const json& tool) {
  return tool["function"]["name"].get_ref<const std::string&>();
}

// Written by hand so that "name" comes before "arguments" (json objects sort their keys), as the
// tool prompt shows it.
std::string CallSchema(const std::string& name, const json& parameters) {
  return R"({"type":"object","properties":{"name":{"const":)" + json(name).dump() +
         R"(},"arguments":)" + parameters.dump() +
         R"(},"required":["name","arguments"],"additionalProperties":false})";
}

json ParametersOf(const json& tool) {
  const json* p = Field(tool["function"], "parameters");
  return p ? *p : json{{"type", "object"}};
}

// A no_tool answer cut short (max_tokens) is not JSON yet; the text of its content so far is
// still the answer. Null unless `text` is such an answer.
std::optional<std::string> CutNoToolContent(const std::string& text) {
  const size_t start = text.find_first_not_of(" \n\t\r");
  const std::string head = R"({"name": ")" + std::string(kNoToolName) + '"';
  if (start == std::string::npos || text.compare(start, head.size(), head) != 0)
    return std::nullopt;
  constexpr std::string_view kContent = R"("content": ")";
  const size_t at = text.find(kContent, start + head.size());
  if (at == std::string::npos) return std::string();
  // Close the string literal; a trailing partial escape is dropped.
  std::string literal = "\"" + text.substr(at + kContent.size());
  for (int trim = 0; trim < 6 && literal.size() > 1; ++trim) {
    const json parsed = json::parse(literal + "\"", nullptr, false);
    if (parsed.is_string()) return parsed.get<std::string>();
    literal.pop_back();
  }
  return std::nullopt;
}

}  // namespace

ToolRequest ParseToolRequest(const json& body) {
  ToolRequest out;
  if (const json* tools = Field(body, "tools")) {
    if (!tools->is_array()) Invalid("`tools` must be a list");
    for (size_t i = 0; i < tools->size(); ++i) CheckTool((*tools)[i], i);
    out.tools = *tools;
  }
  const bool have_tools = out.tools.is_array() && !out.tools.empty();
  if (const json* choice = Field(body, "tool_choice")) {
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
      const json* function = Field(*choice, "function");
      const json* name = function && function->is_object() ? Field(*function, "name") : nullptr;
      if (!name || !name->is_string()) {
        Invalid("`tool_choice` must be {\"type\": \"function\", \"function\": {\"name\": ...}}");
      }
      out.choice = ToolChoice::kFunction;
      out.function = name->get<std::string>();
      bool found = false;
      for (const json& tool : out.tools) found = found || NameOf(tool) == out.function;
      if (!found) Invalid("`tool_choice` names \"" + out.function + "\", which is not in `tools`");
    } else {
      Invalid("`tool_choice` must be a string or an object");
    }
  }
  if (out.forced() && !have_tools) Invalid("`tool_choice` needs a non-empty `tools` list");
  if (const json* p = Field(body, "parallel_tool_calls"); p && !p->is_boolean()) {
    Invalid("`parallel_tool_calls` must be a boolean");
  }
  return out;
}

api::GrammarRequest CallGrammar(const ToolRequest& tools, bool allow_no_tool) {
  std::vector<std::string> alternatives;
  for (const json& tool : tools.tools) {
    const std::string& name = NameOf(tool);
    if (tools.choice == ToolChoice::kFunction && name != tools.function) continue;
    if (allow_no_tool && name == kNoToolName) {
      Invalid(std::string("`tools` may not name a function \"") + kNoToolName +
              "\" on this model: that name answers without a call");
    }
    alternatives.push_back(CallSchema(name, ParametersOf(tool)));
  }
  if (allow_no_tool) {
    alternatives.push_back(
        CallSchema(kNoToolName, {{"type", "object"},
                                 {"properties", {{"content", {{"type", "string"}}}}},
                                 {"required", {"content"}},
                                 {"additionalProperties", false}}));
  }
  std::string schema = alternatives.size() == 1 ? alternatives[0] : R"({"anyOf":[)";
  if (alternatives.size() > 1) {
    for (size_t i = 0; i < alternatives.size(); ++i) schema += (i ? "," : "") + alternatives[i];
    schema += "]}";
  }
  api::GrammarRequest grammar{api::GrammarType::kJsonSchema, std::move(schema)};
  try {
    api::PrepareGrammar(grammar);
  } catch (const Error& e) {
    Invalid("a function's `parameters` cannot be used: " + e.message());
  }
  return grammar;
}

void ResolveNoTool(ParsedPiece& piece) {
  if (piece.calls.empty()) {
    if (std::optional<std::string> content = CutNoToolContent(piece.content)) {
      piece.content = std::move(*content);
    }
    return;
  }
  std::vector<ToolCall> calls;
  for (ToolCall& call : piece.calls) {
    if (call.name != kNoToolName) {
      calls.push_back(std::move(call));
      continue;
    }
    const json args = json::parse(call.arguments, nullptr, false);
    if (const json* content = args.is_object() ? Field(args, "content") : nullptr;
        content && content->is_string()) {
      piece.content += content->get<std::string>();
    }
  }
  piece.calls = std::move(calls);
}

}  // namespace tg::tools
