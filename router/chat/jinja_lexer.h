// Splits a Jinja template into text and tag tokens with the whitespace rules transformers uses
// (trim_blocks, lstrip_blocks, "-"/"+" markers, keep_trailing_newline=False), and tokenizes the
// expressions inside tags.
#pragma once

#include <string>
#include <vector>

namespace tg::chat::jinja {

struct Token {
  enum class Kind {
    kText,
    kVarBegin,
    kVarEnd,
    kBlockBegin,
    kBlockEnd,
    kName,
    kString,
    kInt,
    kFloat,
    kOp,
    kEof,
  };
  Kind kind;
  std::string text;  // text, name, operator, or the unescaped string literal
  int line = 1;
};

// Throws tg::Error(kInvalidArgument) on an unterminated tag or string.
std::vector<Token> Lex(std::string source);

}  // namespace tg::chat::jinja
