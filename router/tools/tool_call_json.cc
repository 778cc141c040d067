#include "router/tools/tool_call_json.h"

#include <nlohmann/json.hpp>

namespace tg::tools {
namespace {

using nlohmann::json;

std::optional<ToolCall> CallFromJson(const json& call) {
  if (!call.is_object()) return std::nullopt;
  auto name = call.find("name");
  if (name == call.end() || !name->is_string() || name->get<std::string>().empty()) {
    return std::nullopt;
  }
  auto args = call.find("arguments");
  if (args == call.end()) args = call.find("parameters");
  json arguments = json::object();
  if (args != call.end()) {
    arguments = *args;
    if (arguments.is_string()) arguments = json::parse(args->get<std::string>(), nullptr, false);
    if (!arguments.is_object()) return std::nullopt;
  }
  return ToolCall{.name = name->get<std::string>(), .arguments = arguments.dump()};
}

}  // namespace

std::optional<std::vector<ToolCall>> ToolCallsFromJson(std::string_view text) {
  const json parsed = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return std::nullopt;
  std::vector<ToolCall> calls;
  if (parsed.is_array()) {
    if (parsed.empty()) return std::nullopt;
    for (const json& item : parsed) {
      std::optional<ToolCall> call = CallFromJson(item);
      if (!call) return std::nullopt;
      calls.push_back(std::move(*call));
    }
    return calls;
  }
  std::optional<ToolCall> call = CallFromJson(parsed);
  if (!call) return std::nullopt;
  calls.push_back(std::move(*call));
  return calls;
}

}  // namespace tg::tools
