#include "router/tools/tool_prompt.h"

#include "router/api/json_fields.h"

namespace tg::tools {
namespace {

using api::Field;
using api::Invalid;
using api::Json;

// {"name", "arguments": object} of one `tool_calls` entry of an assistant message.
Json HistoryCall(const Json& call) {
  const Json* function = call.is_object() ? Field(call, "function") : nullptr;
  const Json* name = function && function->is_object() ? Field(*function, "name") : nullptr;
  if (!name || !name->is_string()) {
    Invalid("each assistant `tool_calls` entry needs `function.name`");
  }
  Json arguments = Json::object();
  if (const Json* a = Field(*function, "arguments")) {
    arguments = a->is_string() ? Json::parse(a->get<std::string>(), nullptr, false) : *a;
    if (!arguments.is_object()) {
      Invalid("tool call `arguments` must be a JSON object (or its text)");
    }
  }
  return {{"name", *name}, {"arguments", std::move(arguments)}};
}

// {"name": ..., "arguments": ...} in that order, as the tool prompt asks for calls.
std::string CallText(const Json& call) {
  return R"({"name": )" + call["name"].dump() + R"(, "arguments": )" + call["arguments"].dump() +
         "}";
}

std::string ContentText(const Json& message) {
  const Json* content = Field(message, "content");
  if (!content) return "";
  if (content->is_string()) return content->get<std::string>();
  return content->dump();  // parts lists are the template's business; keep them visible
}

}  // namespace

std::string ToolPrompt(const ToolRequest& tools, bool allow_no_tool) {
  std::string out =
      "You can call functions. Each line below describes one: its name, what it does and the "
      "JSON Schema of its arguments.\n";
  for (const Json& tool : tools.tools) {
    const Json& f = tool["function"];
    if (tools.choice == ToolChoice::kFunction && f["name"] != tools.function) continue;
    const Json* description = Field(f, "description");
    const Json* parameters = Field(f, "parameters");
    out += R"({"name": )" + f["name"].dump() +
           (description ? R"(, "description": )" + description->dump() : "") +
           R"(, "parameters": )" + (parameters ? parameters->dump() : R"({"type":"object"})") +
           "}\n";
  }
  if (tools.one_call()) {
    out +=
        "To call a function, answer with one JSON object and nothing else:\n"
        "{\"name\": \"<function name>\", \"arguments\": {<arguments>}}";
  } else {
    out +=
        "To call functions, answer with a JSON list of one or more calls and nothing else:\n"
        "[{\"name\": \"<function name>\", \"arguments\": {<arguments>}}]";
  }
  if (allow_no_tool) {
    out += std::string("\nTo answer without calling a function, use {\"name\": \"") + kNoToolName +
           "\", \"arguments\": {\"content\": \"<your answer>\"}}.";
  }
  return out;
}

Json PrepareMessages(const Json& messages, const ToolRequest& tools, bool template_has_tools) {
  Json out = Json::array();
  for (const Json& message : messages) {
    Json m = message;
    const Json* calls = Field(message, "tool_calls");
    if (calls && !calls->is_array()) Invalid("`tool_calls` must be a list");
    if (message["role"] == "tool" && !Field(message, "content")) {
      Invalid("a `tool` message needs `content`");
    }
    if (calls) {
      Json history = Json::array();
      for (const Json& call : *calls) history.push_back(HistoryCall(call));
      if (template_has_tools) {
        // The template's own format: function.arguments as an object.
        for (size_t i = 0; i < history.size(); ++i) {
          m["tool_calls"][i]["function"]["arguments"] = history[i]["arguments"];
        }
      } else {
        // Written into the content as the tool prompt asks for calls: one object a line, or
        // one list.
        std::string written;
        for (const Json& call : history) {
          written += (written.empty() ? "" : tools.one_call() ? "\n" : ", ") + CallText(call);
        }
        if (!tools.one_call() && !history.empty()) written = "[" + written + "]";
        const std::string text = ContentText(message);
        m.erase("tool_calls");
        m["content"] = text.empty() ? written : written.empty() ? text : text + "\n" + written;
      }
    }
    // Templates test or concatenate content (Qwen3's `'</think>' in message.content`); an
    // assistant turn that only called tools has none.
    if (!Field(m, "content")) m["content"] = "";
    out.push_back(std::move(m));
  }
  if (!template_has_tools && tools.active()) {
    const std::string prompt = ToolPrompt(tools, /*allow_no_tool=*/!tools.forced());
    if (!out.empty() && out[0]["role"] == "system") {
      const std::string system = ContentText(out[0]);
      out[0]["content"] = system.empty() ? prompt : system + "\n\n" + prompt;
    } else {
      out.insert(out.begin(), Json{{"role", "system"}, {"content", prompt}});
    }
  }
  return out;
}

}  // namespace tg::tools
