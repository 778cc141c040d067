#include "launcher/startup_progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "common/startup_markers.h"

namespace tg::launcher {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since, Clock::time_point now) {
  return std::chrono::duration<double>(now - since).count();
}

}  // namespace

void StartupProgress::OnLine(const std::string& name, std::string_view line) {
  const auto now = Clock::now();
  if (size_t at = line.find(kWeightsLayerMarker); at != std::string_view::npos) {
    const std::string rest(line.substr(at + kWeightsLayerMarker.size()));
    unsigned done = 0, total = 0;
    if (std::sscanf(rest.c_str(), "%u/%u", &done, &total) == 2 && total > 0) {
      if (layers_.empty()) loading_since_ = now;
      layers_[name] = {done, total};
    }
  } else if (line.find(kWarmupStartMarker) != std::string_view::npos) {
    warming_ = true;
    warming_since_ = now;
  } else if (line.find(kWarmupDoneMarker) != std::string_view::npos) {
    warm_ = true;
  }
  Tick();
}

std::string StartupProgress::Render(Clock::time_point now) const {
  if (warm_) return "";
  if (warming_) {
    char buf[128];
    std::snprintf(buf, sizeof(buf), "[2/2] warming up: measuring the KV cache ... %.1f s",
                  Seconds(warming_since_, now));
    return buf;
  }
  if (layers_.empty()) return "";
  uint64_t done = 0, total = 0;
  for (const auto& [name, progress] : layers_) {
    done += progress.first;
    total += progress.second;
  }
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(kWidth * done / total);
  char buf[160];
  std::snprintf(buf, sizeof(buf), "[1/2] loading weights [%s%s] %llu/%llu layers %.1f s",
                std::string(filled, '#').c_str(), std::string(kWidth - filled, '-').c_str(),
                static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
                Seconds(loading_since_, now));
  return buf;
}

void StartupProgress::Tick() {
  if (!enabled_) return;
  const std::string text = Render(Clock::now());
  if (text.empty()) return Clear();
  std::fprintf(stderr, "\r\033[K%s", text.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void StartupProgress::Clear() {
  if (!drawn_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace tg::launcher
