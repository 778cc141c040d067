#include "batch/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/error.h"

namespace tg::batch {

ProgressStyle ParseProgressStyle(const std::string& name) {
  if (name == "auto") return isatty(STDERR_FILENO) ? ProgressStyle::kBar : ProgressStyle::kJson;
  if (name == "bar") return ProgressStyle::kBar;
  if (name == "json") return ProgressStyle::kJson;
  if (name == "none") return ProgressStyle::kNone;
  throw Error(ErrorKind::kInvalidArgument,
              "--progress must be auto, bar, json or none (got '" + name + "')");
}

double ProgressReporter::TokensPerSecond(const ProgressSnapshot& s) {
  return s.elapsed_s > 0 ? static_cast<double>(s.tokens) / s.elapsed_s : 0.0;
}

double ProgressReporter::EtaSeconds(const ProgressSnapshot& s) {
  const uint64_t done_now = s.done - s.resumed;
  if (done_now == 0 || s.elapsed_s <= 0) return -1.0;
  return static_cast<double>(s.total - s.done) * s.elapsed_s / static_cast<double>(done_now);
}

namespace {

std::string Clock(double seconds) {
  if (seconds < 0) return "?";
  const auto total = static_cast<long long>(std::llround(seconds));
  char buf[32];
  if (total >= 3600) {
    std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", total / 3600, total / 60 % 60,
                  total % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%lld:%02lld", total / 60, total % 60);
  }
  return buf;
}

}  // namespace

std::string ProgressReporter::Bar(const ProgressSnapshot& s, int width) {
  const double fraction = s.total ? static_cast<double>(s.done) / static_cast<double>(s.total) : 1;
  const int filled = static_cast<int>(fraction * width);
  std::string bar = "[" + std::string(filled, '#') + std::string(width - filled, '-') + "]";
  char buf[160];
  std::snprintf(buf, sizeof(buf), " %llu/%llu %3.0f%% | %.0f tok/s | ",
                static_cast<unsigned long long>(s.done), static_cast<unsigned long long>(s.total),
                fraction * 100, TokensPerSecond(s));
  std::string out = bar + buf;
  if (s.errors) out += std::to_string(s.errors) + " error(s) | ";
  return out +
         (s.done == s.total ? "done in " + Clock(s.elapsed_s) : "ETA " + Clock(EtaSeconds(s)));
}

void ProgressReporter::Report(const ProgressSnapshot& s, bool final) {
  if (style_ == ProgressStyle::kNone) return;
  const auto now = std::chrono::steady_clock::now();
  const auto interval = std::chrono::milliseconds(style_ == ProgressStyle::kBar ? 200 : 1000);
  if (!final && drawn_ && now - last_ < interval) return;
  last_ = now;
  drawn_ = true;
  if (style_ == ProgressStyle::kBar) {
    // \r and "erase line" redraw in place; the final report ends the line.
    std::fprintf(stderr, "\r\033[K%s%s", Bar(s, 30).c_str(), final ? "\n" : "");
  } else {
    const double eta = EtaSeconds(s);
    nlohmann::json line = {{"progress",
                            {{"done", s.done},
                             {"total", s.total},
                             {"resumed", s.resumed},
                             {"errors", s.errors},
                             {"generated_tokens", s.tokens},
                             {"tokens_per_second", std::round(TokensPerSecond(s) * 10) / 10},
                             {"elapsed_seconds", std::round(s.elapsed_s * 1000) / 1000},
                             {"eta_seconds", eta < 0 ? nlohmann::json(nullptr)
                                                     : nlohmann::json(std::round(eta * 10) / 10)},
                             {"final", final}}}};
    std::fprintf(stderr, "%s\n", line.dump().c_str());
  }
  std::fflush(stderr);
}

}  // namespace tg::batch
