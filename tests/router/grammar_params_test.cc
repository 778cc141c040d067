// Grammar parameters of the TGI, OpenAI and vLLM request shapes: what each becomes, and that
// what cannot be compiled is a kInvalidArgument (HTTP 422) naming the problem.
#include <gtest/gtest.h>

#include <functional>
#include <regex>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "router/api/grammar_params.h"
#include "router/api/schema_formats.h"
#include "tests/common/invalid_argument.h"

namespace tg::api {
namespace {

using tg::testing::InvalidArgumentMessage;

using nlohmann::json;

// xgrammar's own ipv4 rule accepts leading zeros ("120.000.000.000"); every ipv4 format, however
// deep, becomes a strict pattern, and the answers it allows are what jsonschema accepts.
TEST(GrammarParamsTest, Ipv4FormatBecomesAStrictPattern) {
  nlohmann::ordered_json schema = nlohmann::ordered_json::parse(R"({"type": "object",
    "properties": {"a": {"type": "string", "format": "ipv4"},
                   "b": {"type": "array", "items": {"anyOf": [{"$ref": "#/$defs/ip"}]}},
                   "c": {"type": "string", "format": "ipv4", "pattern": "^10\\."},
                   "d": {"const": {"format": "ipv4"}}},
    "$defs": {"ip": {"type": "string", "format": "ipv4"}}})");
  RewriteEngineFormats(schema);
  const nlohmann::ordered_json& a = schema["properties"]["a"];
  EXPECT_FALSE(a.contains("format"));
  EXPECT_EQ(schema["$defs"]["ip"]["pattern"], a["pattern"]);
  EXPECT_EQ(schema["properties"]["c"]["format"], "ipv4");           // an explicit pattern is kept
  EXPECT_EQ(schema["properties"]["d"]["const"]["format"], "ipv4");  // data, not a schema
  const std::regex ipv4(a["pattern"].get<std::string>());
  for (const char* ok : {"0.0.0.0", "255.255.255.255", "192.168.1.10", "10.0.0.1"}) {
    EXPECT_TRUE(std::regex_match(ok, ipv4)) << ok;
  }
  for (const char* bad : {"120.000.000.000", "010.1.1.1", "256.1.1.1", "1.1.1", "1.1.1.1.1"}) {
    EXPECT_FALSE(std::regex_match(bad, ipv4)) << bad;
  }
  GrammarRequest g =
      ParseTgiGrammar({{"type", "json"}, {"value", {{"type", "string"}, {"format", "ipv4"}}}});
  EXPECT_EQ(json::parse(g.value)["pattern"], a["pattern"]);
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
  EXPECT_NE(InvalidArgumentMessage([] {
              ParseTgiGrammar({{"type", "regex"}, {"value", "(a"}});
            }).find("grammar cannot be compiled"),
            std::string::npos);
  EXPECT_NE(InvalidArgumentMessage([] {
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
  InvalidArgumentMessage([] {
    ParseResponseFormat({{"type", "json_schema"}, {"json_schema", {{"schema", {{"type", 5}}}}}});
  });
  InvalidArgumentMessage([] { ParseResponseFormat({{"type", "json_schema"}}); });
  InvalidArgumentMessage([] { ParseResponseFormat({{"type", "xml"}}); });
}

TEST(GrammarParamsTest, VllmGuidedFields) {
  EXPECT_EQ(ParseGuidedFields({{"model", "m"}}).type, GrammarType::kNone);
  EXPECT_EQ(ParseGuidedFields({{"guided_regex", "a|b"}}).type, GrammarType::kRegex);
  EXPECT_EQ(ParseGuidedFields({{"guided_json", {{"type", "object"}}}}).type,
            GrammarType::kJsonSchema);
  const GrammarRequest c = ParseGuidedFields({{"guided_choice", {"yes", "no \"way\"\n"}}});
  EXPECT_EQ(c.type, GrammarType::kEbnf);
  EXPECT_EQ(c.value, R"(root ::= "yes" | "no \"way\"\x0a")");
  InvalidArgumentMessage([] {
    ParseGuidedFields({{"guided_regex", "a"}, {"guided_choice", {"a"}}});
  });
  InvalidArgumentMessage([] { ParseGuidedFields({{"guided_choice", json::array()}}); });
}

}  // namespace
}  // namespace tg::api
