// Request JSON keeps the client's key order from the body's parse to its consumers: a JSON Schema
// reaches xgrammar with its properties as written (xgrammar generates them in that order, so
// {"name", "age"} must not come out as {"age", "name"}), and so do a tool's parameters, in its
// call grammar and in the tool prompt. Every body is parsed from its text, as the routes do.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "router/api/json_fields.h"
#include "router/api/openai.h"
#include "router/api/tgi_request.h"
#include "router/tools/tool_prompt.h"
#include "router/tools/tool_request.h"
#include "tests/common/invalid_argument.h"

namespace tg::api {
namespace {

using tg::testing::InvalidArgumentMessage;
using Keys = std::vector<std::string>;

// Keys out of alphabetical order at every level, nested object included.
constexpr const char* kSchema = R"({"type": "object",
  "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                 "address": {"type": "object",
                             "properties": {"zip": {"type": "string"}, "city": {"type": "string"}},
                             "required": ["zip", "city"]}},
  "required": ["name", "age", "address"]})";

constexpr const char* kMessages = R"([{"role": "user", "content": "Who?"}])";

Keys KeysOf(const Json& object) {
  Keys keys;
  for (const auto& [key, value] : object.items()) keys.push_back(key);
  return keys;
}

// `schema` as the client wrote kSchema.
void ExpectClientOrder(const Json& schema) {
  EXPECT_EQ(KeysOf(schema), (Keys{"type", "properties", "required"}));
  EXPECT_EQ(KeysOf(schema["properties"]), (Keys{"name", "age", "address"}));
  EXPECT_EQ(KeysOf(schema["properties"]["address"]), (Keys{"type", "properties", "required"}));
  EXPECT_EQ(KeysOf(schema["properties"]["address"]["properties"]), (Keys{"zip", "city"}));
}

// The schema text the shard hands to xgrammar, read back with its order.
Json GrammarSchema(const std::optional<GrammarRequest>& grammar) {
  EXPECT_TRUE(grammar.has_value());
  if (!grammar) return nullptr;
  EXPECT_EQ(grammar->type, GrammarType::kJsonSchema);
  return Json::parse(grammar->value);
}

TEST(RequestKeyOrderTest, OpenAiResponseFormatSchema) {
  const OpenAiRequest r = ParseChatRequest(ParseJsonBody(
      std::string(R"({"messages": )") + kMessages +
      R"(, "response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": )" +
      kSchema + "}}}"));
  ExpectClientOrder(GrammarSchema(r.parameters.grammar));
}

TEST(RequestKeyOrderTest, VllmGuidedJsonSchema) {
  const OpenAiRequest r = ParseChatRequest(ParseJsonBody(
      std::string(R"({"messages": )") + kMessages + R"(, "guided_json": )" + kSchema + "}"));
  ExpectClientOrder(GrammarSchema(r.parameters.grammar));
}

TEST(RequestKeyOrderTest, TgiGrammarSchemaAsObjectAndAsText) {
  const RawTgiRequest object = ParseTgiRequest(ParseJsonBody(
      std::string(R"({"inputs": "Who?", "parameters": {"grammar": {"type": "json", "value": )") +
      kSchema + "}}}"));
  ExpectClientOrder(GrammarSchema(object.parameters.grammar));
  // TGI also takes the schema as a string holding it.
  const RawTgiRequest text = ParseTgiRequest(ParseJsonBody(
      std::string(R"({"inputs": "Who?", "parameters": {"grammar": {"type": "json", "value": )") +
      Json(kSchema).dump() + "}}}"));
  ExpectClientOrder(GrammarSchema(text.parameters.grammar));
}

std::string ToolBody(const std::string& extra) {
  return std::string(R"({"messages": )") + kMessages +
         R"(, "tools": [{"type": "function", "function": {"name": "find_person",
                        "description": "Finds a person.", "parameters": )" +
         kSchema + "}}]" + extra + "}";
}

TEST(RequestKeyOrderTest, ToolParametersInTheCallGrammar) {
  const OpenAiRequest r = ParseChatRequest(
      ParseJsonBody(ToolBody(R"(, "tool_choice": "required", "parallel_tool_calls": false)")));
  const Json call = Json::parse(tools::CallGrammar(r.tools, /*allow_no_tool=*/false).value);
  EXPECT_EQ(KeysOf(call["properties"]), (Keys{"name", "arguments"}));
  ExpectClientOrder(call["properties"]["arguments"]);
}

TEST(RequestKeyOrderTest, ToolParametersInTheToolPrompt) {
  const OpenAiRequest r = ParseChatRequest(ParseJsonBody(ToolBody("")));
  const Json messages = tools::PrepareMessages(r.messages, r.tools, /*template_has_tools=*/false);
  ASSERT_EQ(messages[0]["role"], "system");
  const std::string prompt = messages[0]["content"];
  EXPECT_NE(
      prompt.find(
          R"({"name": "find_person", "description": "Finds a person.", "parameters": )"
          R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},)"
          R"("address":{"type":"object","properties":{"zip":{"type":"string"},)"
          R"("city":{"type":"string"}},"required":["zip","city"]}},)"
          R"("required":["name","age","address"]}})"
          "\n"),
      std::string::npos)
      << prompt;
}

// The order keys are written in is not part of an error message: unknown fields are listed
// sorted, as they were when bodies were parsed into sorted objects.
TEST(RequestKeyOrderTest, UnknownFieldsAreListedSorted) {
  EXPECT_EQ(InvalidArgumentMessage([] {
              ParseChatRequest(ParseJsonBody(std::string(R"({"zeta": 1, "messages": )") +
                                             kMessages + R"(, "alpha": 2})"));
            }),
            "unknown field(s) in the request: `alpha`, `zeta`");
}

}  // namespace
}  // namespace tg::api
