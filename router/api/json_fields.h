// Small helpers shared by the request parsers (TGI validation, OpenAI routes): a field that is
// present and not null, a number with a clear 422 message, and the one way they fail.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

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

}  // namespace tg::api
