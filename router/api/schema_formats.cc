#include "router/api/schema_formats.h"

#include <string>

namespace tg::api {
namespace {

// 0-255 without leading zeros, four times, dot-separated (RFC 3986's dec-octet).
constexpr const char* kIpv4Pattern =
    R"(^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$)";

}  // namespace

void RewriteEngineFormats(Json& schema) {
  if (schema.is_array()) {
    for (Json& item : schema) RewriteEngineFormats(item);
    return;
  }
  if (!schema.is_object()) return;
  const auto format = schema.find("format");
  if (format != schema.end() && format->is_string() && *format == "ipv4" &&
      !schema.contains("pattern")) {
    schema.erase(format);
    schema["pattern"] = kIpv4Pattern;
  }
  // Any value may hold subschemas (properties, items, anyOf, $defs, ...); literal values
  // (enum, const, default, examples) are data, not schemas, and stay as they are.
  for (auto& [key, value] : schema.items()) {
    if (key == "enum" || key == "const" || key == "default" || key == "examples") continue;
    RewriteEngineFormats(value);
  }
}

}  // namespace tg::api
