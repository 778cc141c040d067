// The KV cache dtype (--kv-cache-dtype, named as in vLLM): "auto" keeps the backend's default,
// otherwise one float dtype. Which dtypes each backend can keep its cache in is decided here
// only, so a bad choice fails at startup with the flag's name instead of at the first forward.
#pragma once

#include <optional>
#include <string>

#include "shard/backend/backend.h"

namespace tg::backend {

// The values --kv-cache-dtype accepts, for --help and error messages.
inline constexpr const char* kKvCacheDTypeNames = "auto, bfloat16, float16 or float32";

// "auto" -> nullopt (the backend's default); "bfloat16"/"float16"/"float32" -> that dtype.
// Throws tg::Error(kInvalidArgument) naming --kv-cache-dtype for anything else.
std::optional<DType> ParseKvCacheDType(const std::string& name);

// The dtype a backend on `device` keeps its KV cache in for the requested one (nullopt: auto).
// CPU: float32 only (its attention reads float32 rows). CUDA: bfloat16 by default, or float32
// (the attention kernels are built for those two; float16 has no prefill path). Throws
// tg::Error(kInvalidArgument) naming --kv-cache-dtype and the supported values otherwise.
DType ResolveKvCacheDType(DeviceKind device, std::optional<DType> requested);

}  // namespace tg::backend
