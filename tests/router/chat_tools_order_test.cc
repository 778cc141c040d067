// Tools reach a chat template in the client's order, keys included: a chat request parsed from
// its text, prepared as the chat route prepares it, rendered by Qwen2.5's own template, which
// prints each tool with `tojson`. transformers renders a Python dict in insertion order, so the
// expected lines are json.dumps of the tools as written.
#include <gtest/gtest.h>

#include <string>

#include "router/api/json_fields.h"
#include "router/api/openai.h"
#include "router/chat/chat_template.h"
#include "router/tools/tool_prompt.h"
#include "tests/tokenizer/test_util.h"

namespace tg::api {
namespace {

TEST(ChatToolsOrderTest, QwenTemplatePrintsToolsAsGiven) {
  const OpenAiRequest r = ParseChatRequest(ParseJsonBody(R"({
    "messages": [{"role": "user", "content": "Who?"}],
    "tools": [
      {"type": "function", "function": {"name": "find_person", "description": "Finds a person.",
        "parameters": {"type": "object",
                       "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                       "required": ["name", "age"]}}},
      {"type": "function", "function": {"name": "add", "parameters": {"type": "object",
        "properties": {"y": {"type": "number"}, "x": {"type": "number"}}}}}]})"));
  const Json messages = tools::PrepareMessages(r.messages, r.tools, /*template_has_tools=*/true);
  const chat::ChatTemplate tmpl(tg::testing::ReadFile(tg::testing::AssetsDir() / "chat-templates" /
                                                      "Qwen-Qwen2.5-7B-Instruct.jinja"));
  chat::ChatRenderOptions options;
  options.add_generation_prompt = true;
  options.tools = r.tools.tools;
  const std::string prompt = tmpl.Render(messages, options);
  const std::string tools =
      "<tools>\n"
      R"({"type": "function", "function": {"name": "find_person", "description": "Finds a )"
      R"(person.", "parameters": {"type": "object", "properties": {"name": {"type": "string"}, )"
      R"("age": {"type": "integer"}}, "required": ["name", "age"]}}})"
      "\n"
      R"({"type": "function", "function": {"name": "add", "parameters": {"type": "object", )"
      R"("properties": {"y": {"type": "number"}, "x": {"type": "number"}}}}})"
      "\n</tools>";
  EXPECT_NE(prompt.find(tools), std::string::npos) << prompt;
  EXPECT_NE(prompt.find("<|im_start|>user\nWho?<|im_end|>\n<|im_start|>assistant\n"),
            std::string::npos)
      << prompt;
}

}  // namespace
}  // namespace tg::api
