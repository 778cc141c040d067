// Small helpers shared by the request parsers (TGI, OpenAI, batch lines, /tokenize): the body as a
// JSON object, a field that is present and not null, typed values and unknown keys with a clear
// 422 message, and the one way they fail.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/error.h"

namespace tg::api {

// The JSON of a request, from the body's parse onwards. Ordered, because the client's key order
// carries meaning: xgrammar writes an object's properties in schema order, and chat templates
// print tools and their parameters as given (as Python dicts keep them in transformers).
using Json = nlohmann::ordered_json;

[[noreturn]] inline void Invalid(const std::string& message) {
  throw Error(ErrorKind::kInvalidArgument, message);
}

// A present, non-null value of a key (clients such as text-generation send explicit nulls).
inline const Json* Field(const Json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

inline double Number(const Json& value, const char* key) {
  if (!value.is_number()) Invalid(std::string("`") + key + "` must be a number");
  return value.get<double>();
}

// Parses a request body as JSON; malformed JSON throws kInvalidArgument (422).
Json ParseJsonBody(const std::string& body);

// Throws kInvalidArgument naming every key of `object` not in `known` (sorted, so that the
// message does not depend on the order the client wrote them in).
void RejectUnknownKeys(const Json& object, const std::vector<std::string>& known,
                       const std::string& where);

}  // namespace tg::api
