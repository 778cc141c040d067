// Small helpers shared by the request parsers (TGI, OpenAI, batch lines, /tokenize): the body as a
// JSON object, a field that is present and not null, typed values and unknown keys with a clear
// 422 message, and the one way they fail.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/error.h"

namespace tg::api {

[[noreturn]] inline void Invalid(const std::string& message) {
  throw Error(ErrorKind::kInvalidArgument, message);
}

// A present, non-null value of a key (clients such as text-generation send explicit nulls).
inline const nlohmann::json* Field(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

inline double Number(const nlohmann::json& value, const char* key) {
  if (!value.is_number()) Invalid(std::string("`") + key + "` must be a number");
  return value.get<double>();
}

// Parses a request body as JSON; malformed JSON throws kInvalidArgument (422).
nlohmann::json ParseJsonBody(const std::string& body);

// Throws kInvalidArgument naming every key of `object` not in `known`.
void RejectUnknownKeys(const nlohmann::json& object, const std::vector<std::string>& known,
                       const std::string& where);

}  // namespace tg::api
