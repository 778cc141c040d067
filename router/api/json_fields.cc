#include "router/api/json_fields.h"

namespace tg::api {

using nlohmann::json;

json ParseJsonBody(const std::string& body) {
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) Invalid("Failed to parse the request body as JSON");
  if (!parsed.is_object()) Invalid("The request body must be a JSON object");
  return parsed;
}

void RejectUnknownKeys(const json& object, const std::vector<std::string>& known,
                       const std::string& where) {
  std::string unknown;
  for (const auto& [key, value] : object.items()) {
    bool found = false;
    for (const std::string& k : known) found = found || k == key;
    if (!found) unknown += (unknown.empty() ? "`" : ", `") + key + "`";
  }
  if (!unknown.empty()) Invalid("unknown field(s) in " + where + ": " + unknown);
}

}  // namespace tg::api
