#include "shard/backend/kv_cache_dtype.h"

#include "common/error.h"

namespace tg::backend {

std::optional<DType> ParseKvCacheDType(const std::string& name) {
  if (name == "auto") return std::nullopt;
  if (name == "bfloat16") return DType::kBF16;
  if (name == "float16") return DType::kF16;
  if (name == "float32") return DType::kF32;
  throw Error(ErrorKind::kInvalidArgument, std::string("--kv-cache-dtype expects ") +
                                               kKvCacheDTypeNames + ", got '" + name + "'");
}

DType ResolveKvCacheDType(DeviceKind device, std::optional<DType> requested) {
  if (device == DeviceKind::kCpu) {
    if (!requested || *requested == DType::kF32) return DType::kF32;
    throw Error(ErrorKind::kInvalidArgument,
                std::string("--kv-cache-dtype ") + ToString(*requested) +
                    " is not supported on the CPU backend, which keeps its KV cache in float32 "
                    "(use auto or float32)");
  }
  if (!requested) return DType::kBF16;
  if (*requested == DType::kBF16 || *requested == DType::kF32) return *requested;
  throw Error(ErrorKind::kInvalidArgument,
              std::string("--kv-cache-dtype ") + ToString(*requested) +
                  " is not supported on the CUDA backend (use auto, bfloat16 or float32)");
}

}  // namespace tg::backend
