// Process-wide logging setup: spdlog with a component/rank prefix, or JSON lines.
//
// Every binary calls InitLogging once in main(); code then logs with spdlog::info(...) etc.
// Text lines look like `2026-11-21T22:00:00.123Z INFO  shard[0] message`; JSON lines are
// `{"timestamp":...,"level":"info","component":"shard","rank":0,"message":"..."}` so a launcher
// (or a log collector) can parse them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tg {

enum class LogFormat { kText, kJson };

struct LogOptions {
  std::string component;          // "launcher", "router", "shard", ...
  std::optional<int> rank;        // shards only
  LogFormat format = LogFormat::kText;
  std::string level = "info";     // trace, debug, info, warn, error, critical, off
};

void InitLogging(const LogOptions& options);

// Escapes a string for inclusion inside a JSON string literal (no surrounding quotes).
std::string JsonEscape(std::string_view text);

// Parses "text"/"json"; throws tg::Error on anything else.
LogFormat ParseLogFormat(std::string_view name);

}  // namespace tg
