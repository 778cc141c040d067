#include "kernels/common.h"

#include <cstdlib>
#include <cstring>

namespace tg::kernels {

const char* ToString(Status status) {
  switch (status) {
    case Status::kOk:
      return "ok";
    case Status::kInvalidArgument:
      return "invalid argument";
    case Status::kUnsupported:
      return "unsupported configuration";
    case Status::kLaunchFailed:
      return "launch failed";
  }
  return "unknown status";
}

const char* ToString(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return "float32";
    case DType::kFloat16:
      return "float16";
    case DType::kBFloat16:
      return "bfloat16";
  }
  return "unknown dtype";
}

size_t DTypeSize(DType dtype) { return dtype == DType::kFloat32 ? 4 : 2; }

bool DependentLaunchEnabled() {
  static const bool enabled = [] {
    const char* value = std::getenv("TG_PDL");
    return value == nullptr || std::strcmp(value, "0") != 0;
  }();
  return enabled;
}

}  // namespace tg::kernels
