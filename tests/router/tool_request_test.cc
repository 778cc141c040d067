// `tools` / `tool_choice` validation, the grammar of a forced call (compiled by xgrammar), the
// no_tool answer, and the messages a template gets with and without a tool format.
#include "router/tools/tool_request.h"

#include <gtest/gtest.h>

#include <functional>

#include "common/error.h"
#include "router/tools/tool_prompt.h"
#include "tests/common/invalid_argument.h"

namespace tg::tools {
namespace {

using tg::testing::InvalidArgumentMessage;

using nlohmann::json;

json WeatherTool() {
  return {{"type", "function"},
          {"function",
           {{"name", "get_weather"},
            {"description", "Current weather of a city"},
            {"parameters",
             {{"type", "object"},
              {"properties",
               {{"city", {{"type", "string"}}},
                {"unit", {{"type", "string"}, {"enum", {"celsius", "fahrenheit"}}}}}},
              {"required", {"city"}}}}}}};
}

json TimeTool() { return {{"type", "function"}, {"function", {{"name", "get_time"}}}}; }

TEST(ToolRequestTest, Choices) {
  const json tools = {WeatherTool(), TimeTool()};
  EXPECT_EQ(ParseToolRequest({{"tools", tools}}).choice, ToolChoice::kAuto);
  EXPECT_TRUE(ParseToolRequest({{"tools", tools}}).active());
  EXPECT_FALSE(ParseToolRequest({{"tools", tools}, {"tool_choice", "none"}}).active());
  EXPECT_TRUE(ParseToolRequest({{"tools", tools}, {"tool_choice", "required"}}).forced());
  const ToolRequest named = ParseToolRequest(
      {{"tools", tools},
       {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_time"}}}}}});
  EXPECT_EQ(named.choice, ToolChoice::kFunction);
  EXPECT_EQ(named.function, "get_time");
  EXPECT_FALSE(ParseToolRequest(json::object()).active());
}

TEST(ToolRequestTest, BadToolsNameTheField) {
  EXPECT_NE(InvalidArgumentMessage([] {
              ParseToolRequest({{"tools", "x"}});
            }).find("`tools`"),
            std::string::npos);
  EXPECT_NE(
      InvalidArgumentMessage([] {
        ParseToolRequest({{"tools", {{{"type", "function"}, {"function", {{"name", "a b"}}}}}}});
      }).find("tools[0]`.function.name"),
      std::string::npos);
  EXPECT_NE(InvalidArgumentMessage([] {
              ParseToolRequest({{"tools", {WeatherTool()}}, {"tool_choice", "sometimes"}});
            }).find("sometimes"),
            std::string::npos);
  EXPECT_NE(InvalidArgumentMessage([] {
              ParseToolRequest(
                  {{"tools", {WeatherTool()}},
                   {"tool_choice", {{"type", "function"}, {"function", {{"name", "nope"}}}}}});
            }).find("\"nope\""),
            std::string::npos);
  EXPECT_NE(InvalidArgumentMessage([] {
              ParseToolRequest({{"tool_choice", "required"}});
            }).find("needs a non-empty `tools`"),
            std::string::npos);
}

TEST(ToolRequestTest, ForcedCallGrammarCompilesAndNamesTheFunctions) {
  const ToolRequest named = ParseToolRequest(
      {{"tools", {WeatherTool(), TimeTool()}},
       {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_weather"}}}}}});
  EXPECT_TRUE(named.one_call());  // a named function is called once
  const api::GrammarRequest g = CallGrammar(named, /*allow_no_tool=*/false);
  EXPECT_EQ(g.type, api::GrammarType::kJsonSchema);
  const json schema = json::parse(g.value);
  EXPECT_EQ(schema["properties"]["name"]["const"], "get_weather");
  EXPECT_EQ(schema["properties"]["arguments"]["required"], json({"city"}));
  // The name comes first, as the tool prompt shows it and so that a stream names the call first.
  EXPECT_LT(g.value.find(R"("name")"), g.value.find(R"("arguments")"));

  const ToolRequest one =
      ParseToolRequest({{"tools", {WeatherTool(), TimeTool()}}, {"parallel_tool_calls", false}});
  const json any = json::parse(CallGrammar(one, /*allow_no_tool=*/true).value);
  ASSERT_EQ(any["anyOf"].size(), 3u);
  EXPECT_EQ(any["anyOf"][1]["properties"]["arguments"], json({{"type", "object"}}));
  EXPECT_EQ(any["anyOf"][2]["properties"]["name"]["const"], kNoToolName);
}

TEST(ToolRequestTest, ParallelCallsAreAListOfOneOrMore) {
  const json tools = {WeatherTool(), TimeTool()};
  EXPECT_TRUE(ParseToolRequest({{"tools", tools}}).parallel);  // OpenAI's default
  EXPECT_FALSE(ParseToolRequest({{"tools", tools}, {"parallel_tool_calls", false}}).parallel);
  EXPECT_NE(InvalidArgumentMessage([&] {
              ParseToolRequest({{"tools", tools}, {"parallel_tool_calls", "yes"}});
            }).find("`parallel_tool_calls` must be a boolean"),
            std::string::npos);

  const ToolRequest required = ParseToolRequest({{"tools", tools}, {"tool_choice", "required"}});
  const json list = json::parse(CallGrammar(required, /*allow_no_tool=*/false).value);
  EXPECT_EQ(list["type"], "array");
  EXPECT_EQ(list["minItems"], 1);
  EXPECT_FALSE(list.contains("maxItems"));
  ASSERT_EQ(list["items"]["anyOf"].size(), 2u);
  EXPECT_EQ(list["items"]["anyOf"][1]["properties"]["name"]["const"], "get_time");

  // auto: a list of calls, or the no_tool answer (one object, never in a list).
  const json autos = json::parse(CallGrammar(ParseToolRequest({{"tools", tools}}), true).value);
  ASSERT_EQ(autos["anyOf"].size(), 2u);
  EXPECT_EQ(autos["anyOf"][0]["type"], "array");
  EXPECT_EQ(autos["anyOf"][1]["properties"]["name"]["const"], kNoToolName);
}

TEST(ToolRequestTest, UncompilableParametersAre422) {
  json tool = WeatherTool();
  tool["function"]["parameters"] = {{"type", "object"},
                                    {"properties", {{"x", {{"$ref", "#/nowhere"}}}}}};
  const ToolRequest t = ParseToolRequest({{"tools", {tool}}, {"tool_choice", "required"}});
  EXPECT_NE(
      InvalidArgumentMessage([&] { CallGrammar(t, false); }).find("`parameters` cannot be used"),
      std::string::npos);
}

json History() {
  return json::array(
      {{{"role", "user"}, {"content", "Weather in Paris?"}},
       {{"role", "assistant"},
        {"content", nullptr},
        {"tool_calls",
         {{{"id", "call_1"},
           {"type", "function"},
           {"function", {{"name", "get_weather"}, {"arguments", "{\"city\": \"Paris\"}"}}}}}}},
       {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "18 C"}}});
}

TEST(ToolPromptTest, TemplateWithToolsGetsArgumentsAsObjects) {
  const ToolRequest t = ParseToolRequest({{"tools", {WeatherTool()}}});
  const json m = PrepareMessages(History(), t, /*template_has_tools=*/true);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[1]["tool_calls"][0]["function"]["arguments"], json({{"city", "Paris"}}));
  EXPECT_EQ(m[1]["content"], "");  // templates concatenate or search it
  EXPECT_EQ(m[2], History()[2]);
}

TEST(ToolPromptTest, TemplateWithoutToolsGetsThePromptAndCallsAsText) {
  const ToolRequest t = ParseToolRequest({{"tools", {WeatherTool()}}});
  const json m = PrepareMessages(History(), t, /*template_has_tools=*/false);
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0]["role"], "system");
  const std::string prompt = m[0]["content"];
  EXPECT_NE(prompt.find(R"({"name": "get_weather", "description": )"), std::string::npos);
  EXPECT_NE(prompt.find(R"("required":["city"])"), std::string::npos);
  EXPECT_NE(prompt.find(kNoToolName), std::string::npos);  // auto may answer without a call
  EXPECT_NE(prompt.find("a JSON list of one or more calls"), std::string::npos);
  EXPECT_EQ(m[2]["content"], R"([{"name": "get_weather", "arguments": {"city":"Paris"}}])");
  EXPECT_FALSE(m[2].contains("tool_calls"));
  EXPECT_EQ(m[3]["role"], "tool");

  const ToolRequest forced =
      ParseToolRequest({{"tools", {WeatherTool()}}, {"tool_choice", "required"}});
  const json f = PrepareMessages(History(), forced, false);
  EXPECT_EQ(f[0]["content"].get<std::string>().find(kNoToolName), std::string::npos);

  // One call per answer: the prompt asks for one object, and earlier calls are written so.
  const ToolRequest one =
      ParseToolRequest({{"tools", {WeatherTool()}}, {"parallel_tool_calls", false}});
  const json o = PrepareMessages(History(), one, false);
  EXPECT_NE(o[0]["content"].get<std::string>().find("answer with one JSON object"),
            std::string::npos);
  EXPECT_EQ(o[2]["content"], R"({"name": "get_weather", "arguments": {"city":"Paris"}})");

  const ToolRequest none = ParseToolRequest({{"tools", {WeatherTool()}}, {"tool_choice", "none"}});
  EXPECT_EQ(PrepareMessages(History(), none, false).size(), 3u);  // no prompt
}

TEST(ToolPromptTest, MalformedHistoryIs422) {
  json bad = History();
  bad[1]["tool_calls"][0]["function"]["arguments"] = "[1]";
  const ToolRequest t = ParseToolRequest({{"tools", {WeatherTool()}}});
  EXPECT_NE(InvalidArgumentMessage([&] { PrepareMessages(bad, t, true); }).find("`arguments`"),
            std::string::npos);
}

}  // namespace
}  // namespace tg::tools
