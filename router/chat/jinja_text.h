// Python str methods and formatting used by the Jinja builtins (jinja_builtins.cc).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "router/chat/jinja_value.h"

namespace tg::chat::jinja {

bool IsPySpace(const std::string& ch);  // one code point, Python's str.isspace
// str.strip/lstrip/rstrip; `chars` none/undefined means white space.
std::string Strip(const std::string& s, const Value& chars, bool left, bool right);
std::string Lower(const std::string& s);
std::string Upper(const std::string& s);
std::string Capitalize(const std::string& s);
std::string PyTitle(const std::string& s);  // str.title()
std::string Title(const std::string& s);    // Jinja's |title filter
bool IsLower(const std::string& s);
bool IsUpper(const std::string& s);
// str.split(sep, maxsplit); a non-string sep splits on runs of white space.
std::vector<std::string> Split(const std::string& s, const Value& sep, int64_t maxsplit);
std::string Replace(const std::string& s, const std::string& from, const std::string& to,
                    int64_t count);
std::string PyFormat(const std::string& fmt, const CallArgs& args);   // str.format
std::string PercentFormat(const std::string& fmt, const Value& arg);  // fmt % arg

}  // namespace tg::chat::jinja
