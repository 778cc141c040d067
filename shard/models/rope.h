// Rotary inverse-frequency tables, with the rope scaling variants folded in so the Rotary op
// itself never changes (Backend::Rotary takes the table).
#pragma once

#include <vector>

#include "model_files/model_config.h"

namespace tg::shard {

// inv_freq[i] = 1 / theta^(2i / rotary_dim) for i < rotary_dim / 2, then:
//   "linear": inv_freq / factor
//   "llama3": Llama-3.1's frequency-dependent interpolation (wavelengths above
//             original_max / low_freq_factor divided by factor, below original_max /
//             high_freq_factor kept, smooth blend between)
//   "" / "default": unchanged.
// Other types ("dynamic", "yarn") throw tg::Error(kUnsupported).
std::vector<float> RopeInvFreq(const model::ModelConfig& config, int rotary_dim);

}  // namespace tg::shard
