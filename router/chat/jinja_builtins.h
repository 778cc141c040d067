// Jinja's built-in filters and tests, Python's str/list/dict methods that templates call, and the
// globals transformers provides (range, namespace, dict, raise_exception, strftime_now).
#pragma once

#include <ctime>
#include <optional>
#include <string>

#include "router/chat/jinja_value.h"

namespace tg::chat::jinja {

// `value | name(args)`. Throws tg::Error for an unknown filter or bad arguments.
Value ApplyFilter(const std::string& name, const Value& value, CallArgs& args);
// `value is name(args)`.
bool ApplyTest(const std::string& name, const Value& value, CallArgs& args);
// `value.name` when it is a method of a str, list or dict (a bound function), else nullopt.
std::optional<Value> GetMethod(const Value& value, const std::string& name);
// The global functions, given the time strftime_now reports.
Dict MakeGlobals(std::time_t now);

// Python iteration: list items, dict keys, string characters; undefined is empty.
List Iterate(const Value& value);
// Python indexing of strings by code point.
std::vector<std::string> CodePoints(const std::string& s);

}  // namespace tg::chat::jinja
