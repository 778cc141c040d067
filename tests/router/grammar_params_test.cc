// Grammar parameters of the TGI, OpenAI and vLLM request shapes: what each becomes, and that
// what cannot be compiled is a kInvalidArgument (HTTP 422) naming the problem.
#include <gtest/gtest.h>

#include <functional>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "router/api/grammar_params.h"

namespace tg::api {
namespace {

using nlohmann::json;

std::string InvalidMessage(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    return e.message();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(GrammarParamsTest, TgiJsonAndRegex) {
  const json schema = {{"type", "object"}, {"properties", {{"a", {{"type", "integer"}}}}}};
  GrammarRequest g = ParseTgiGrammar({{"type", "json"}, {"value", schema}});
  EXPECT_EQ(g.type, GrammarType::kJsonSchema);
  EXPECT_EQ(json::parse(g.value), schema);
  g = ParseTgiGrammar({{"type", "json"}, {"value", schema.dump()}});  // a string holding one
  EXPECT_EQ(json::parse(g.value), schema);
  g = ParseTgiGrammar({{"type", "regex"}, {"value", "[0-9]+"}});
  EXPECT_EQ(g.type, GrammarType::kRegex);
  EXPECT_EQ(g.value, "[0-9]+");
  EXPECT_NE(InvalidMessage([] {
              ParseTgiGrammar({{"type", "regex"}, {"value", "(a"}});
            }).find("grammar cannot be compiled"),
            std::string::npos);
  EXPECT_NE(InvalidMessage([] {
              ParseTgiGrammar({{"type", "yaml"}, {"value", "x"}});
            }).find("grammar.type"),
            std::string::npos);
}

TEST(GrammarParamsTest, OpenAiResponseFormat) {
  EXPECT_EQ(ParseResponseFormat({{"type", "text"}}).type, GrammarType::kNone);
  EXPECT_EQ(ParseResponseFormat({{"type", "json_object"}}).type, GrammarType::kJsonObject);
  const json schema = {{"type", "object"}, {"properties", {{"n", {{"enum", {"x", "y"}}}}}}};
  const GrammarRequest g =
      ParseResponseFormat({{"type", "json_schema"},
                           {"json_schema", {{"name", "t"}, {"schema", schema}, {"strict", true}}}});
  EXPECT_EQ(g.type, GrammarType::kJsonSchema);
  EXPECT_EQ(json::parse(g.value), schema);
  InvalidMessage([] {
    ParseResponseFormat({{"type", "json_schema"}, {"json_schema", {{"schema", {{"type", 5}}}}}});
  });
  InvalidMessage([] { ParseResponseFormat({{"type", "json_schema"}}); });
  InvalidMessage([] { ParseResponseFormat({{"type", "xml"}}); });
}

TEST(GrammarParamsTest, VllmGuidedFields) {
  EXPECT_EQ(ParseGuidedFields({{"model", "m"}}).type, GrammarType::kNone);
  EXPECT_EQ(ParseGuidedFields({{"guided_regex", "a|b"}}).type, GrammarType::kRegex);
  EXPECT_EQ(ParseGuidedFields({{"guided_json", {{"type", "object"}}}}).type,
            GrammarType::kJsonSchema);
  const GrammarRequest c = ParseGuidedFields({{"guided_choice", {"yes", "no \"way\"\n"}}});
  EXPECT_EQ(c.type, GrammarType::kEbnf);
  EXPECT_EQ(c.value, R"(root ::= "yes" | "no \"way\"\x0a")");
  InvalidMessage([] { ParseGuidedFields({{"guided_regex", "a"}, {"guided_choice", {"a"}}}); });
  InvalidMessage([] { ParseGuidedFields({{"guided_choice", json::array()}}); });
}

}  // namespace
}  // namespace tg::api
