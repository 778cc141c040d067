#include "shard/models/rope.h"

#include <cmath>
#include <numbers>

#include "common/error.h"

namespace tg::shard {

std::vector<float> RopeInvFreq(const model::ModelConfig& config, int rotary_dim) {
  const model::RopeScaling& scaling = config.rope_scaling;
  std::vector<float> inv_freq(rotary_dim / 2);
  for (int i = 0; i < rotary_dim / 2; ++i) {
    double freq = 1.0 / std::pow(config.rope_theta, 2.0 * i / rotary_dim);
    if (scaling.type == "linear") {
      freq /= scaling.factor;
    } else if (scaling.type == "llama3") {
      const double original = scaling.original_max_position_embeddings;
      const double low_freq_wavelen = original / scaling.low_freq_factor;
      const double high_freq_wavelen = original / scaling.high_freq_factor;
      const double wavelen = 2.0 * std::numbers::pi / freq;
      if (wavelen > low_freq_wavelen) {
        freq /= scaling.factor;
      } else if (wavelen >= high_freq_wavelen) {
        const double smooth = (original / wavelen - scaling.low_freq_factor) /
                              (scaling.high_freq_factor - scaling.low_freq_factor);
        freq = (1.0 - smooth) * freq / scaling.factor + smooth * freq;
      }
    } else if (!scaling.type.empty() && scaling.type != "default") {
      throw Error(ErrorKind::kUnsupported, "rope scaling '" + scaling.type + "' is not supported");
    }
    inv_freq[i] = static_cast<float>(freq);
  }
  return inv_freq;
}

}  // namespace tg::shard
