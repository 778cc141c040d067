// What a constrained request asks its output to match (proto/generate.proto's Grammar).
#pragma once

#include <string>

namespace tg::shard::grammar {

enum class GrammarKind {
  kNone,        // free generation
  kJsonSchema,  // value: a JSON Schema document
  kJsonObject,  // any JSON value (value unused)
  kRegex,       // value: a regular expression the whole output matches
  kEbnf,        // value: a GBNF grammar whose start rule is `root`
};

struct GrammarSpec {
  GrammarKind kind = GrammarKind::kNone;
  std::string value;
};

}  // namespace tg::shard::grammar
