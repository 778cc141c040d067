// The constrained-decoding parameters of every API, parsed into one GrammarRequest:
//   TGI      parameters.grammar = {"type": "json" | "regex", "value": schema | regex}
//   OpenAI   response_format = {"type": "text" | "json_object"} or
//            {"type": "json_schema", "json_schema": {"name", "schema", "strict"}}
//   vLLM     guided_json (schema), guided_regex (string), guided_choice (list of strings)
// Each grammar is checked here with xgrammar's converters (no vocabulary needed), so a schema or
// regex that cannot be compiled is a 422 naming the problem, before any shard sees it.
#pragma once

#include "router/api/json_fields.h"
#include "router/api/request.h"

namespace tg::api {

GrammarRequest ParseTgiGrammar(const Json& grammar);
GrammarRequest ParseResponseFormat(const Json& response_format);
// The vLLM extra fields of an OpenAI body; kNone when none is present (at most one may be).
GrammarRequest ParseGuidedFields(const Json& body);
// The vLLM extra field names, for the OpenAI parsers' known-key lists.
inline constexpr const char* kGuidedFieldNames[] = {"guided_json", "guided_regex", "guided_choice"};

// A JSON Schema readied for the shard: the formats the engine gets wrong are rewritten
// (schema_formats.h) and the schema is written out once, in its own key order, then compiled
// once (CheckGrammar).
GrammarRequest JsonSchemaGrammar(Json schema);
// Compiles the grammar once; throws kInvalidArgument with xgrammar's reason when it cannot be
// compiled.
void CheckGrammar(const GrammarRequest& grammar);

// An EBNF grammar whose only sentences are the given strings.
std::string ChoiceGrammar(const std::vector<std::string>& choices);

}  // namespace tg::api
