#include "router/api/json_fields.h"

#include <algorithm>

namespace tg::api {

Json ParseJsonBody(const std::string& body) {
  Json parsed = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) Invalid("Failed to parse the request body as JSON");
  if (!parsed.is_object()) Invalid("The request body must be a JSON object");
  return parsed;
}

void RejectUnknownKeys(const Json& object, const std::vector<std::string>& known,
                       const std::string& where) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : object.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) keys.push_back(key);
  }
  std::sort(keys.begin(), keys.end());
  std::string unknown;
  for (const std::string& key : keys) unknown += (unknown.empty() ? "`" : ", `") + key + "`";
  if (!unknown.empty()) Invalid("unknown field(s) in " + where + ": " + unknown);
}

}  // namespace tg::api
