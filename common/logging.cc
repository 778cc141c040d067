#include "common/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>

#include "common/error.h"

namespace tg {
namespace {

// %j: the message, JSON-escaped. spdlog's %v would break the line's JSON on a quote.
class JsonMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string escaped = JsonEscape(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

std::string Prefix(const LogOptions& options) {
  std::string prefix = options.component;
  if (options.rank) prefix += "[" + std::to_string(*options.rank) + "]";
  return prefix;
}

}  // namespace

std::string JsonEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

LogFormat ParseLogFormat(std::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  throw Error(ErrorKind::kInvalidArgument,
              "unknown log format '" + std::string(name) + "' (expected text or json)");
}

void InitLogging(const LogOptions& options) {
  // Logs go to stderr so that stdout stays free for a program's real output.
  auto logger = spdlog::stderr_color_mt(options.component.empty() ? "tg" : options.component);
  auto formatter = std::make_unique<spdlog::pattern_formatter>(
      spdlog::pattern_time_type::utc, std::string("\n"));
  if (options.format == LogFormat::kJson) {
    std::string rank = options.rank ? std::to_string(*options.rank) : "null";
    formatter->add_flag<JsonMessageFlag>('j');
    formatter->set_pattern(R"({"timestamp":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","component":")" +
                           JsonEscape(options.component) + R"(","rank":)" + rank +
                           R"(,"message":"%j"})");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-5!l%$ " + Prefix(options) + " %v");
  }
  logger->set_formatter(std::move(formatter));
  spdlog::level::level_enum level = spdlog::level::from_str(options.level);
  if (level == spdlog::level::off && options.level != "off") {
    throw Error(ErrorKind::kInvalidArgument, "unknown log level '" + options.level + "'");
  }
  logger->set_level(level);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace tg
