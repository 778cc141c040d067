#include "router/api/grammar_params.h"

#include <xgrammar/xgrammar.h>

#include <cstdio>
#include <string>

#include "common/error.h"
#include "router/api/json_fields.h"
#include "router/api/schema_formats.h"

namespace tg::api {
namespace {

// A schema arrives as a JSON object, or (TGI, vLLM) as a string holding one: parsed here once.
Json SchemaOf(const Json& schema, const char* key) {
  if (schema.is_object()) return schema;
  if (schema.is_string()) {
    Json parsed = Json::parse(schema.get_ref<const std::string&>(), nullptr, false);
    if (!parsed.is_discarded() && parsed.is_object()) return parsed;
  }
  Invalid(std::string("`") + key + "` must be a JSON Schema object");
}

GrammarRequest Checked(GrammarType type, std::string value) {
  GrammarRequest g{type, std::move(value)};
  CheckGrammar(g);
  return g;
}

}  // namespace

GrammarRequest JsonSchemaGrammar(Json schema) {
  RewriteEngineFormats(schema);
  return Checked(GrammarType::kJsonSchema, schema.dump());
}

void CheckGrammar(const GrammarRequest& g) {
  try {
    switch (g.type) {
      case GrammarType::kJsonSchema:
        (void)xgrammar::Grammar::FromJSONSchema(g.value, /*any_whitespace=*/false);
        break;
      case GrammarType::kRegex:
        (void)xgrammar::Grammar::FromRegex(g.value);
        break;
      case GrammarType::kEbnf:
        (void)xgrammar::Grammar::FromEBNF(g.value, "root");
        break;
      case GrammarType::kJsonObject:
      case GrammarType::kNone:
        break;
    }
  } catch (const std::exception& e) {
    Invalid(std::string("grammar cannot be compiled: ") + e.what());
  }
}

std::string ChoiceGrammar(const std::vector<std::string>& choices) {
  std::string out = "root ::= ";
  for (size_t i = 0; i < choices.size(); ++i) {
    if (i > 0) out += " | ";
    out += '"';
    for (const unsigned char c : choices[i]) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c < 0x20) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "\\x%02x", c);
        out += hex;
      } else {
        out += static_cast<char>(c);
      }
    }
    out += '"';
  }
  return out;
}

GrammarRequest ParseTgiGrammar(const Json& grammar) {
  if (!grammar.is_object()) Invalid("`grammar` must be an object with `type` and `value`");
  RejectUnknownKeys(grammar, {"type", "value"}, "grammar");
  const Json* type = Field(grammar, "type");
  const Json* value = Field(grammar, "value");
  if (!type || !type->is_string() || !value) {
    Invalid("`grammar` must be an object with `type` and `value`");
  }
  const std::string t = type->get<std::string>();
  if (t == "json" || t == "json_schema") {
    return JsonSchemaGrammar(SchemaOf(*value, "grammar.value"));
  }
  if (t == "regex") {
    if (!value->is_string()) Invalid("`grammar.value` must be a string for type regex");
    return Checked(GrammarType::kRegex, value->get<std::string>());
  }
  Invalid("`grammar.type` must be \"json\" or \"regex\", got \"" + t + "\"");
}

GrammarRequest ParseResponseFormat(const Json& rf) {
  if (!rf.is_object()) Invalid("`response_format` must be an object");
  const std::string type = rf.value("type", "");
  if (type == "text") return {};
  if (type == "json_object") return {GrammarType::kJsonObject, ""};
  if (type == "json_schema") {
    const Json* js = Field(rf, "json_schema");
    if (!js || !js->is_object()) Invalid("`response_format.json_schema` must be an object");
    RejectUnknownKeys(*js, {"name", "description", "schema", "strict"},
                      "response_format.json_schema");
    const Json* schema = Field(*js, "schema");
    // OpenAI: a missing schema accepts any JSON object.
    if (!schema) return {GrammarType::kJsonObject, ""};
    if (const Json* strict = Field(*js, "strict"); strict && !strict->is_boolean()) {
      Invalid("`response_format.json_schema.strict` must be a boolean");
    }
    // Output is valid by construction whether or not `strict` is set.
    return JsonSchemaGrammar(SchemaOf(*schema, "response_format.json_schema.schema"));
  }
  Invalid("`response_format.type` must be \"text\", \"json_object\" or \"json_schema\"");
}

GrammarRequest ParseGuidedFields(const Json& body) {
  GrammarRequest out;
  int given = 0;
  if (const Json* v = Field(body, "guided_json")) {
    out = JsonSchemaGrammar(SchemaOf(*v, "guided_json"));
    ++given;
  }
  if (const Json* v = Field(body, "guided_regex")) {
    if (!v->is_string()) Invalid("`guided_regex` must be a string");
    out = Checked(GrammarType::kRegex, v->get<std::string>());
    ++given;
  }
  if (const Json* v = Field(body, "guided_choice")) {
    if (!v->is_array() || v->empty())
      Invalid("`guided_choice` must be a non-empty list of strings");
    std::vector<std::string> choices;
    for (const Json& c : *v) {
      if (!c.is_string()) Invalid("`guided_choice` must be a non-empty list of strings");
      choices.push_back(c.get<std::string>());
    }
    out = Checked(GrammarType::kEbnf, ChoiceGrammar(choices));
    ++given;
  }
  if (given > 1)
    Invalid("at most one of `guided_json`, `guided_regex`, `guided_choice` is allowed");
  return out;
}

}  // namespace tg::api
