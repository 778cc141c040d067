#include "common/error.h"

#include <string_view>

namespace tg {

const char* ToString(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument:
      return "invalid_argument";
    case ErrorKind::kNotFound:
      return "not_found";
    case ErrorKind::kUnsupported:
      return "unsupported";
    case ErrorKind::kCorruptFile:
      return "corrupt_file";
    case ErrorKind::kResourceExhausted:
      return "resource_exhausted";
    case ErrorKind::kUnavailable:
      return "unavailable";
    case ErrorKind::kNotReady:
      return "not_ready";
    case ErrorKind::kInternal:
      return "internal";
    case ErrorKind::kDeviceLost:
      return "device_lost";
  }
  return "unknown";
}

namespace {
// Keeps the path from the project root on, so messages do not leak build-machine paths. The
// compiler may also have been given paths relative to the build folder (ccache's base_dir
// rewrites them so), which start with "../".
const char* ShortPath(const char* path) {
  constexpr std::string_view kRoot = TG_SOURCE_ROOT;
  if (std::string_view(path).starts_with(kRoot)) return path + kRoot.size();
  while (std::string_view(path).starts_with("../")) path += 3;
  return path;
}
}  // namespace

Error::Error(ErrorKind kind, const std::string& message, std::source_location where)
    : std::runtime_error(message + " [" + ShortPath(where.file_name()) + ":" +
                         std::to_string(where.line()) + "]"),
      kind_(kind),
      message_(message),
      file_(ShortPath(where.file_name())),
      line_(static_cast<int>(where.line())) {}

RequestError::RequestError(uint64_t request_id, ErrorKind kind, const std::string& message,
                           std::source_location where)
    : Error(kind, message, where), request_id_(request_id) {}

}  // namespace tg
