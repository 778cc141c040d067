// Log lines that the launcher's start-up progress display recognises in its children's output.
// Written by the shard (weight loading) and the router (warm-up); one home so both sides agree.
#pragma once

#include <string_view>

namespace tg {

// "loading weights: layer 12/30"
inline constexpr std::string_view kWeightsLayerMarker = "loading weights: layer ";
// The router starts and ends warm-up (KV cache sizing on the shards).
inline constexpr std::string_view kWarmupStartMarker = "warming up the shards";
inline constexpr std::string_view kWarmupDoneMarker = "KV cache: ";

}  // namespace tg
