// Reports weight loading per layer ("loading weights: layer 12/30"), at most twice a second and
// always for the last layer, so the launcher can draw a progress bar without flooding the log.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>

#include "common/startup_markers.h"

namespace tg::shard {

class LoadProgress {
 public:
  explicit LoadProgress(uint32_t layers) : layers_(layers) {}
  void Layer(uint32_t done) {
    const auto now = std::chrono::steady_clock::now();
    if (done < layers_ && now - last_ < std::chrono::milliseconds(500)) return;
    last_ = now;
    spdlog::info("{}{}/{}", kWeightsLayerMarker, done, layers_);
  }

 private:
  uint32_t layers_;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace tg::shard
